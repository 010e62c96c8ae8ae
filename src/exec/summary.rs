//! Steps in a few words, for progress lines and events.

use crate::plan::Action;

/// The action's tag as in the plan JSON (`update_zone`).
pub fn action_kind(action: &Action) -> &'static str {
    match action {
        Action::EnsureNetwork { .. } => "ensure_network",
        Action::CreateZone { .. } => "create_zone",
        Action::UpdateZone { .. } => "update_zone",
        Action::Scale { .. } => "scale",
        Action::WaitHealthy { .. } => "wait_healthy",
        Action::WriteKeys { .. } => "write_keys",
        Action::WaitRouter { .. } => "wait_router",
        Action::WaitDrain { .. } => "wait_drain",
        Action::WaitStopped { .. } => "wait_stopped",
        Action::Pause { .. } => "pause",
        Action::Analyze { .. } => "analyze",
    }
}

/// What the step does, in words (`update green to 1.4.2 (3 replicas)`).
pub fn summarize(action: &Action) -> String {
    let d = crate::spec::duration::format;
    match action {
        Action::EnsureNetwork { name } => format!("ensure network {name}"),
        Action::CreateZone {
            zone,
            version,
            replicas,
            ..
        } => format!("create {zone} with {version} ({replicas} replicas)"),
        Action::UpdateZone {
            zone,
            version,
            replicas,
            ..
        } => format!("update {zone} to {version} ({replicas} replicas)"),
        Action::Scale { zone, replicas, .. } => format!("scale {zone} to {replicas}"),
        Action::WaitHealthy {
            zone,
            replicas,
            version,
            ..
        } => format!("wait for {replicas} healthy {zone} tasks of {version}"),
        Action::WriteKeys { writes } => {
            let list: Vec<String> = writes
                .iter()
                .map(|w| format!("{}={}", w.key, w.value))
                .collect();
            format!("write {}", list.join(", "))
        }
        Action::WaitRouter { timeout } => format!("wait for the router (up to {})", d(*timeout)),
        Action::WaitDrain { duration } => format!("drain for {}", d(*duration)),
        Action::WaitStopped { zone, replicas, .. } => {
            format!("wait until {zone} runs at most {replicas} tasks")
        }
        Action::Pause {
            duration: Some(duration),
        } => format!("pause for {}", d(*duration)),
        Action::Pause { duration: None } => "pause until promoted".to_string(),
        Action::Analyze {
            zone,
            analysis,
            bake: Some(bake),
            ..
        } => match analysis {
            Some(a) => format!(
                "bake {zone} for {} ({} metric(s))",
                d(*bake),
                a.metrics.len()
            ),
            None => format!("bake {zone} for {}", d(*bake)),
        },
        Action::Analyze {
            zone,
            analysis,
            bake: None,
            ..
        } => {
            let (count, interval, metrics) = analysis
                .as_ref()
                .map_or((0, std::time::Duration::ZERO, 0), |a| {
                    (a.count, a.interval, a.metrics.len())
                });
            format!(
                "analyse {zone}: {metrics} metric(s), {count} measurement(s) every {}",
                d(interval)
            )
        }
    }
}
