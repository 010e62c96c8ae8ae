//! `shipctl status` as text: per service a headline, a table of its zones, the lock and any
//! deploy in progress.

use std::fmt::Write;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use super::{OutputFormat, Printer};
use crate::exec::status::{ServiceStatus, run_state_words};
use crate::ports::ReleaseRecord;

/// Prints the report on stdout: the tables, or one JSON object with `--output json`.
pub fn print_status(project: &str, report: &[ServiceStatus], printer: &Printer) {
    print_status_with_release(project, None, report, printer);
}

/// [`print_status`] with the project's latest release above the services (`release` in JSON:
/// its record, or null when none is recorded).
pub fn print_status_with_release(
    project: &str,
    release: Option<Option<&ReleaseRecord>>,
    report: &[ServiceStatus],
    printer: &Printer,
) {
    let text = match printer.format() {
        OutputFormat::Json => {
            let mut value = serde_json::json!({
                "project": project,
                "settled": report.iter().all(|s| s.settled),
                "services": report,
            });
            if let Some(latest) = release {
                value["release"] = serde_json::to_value(latest).unwrap_or_default();
            }
            format!("{value}\n")
        }
        OutputFormat::Text => match release {
            Some(latest) => format!("{}\n{}", release_line(latest), render_status(report, true)),
            None => render_status(report, true),
        },
    };
    printer.out(&text);
}

/// The latest release in two lines: which, what it did, how it ended and when; then what it
/// changed.
pub fn release_line(latest: Option<&ReleaseRecord>) -> String {
    let Some(r) = latest else {
        return "no release recorded yet\n".to_string();
    };
    let failed = r
        .failure
        .as_ref()
        .and_then(|f| f.service.as_ref())
        .map(|s| format!(" ({s} failed)"))
        .unwrap_or_default();
    format!(
        "latest release {}: {}, {}{failed}, at {}\n  {}\n",
        r.id,
        r.action,
        r.result.word(),
        r.time,
        r.changes_line()
    )
}

/// Redraws the whole screen with the report (`status --watch` on a terminal).
pub fn redraw_status(report: &[ServiceStatus], every_secs: u64, printer: &Printer) {
    let text = render_status(report, true);
    // Clear the screen and move home: a full redraw keeps the view simple and exact.
    let screen = format!("\x1b[2J\x1b[H{text}\n(every {every_secs}s; Ctrl-C to stop)\n");
    printer.out(&screen);
}

/// One more report of `status --watch` without a terminal; text reports are separated by a
/// blank line.
pub fn print_status_change(project: &str, report: &[ServiceStatus], printer: &Printer) {
    print_status(project, report, printer);
    if printer.format() == OutputFormat::Text {
        printer.out("\n");
    }
}

/// The whole report; `with_ages` is false when comparing reports (ages move every second).
pub fn render_status(services: &[ServiceStatus], with_ages: bool) -> String {
    let mut out = String::new();
    for (i, s) in services.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&render_service(s, with_ages));
    }
    out
}

fn render_service(s: &ServiceStatus, with_ages: bool) -> String {
    let mut out = String::new();
    let active = match (&s.active_zone, &s.active_version) {
        (Some(z), Some(v)) => format!("{z} serves {v}"),
        (Some(z), None) => format!("{z} serves (no active-version key)"),
        _ => "no active zone (never deployed?)".to_string(),
    };
    let traffic = s
        .traffic
        .as_deref()
        .map(|t| format!(", traffic {t}"))
        .unwrap_or_default();
    let _ = writeln!(out, "{}: {active}{traffic}", s.service);

    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_header(["zone", "service", "replicas", "image", "version", "age"]);
    for z in &s.zones {
        let marker = if s.active_zone.as_deref() == Some(z.zone.as_str()) {
            " *"
        } else {
            ""
        };
        if !z.exists {
            table.add_row([
                format!("{}{marker}", z.zone),
                "-".into(),
                "not created".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
            continue;
        }
        let age = match (with_ages, z.age_secs) {
            (true, Some(secs)) => compact_age(secs),
            _ => "-".into(),
        };
        table.add_row([
            format!("{}{marker}", z.zone),
            z.service_name.clone(),
            format!("{}/{} healthy", z.healthy, z.desired),
            z.image.clone().unwrap_or_else(|| "-".into()),
            z.version.clone().unwrap_or_else(|| "-".into()),
            age,
        ]);
    }
    let _ = writeln!(out, "{table}");

    if let Some(lock) = &s.lock {
        let note = lock
            .message
            .as_deref()
            .map(|m| format!(": \"{m}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "lock: held by {}@{} (pid {}) since {}{note}",
            lock.owner, lock.host, lock.pid, lock.since
        );
    }
    if let Some(d) = &s.deploy {
        let mut line = format!("deploy: {}", run_state_words(&d.state));
        if let (Some(from), Some(to)) = (&d.from, &d.to) {
            let _ = write!(line, ", {from} -> {to}");
        } else if let Some(to) = &d.to {
            let _ = write!(line, ", -> {to}");
        }
        if let (Some(done), Some(total)) = (d.steps_done, d.total_steps) {
            let _ = write!(line, ", step {done}/{total} done");
        }
        if let Some(next) = &d.next_step {
            let _ = write!(line, "; next: {next}");
        }
        let _ = writeln!(out, "{line}");
        if !d.message.is_empty() && d.state != "split" {
            let _ = writeln!(out, "  {}", d.message);
        }
    }
    if let Some(a) = &s.analysis {
        let version = a.version.as_deref().unwrap_or("?");
        let _ = writeln!(
            out,
            "analysis of {version} ({}, {}): {} measurement(s), the last of each metric:",
            a.result, a.time, a.measurements
        );
        for m in &a.metrics {
            let _ = writeln!(out, "  {} {}: {} ({})", m.zone, m.metric, m.result, m.value);
        }
    }
    if s.settled {
        let _ = writeln!(out, "settled");
    } else {
        let _ = writeln!(out, "not settled: {}", s.problems.join("; "));
    }
    out
}

/// `42s`, `5m`, `3h`, `2d`: the largest unit, as `docker service ls` users expect.
pub fn compact_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_unit() {
        assert_eq!(compact_age(5), "5s");
        assert_eq!(compact_age(125), "2m");
        assert_eq!(compact_age(7300), "2h");
        assert_eq!(compact_age(200_000), "2d");
    }
}
