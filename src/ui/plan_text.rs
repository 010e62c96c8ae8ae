//! A plan as text, like `terraform plan`: per service a header, numbered steps with their
//! reasons, and warnings. No colours, stable output (it is diffed and snapshot-tested).

use std::fmt::Write as _;

use crate::plan::east_west::{answering, names};
use crate::plan::{Action, Plan, ServicePlan, StateSource};
use crate::spec::defaults::IN_PLACE;
use crate::spec::duration::format as fmt_duration;

/// Renders the whole plan.
pub fn render_plan(plan: &Plan) -> String {
    let mut text = String::new();
    write_plan(plan, |piece| text.push_str(piece));
    text
}

/// About how much text [`write_plan`] hands out at a time.
const PIECE_LEN: usize = 64 * 1024;

/// Writes the whole plan to `out`, in pieces in order. A plan of a few services is one piece;
/// a stack's text (800 bytes a service) goes out in pieces of about 64 KB, so that it is never
/// held whole: a megabyte of fresh memory cost more to touch than to write.
pub fn write_plan(plan: &Plan, mut out: impl FnMut(&str)) {
    let mut head = String::new();
    let source = match plan.observed.source {
        StateSource::Cluster => "from the state of the cluster",
        StateSource::Assumed => "from an assumed state (--assume-state)",
        StateSource::Empty => "assuming nothing is deployed",
    };
    let _ = writeln!(head, "Plan for project {}, {source}", plan.project);
    for w in &plan.warnings {
        let _ = writeln!(head, "  ! {w}");
    }
    if plan.services.len() < crate::parallel::MIN_ITEMS_TO_SHARE {
        let mut text = String::with_capacity(
            head.len() + (plan.services.len() * 1024).min(PIECE_LEN + 4 * 1024),
        );
        text.push_str(&head);
        for service in &plan.services {
            text.push('\n');
            render_service(&mut text, plan, service);
            if text.len() >= PIECE_LEN {
                out(&text);
                text.clear();
            }
        }
        text.push_str(&totals(plan));
        out(&text);
        return;
    }
    // A big stack's services are written on all cores, each chunk into its own text, the
    // first after the head. About 800 bytes a service: one allocation a chunk rather than a
    // copy at each doubling.
    let chunks = crate::parallel::map_chunks(&plan.services, |start, chunk| {
        let mut text = String::with_capacity(chunk.len() * 1024 + 1024);
        if start == 0 {
            text.push_str(&head);
        }
        for service in chunk {
            text.push('\n');
            render_service(&mut text, plan, service);
        }
        text
    });
    for text in &chunks {
        out(text);
    }
    out(&totals(plan));
}

/// The lines after the services: what changes, in one release or not.
fn totals(plan: &Plan) -> String {
    let mut out = String::new();
    let changing: Vec<&ServicePlan> = plan.services.iter().filter(|s| !s.up_to_date).collect();
    let steps: usize = changing.iter().map(|s| s.steps.len()).sum();
    let current = plan.services.len() - changing.len();
    let warnings: usize = plan.services.iter().map(|s| s.warnings.len()).sum();
    if changing.len() > 1 {
        let _ = writeln!(
            out,
            "\nOne release: the blue-green services switch together in one atomic key write once \
             every health gate passed; if one fails, none switch."
        );
    }
    let _ = writeln!(
        out,
        "\n{} to change ({steps} {}), {current} up to date, {warnings} {}.",
        count(changing.len(), "service", "services"),
        if steps == 1 { "step" } else { "steps" },
        if warnings == 1 { "warning" } else { "warnings" },
    );
    out
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn render_service(out: &mut String, plan: &Plan, service: &ServicePlan) {
    let at = |zone: &str, version: &str| {
        if zone == IN_PLACE {
            version.to_string()
        } else {
            format!("{zone}@{version}")
        }
    };
    let from = service.from.as_ref().map_or_else(
        || "(nothing deployed)".to_string(),
        |f| at(&f.zone, &f.version),
    );
    if service.up_to_date {
        let _ = writeln!(out, "{}: {}  {from}", service.service, service.strategy);
        let _ = writeln!(out, "  {} is up to date: nothing to do", service.service);
    } else {
        let _ = writeln!(
            out,
            "{}: {}  {from} -> {}",
            service.service,
            service.strategy,
            at(&service.to.zone, &service.to.version)
        );
        if let Some(needs) = plan.needs.get(&service.service) {
            let _ = writeln!(
                out,
                "  starts once {} passed its health gate (depends_on)",
                needs.join(", ")
            );
        }
        let width = service.steps.len().to_string().len();
        for (i, step) in service.steps.iter().enumerate() {
            let mut text = StepText {
                out: &mut *out,
                number: i + 1,
                width,
                lines: 0,
            };
            describe(&step.action, &mut text);
            let _ = writeln!(out, "  {:pad$}  {}", "", step.reason, pad = width + 2);
        }
        render_east_west(out, plan, service);
    }
    if !service.warnings.is_empty() {
        let _ = writeln!(out, "  warnings:");
        for w in &service.warnings {
            let _ = writeln!(out, "    ! {w}");
        }
    }
}

/// Which version answers the service's names inside the stack, before and along the steps.
fn render_east_west(out: &mut String, plan: &Plan, service: &ServicePlan) {
    let phases = answering(plan, service);
    if phases.len() < 2 {
        return;
    }
    let zones = |list: &[(String, String)]| {
        if list.is_empty() {
            return "nothing".to_string();
        }
        list.iter()
            .map(|(zone, version)| {
                if zone == IN_PLACE {
                    version.clone()
                } else {
                    format!("{zone} ({version})")
                }
            })
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let parts: Vec<String> = phases
        .iter()
        .map(|p| match p.after_step {
            0 => zones(&p.zones),
            n => format!("after step {n} {}", zones(&p.zones)),
        })
        .collect();
    let _ = writeln!(
        out,
        "  inside the stack, {} answers: {}",
        names(service).join(", "),
        parts.join("; ")
    );
}

/// The lines of one step, written straight into the plan's text: the first after the step's
/// number, the others under it. (A list of strings per step cost a copy of every line.)
struct StepText<'a> {
    out: &'a mut String,
    number: usize,
    /// Digits of the highest step number, so that the numbers line up.
    width: usize,
    lines: usize,
}

impl StepText<'_> {
    fn line(&mut self, text: std::fmt::Arguments<'_>) {
        let (number, width) = (self.number, self.width);
        let _ = if self.lines == 0 {
            writeln!(self.out, "  {number:>width$}. {text}")
        } else {
            writeln!(self.out, "  {:pad$}    {text}", "", pad = width + 2)
        };
        self.lines += 1;
    }
}

/// A replica count as a step names it; 0 only ever means "one task per node": a global
/// service deployed in place.
struct Replicas(u64);

impl std::fmt::Display for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("one task per node"),
            1 => f.write_str("1 replica"),
            n => write!(f, "{n} replicas"),
        }
    }
}

/// What a step does, in one line (plus one line per key for key writes).
fn describe(action: &Action, text: &mut StepText<'_>) {
    match action {
        Action::EnsureNetwork { name } => text.line(format_args!("ensure network {name}")),
        Action::CreateZone {
            service,
            image,
            replicas: n,
            ..
        } => text.line(format_args!("create {service}: {image}, {}", Replicas(*n))),
        Action::UpdateZone {
            service,
            image,
            replicas: n,
            ..
        } => text.line(format_args!("update {service}: {image}, {}", Replicas(*n))),
        Action::Scale {
            service,
            replicas: n,
            ..
        } => text.line(format_args!("scale {service} to {n}")),
        Action::WaitHealthy {
            service,
            replicas: n,
            version,
            ..
        } => text.line(format_args!(
            "wait until {service} runs {} of {version}, healthy",
            Replicas(*n)
        )),
        Action::WriteKeys { writes } => {
            text.line(format_args!("write keys (atomically)"));
            for w in writes {
                text.line(format_args!("{} = {}", w.key, w.value));
            }
        }
        Action::WaitRouter { timeout } => text.line(format_args!(
            "wait for the router (up to {})",
            fmt_duration(*timeout)
        )),
        Action::WaitDrain { duration } => {
            text.line(format_args!("drain for {}", fmt_duration(*duration)));
        }
        Action::WaitStopped {
            service,
            replicas: n,
            timeout,
            ..
        } => text.line(format_args!(
            "wait until {service} runs at most {n} task(s) (up to {})",
            fmt_duration(*timeout)
        )),
        Action::Pause { duration: Some(d) } => {
            text.line(format_args!("pause {}", fmt_duration(*d)));
        }
        Action::Pause { duration: None } => text.line(format_args!("pause until promoted")),
        Action::Analyze {
            zone,
            analysis,
            bake,
            ..
        } => {
            match (bake, analysis) {
                (Some(b), _) => text.line(format_args!("bake {zone} for {}", fmt_duration(*b))),
                (None, Some(a)) => text.line(format_args!(
                    "analyse {zone}: {} measurement(s) of each metric, every {}",
                    a.count,
                    fmt_duration(a.interval)
                )),
                (None, None) => text.line(format_args!("analyse {zone}")),
            }
            if let Some(a) = analysis {
                if bake.is_some() {
                    text.line(format_args!("every {}", fmt_duration(a.interval)));
                }
                text.line(format_args!(
                    "fails after {} failed or {} inconclusive measurement(s) of one metric",
                    a.failure_limit + 1,
                    a.inconclusive_limit + 1
                ));
                for m in &a.metrics {
                    text.line(format_args!("{}", metric_line(m)));
                }
            }
        }
    }
}

/// One metric of an analysis, as the plan shows it.
fn metric_line(m: &crate::spec::model::Metric) -> String {
    use crate::spec::model::Provider;
    match &m.provider {
        Provider::Router {
            query,
            condition,
            min_requests,
        } => format!(
            "{}: router {query} {} (at least {min_requests} requests)",
            m.name, condition.text
        ),
        Provider::Prometheus {
            address,
            query,
            condition,
        } => format!(
            "{}: prometheus {address} `{query}` {}",
            m.name, condition.text
        ),
        Provider::Http { url, .. } => format!("{}: webhook {url} answers pass", m.name),
    }
}
