//! Renders `shipctl route` events: one line each on stderr, or NDJSON on stdout.

use super::Printer;
use crate::route::{RouteEvent, RouteSink};

/// The sink for the chosen output format.
pub fn sink_for(printer: &Printer) -> Box<dyn RouteSink> {
    Box::new(LineSink {
        printer: printer.clone(),
    })
}

struct LineSink {
    printer: Printer,
}

impl RouteSink for LineSink {
    fn emit(&self, event: &RouteEvent) {
        // A closed log pipe must not stop the router.
        if self.printer.is_json() {
            if let Ok(line) = serde_json::to_string(event) {
                self.printer.out(&format!("{line}\n"));
            }
        } else {
            self.printer.err(&format!("{}\n", render_line(event)));
        }
    }
}

/// One line of text per event.
pub fn render_line(event: &RouteEvent) -> String {
    match event {
        RouteEvent::Rendered {
            file,
            changed,
            services,
        } => {
            let what = if *changed { "installed" } else { "unchanged" };
            format!("route: {what} {file}: {}", services.join("; "))
        }
        RouteEvent::Reloaded {
            command,
            elapsed_ms,
        } => format!("route: reloaded ({command}, {elapsed_ms} ms)"),
        RouteEvent::CheckFailed { command, output } => format!(
            "route: error: check `{command}` refused the new config, keeping the installed one: {output}"
        ),
        RouteEvent::ReloadFailed { command, output } => {
            format!("route: error: reload `{command}` failed, will retry: {output}")
        }
        RouteEvent::TemplateFailed { message } => {
            format!("route: error: {message}; keeping the installed config")
        }
        RouteEvent::Reported { service, key } => {
            format!("route: {service}: reported the served keys in {key}")
        }
        RouteEvent::Registered {
            id,
            keys,
            heartbeat_ms,
        } => format!(
            "route: registered as router `{id}` in {} (heartbeat every {})",
            keys.join(", "),
            crate::spec::duration::format(std::time::Duration::from_millis(*heartbeat_ms))
        ),
        RouteEvent::Deregistered { keys } => {
            format!("route: removed the registration {}", keys.join(", "))
        }
        RouteEvent::StoreFailed { message, retry_ms } => {
            format!(
                "route: error: {message}; keeping the last good config (retrying in {retry_ms} ms)"
            )
        }
        RouteEvent::ClusterFailed { message } => {
            format!("route: error: cannot read the tasks: {message}; using the last known ones")
        }
        RouteEvent::KeysRefused { service, message } => {
            format!("route: refused the keys of {service}: {message}; the last good keys stay")
        }
        RouteEvent::Started { command, pid } => format!("route: started `{command}` (pid {pid})"),
        RouteEvent::Exited { command, status } => format!("route: `{command}` exited: {status}"),
        RouteEvent::RuntimeChanged {
            socket,
            commands,
            elapsed_ms,
            changes,
            reloads,
        } => format!(
            "route: changed through HAProxy's runtime API, no reload ({} commands on {socket}, {elapsed_ms} ms; {changes} runtime changes, {reloads} reloads so far)",
            commands.len()
        ),
        RouteEvent::StatsServed { url, syslog } => {
            format!(
                "route: serving traffic statistics at {url} (router log lines to udp://{syslog})"
            )
        }
        RouteEvent::Warning { message } => format!("route: warning: {message}"),
    }
}
