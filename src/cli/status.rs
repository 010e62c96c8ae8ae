//! `shipctl status [SERVICE...]`: what serves, in which zone, how healthy, who holds the lock,
//! and any deploy in progress. `--wait` is a CI gate; `--watch` a live view.

use std::time::{Duration, Instant, SystemTime};

use super::StatusArgs;
use super::settings::duration_flag;
use crate::error::Error;
use crate::exec::status::{ServiceStatus, service_status};
use crate::kv;
use crate::plan::logical::logical_services;
use crate::session::{self, Inputs, Session, Settings, kv_error};
use crate::spec::Overrides;
use crate::ui::status_text::{
    print_status, print_status_change, print_status_with_release, redraw_status,
};
use crate::ui::{OutputFormat, Printer};

/// How often `--watch` and `--wait` read the cluster again.
const POLL: Duration = Duration::from_secs(1);

pub fn run(settings: &Settings, args: &StatusArgs, printer: &Printer) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    let selected = select(&inputs, &args.services)?;
    let timeout = duration_flag("--timeout", &args.timeout)?;
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        let read = || read_status(&session, &inputs, &selected);
        if args.wait {
            wait(read, &inputs.project, timeout, args.watch, printer).await
        } else if args.watch {
            watch(read, &inputs.project, printer).await
        } else {
            let report = read().await?;
            let key = inputs.spec.releases_key(&inputs.project);
            let releases = kv::read_releases(session.kv.as_ref(), &key)
                .await
                .map_err(kv_error)?;
            print_status_with_release(&inputs.project, Some(releases.first()), &report, printer);
            Ok(())
        }
    })
}

/// The named services (validated), else every replicated one, with the full replica count of
/// each.
fn select(inputs: &Inputs, named: &[String]) -> Result<Vec<(String, u64)>, Error> {
    let zones = &inputs.spec.zones;
    let logical = logical_services(&inputs.compose, zones)?;
    let names: Vec<String> = if named.is_empty() {
        logical.values().map(|l| l.name.clone()).collect()
    } else {
        for name in named {
            if !logical.contains_key(name) {
                let known: Vec<&str> = logical.keys().map(String::as_str).collect();
                return Err(Error::usage(
                    format!("no service `{name}` in the compose file"),
                    format!("services: {}", known.join(", ")),
                ));
            }
        }
        named.to_vec()
    };
    names
        .into_iter()
        .filter_map(|name| logical.get(&name).map(|l| (name, l)))
        .map(|(name, l)| {
            let replicas = l.definition(zones, &zones[0]).deploy.replicas;
            let (_, full) = inputs
                .spec
                .resolve_policy(&name, &Overrides::default(), replicas)?;
            // A global service has no count: one task per node.
            Ok((name, if l.is_global() { 0 } else { full }))
        })
        .collect()
}

async fn read_status(
    session: &Session<'_>,
    inputs: &Inputs,
    selected: &[(String, u64)],
) -> Result<Vec<ServiceStatus>, Error> {
    let names: Vec<String> = selected.iter().map(|(n, _)| n.clone()).collect();
    let observed = session
        .observe(&inputs.project, &inputs.spec, &names)
        .await?;
    let now = SystemTime::now();
    let mut out = Vec::with_capacity(selected.len());
    for (name, full) in selected {
        let keys = inputs.spec.keys(&inputs.project, name);
        let lock = session.kv.lock_holder(&keys.lock).await.map_err(kv_error)?;
        let state = observed.services.get(name).cloned().unwrap_or_default();
        let mut status = service_status(name, &inputs.spec.zones, *full, &state, lock, now);
        // Best effort: a status without the last analysis is still a status.
        if let Ok(history) = crate::kv::read_history(&*session.kv, &keys.history).await {
            status.analysis = crate::exec::status::last_analysis(&history);
        }
        out.push(status);
    }
    Ok(out)
}

/// Compared between polls: a change in anything but the ages.
fn fingerprint(report: &[ServiceStatus]) -> String {
    let mut without_ages = report.to_vec();
    for s in &mut without_ages {
        for z in &mut s.zones {
            z.age_secs = None;
        }
    }
    serde_json::to_string(&without_ages).unwrap_or_default()
}

/// Redraws every second on a terminal; elsewhere prints the report again when it changed.
/// Ctrl-C ends it (exit 0: watching has no outcome to report).
async fn watch<F, Fut>(read: F, project: &str, printer: &Printer) -> Result<(), Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<ServiceStatus>, Error>>,
{
    let redraw = printer.terminal.stdout_tty && printer.format() == OutputFormat::Text;
    let mut last = String::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let report = read().await?;
        if redraw {
            redraw_status(&report, POLL.as_secs(), printer);
        } else {
            let now = fingerprint(&report);
            if now != last {
                print_status_change(project, &report, printer);
                last = now;
            }
        }
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Polls until every service is settled (exit 0) or `timeout` passes (exit 7, saying what
/// is not settled).
async fn wait<F, Fut>(
    read: F,
    project: &str,
    timeout: Duration,
    show_changes: bool,
    printer: &Printer,
) -> Result<(), Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<ServiceStatus>, Error>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let report = read().await?;
        let settled = report.iter().all(|s| s.settled);
        if show_changes && !settled {
            let now = fingerprint(&report);
            if now != last {
                print_status(project, &report, printer);
                last = now;
            }
        }
        if settled {
            print_status(project, &report, printer);
            return Ok(());
        }
        if Instant::now() >= deadline {
            print_status(project, &report, printer);
            let what: Vec<String> = report
                .iter()
                .filter(|s| !s.settled)
                .map(|s| format!("{}: {}", s.service, s.problems.join("; ")))
                .collect();
            return Err(Error::NotSettled {
                message: format!(
                    "not settled after {}: {}",
                    crate::spec::duration::format(timeout),
                    what.join(" | ")
                ),
                help: Some(
                    "`shipctl status` shows each zone; a canary waits for `shipctl promote`, a stale lock for `shipctl unlock`".into(),
                ),
            });
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}
