//! The policy of one service: the spec's settings with the command-line flags applied.

use super::model::{CanaryStep, Overrides, Policy, ServiceKeys, Spec, Strategy};
use crate::error::Error;

impl Strategy {
    /// The name users write (`blue-green`).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::BlueGreen => "blue-green",
            Strategy::Canary => "canary",
            Strategy::Rolling => "rolling",
            Strategy::InPlace => "in-place",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Spec {
    /// The policy of `service` (its own settings over `defaults`) with the flags applied, and
    /// the full replica count of a zone: `--replicas`,
    /// else the spec's `replicas`, else compose's `deploy.replicas`, else 1.
    pub fn resolve_policy(
        &self,
        service: &str,
        overrides: &Overrides,
        compose_replicas: Option<u64>,
    ) -> Result<(Policy, u64), Error> {
        self.apply(service, overrides, compose_replicas, true)
    }

    /// `compose_known`: the compose file was consulted, so a missing `deploy.replicas` really
    /// means 1 replica (and not "not known yet").
    fn apply(
        &self,
        service: &str,
        overrides: &Overrides,
        compose_replicas: Option<u64>,
        compose_known: bool,
    ) -> Result<(Policy, u64), Error> {
        let mut policy = self.services.get(service).unwrap_or(&self.defaults).clone();
        let from_spec = policy.strategy;
        if let Some(s) = overrides.strategy {
            policy.strategy = s;
        }
        let strategy = policy.strategy;
        // Name where the strategy came from so a conflict is easy to resolve.
        let origin = if overrides.strategy.is_some() {
            format!("`--strategy {strategy}` was given")
        } else if self.services.contains_key(service) {
            format!("`{service}` deploys with `{from_spec}` (services.{service}.strategy)")
        } else {
            format!("`{service}` deploys with `{from_spec}` (the default strategy)")
        };
        let conflict = |flag: &str, wants: Strategy| {
            Error::usage(
                format!(
                    "conflicting flags: `{flag}` applies only to the {wants} strategy, but {origin}"
                ),
                format!("add `--strategy {wants}`, or drop `{flag}`"),
            )
        };
        if let Some(r) = overrides.replicas {
            if r == 0 {
                return Err(Error::usage(
                    "`--replicas` must be at least 1",
                    "a deploy needs at least one replica; to stop a service use `docker service scale`",
                ));
            }
            policy.replicas = Some(r);
        }
        if let Some(new) = overrides.new {
            if strategy != Strategy::Canary {
                return Err(conflict("--new", Strategy::Canary));
            }
            if new == 0 {
                return Err(Error::usage(
                    "`--new` must be at least 1",
                    "a canary needs at least one replica of the new version, e.g. `--new 1`",
                ));
            }
            policy.canary.new = new;
        }
        if let Some(old) = overrides.old {
            if strategy != Strategy::Canary {
                return Err(conflict("--old", Strategy::Canary));
            }
            policy.canary.old = Some(old);
        }
        if let Some(step) = overrides.step {
            if strategy != Strategy::Rolling {
                return Err(conflict("--step", Strategy::Rolling));
            }
            if step == 0 {
                return Err(Error::usage(
                    "`--step` must be at least 1",
                    "a rolling deploy moves at least one replica per batch, e.g. `--step 1`",
                ));
            }
            policy.rolling.step = step;
        }
        if let Some(batch) = overrides.task_batch {
            if batch == 0 {
                return Err(Error::usage(
                    "`--task-batch` must be at least 1",
                    "a zone starts at least one task per batch, e.g. `--task-batch 1`",
                ));
            }
            policy.task_batch = Some(batch);
        }
        if overrides.promote {
            if strategy != Strategy::Canary {
                return Err(conflict("--promote", Strategy::Canary));
            }
            policy.promote = true;
        }

        let full = policy.replicas.or(compose_replicas).unwrap_or(1).max(1);
        let known = policy.replicas.is_some() || compose_known;
        let source = if overrides.replicas.is_some() {
            "`--replicas`"
        } else if policy.replicas.is_some() {
            "the spec's `replicas`"
        } else if compose_replicas.is_some() {
            "compose `deploy.replicas`"
        } else {
            "the default: compose sets no `deploy.replicas`"
        };
        if !known {
            return Ok((policy, full));
        }
        let too_many = |flag: &str, value: u64| {
            Error::usage(
                format!(
                    "`{flag} {value}` is more than the {full} replicas of `{service}` (from {source})"
                ),
                format!(
                    "give `{flag}` at most {full}, or raise the replica count with `--replicas`"
                ),
            )
        };
        match strategy {
            // `--new`/`--old` are task counts (the classic `scale old=M new=N`), not shares
            // of the replicas: the planner scales each zone to them.
            Strategy::Canary => {
                let path = if self.services.contains_key(service) {
                    format!("services.{service}.canary")
                } else {
                    "defaults.canary".to_string()
                };
                if overrides.new.is_none() && policy.canary.new > full {
                    return Err(Error::usage(
                        format!(
                            "`{path}.new` ({}) is more than the {full} replicas of `{service}` (from {source})",
                            policy.canary.new
                        ),
                        format!("lower `{path}.new` to at most {full}, or pass `--new`"),
                    ));
                }
                if overrides.old.is_none()
                    && let Some(old) = policy.canary.old
                    && old > full
                {
                    return Err(Error::usage(
                        format!(
                            "`{path}.old` ({old}) is more than the {full} replicas of `{service}` (from {source})"
                        ),
                        format!("lower `{path}.old` to at most {full}, or pass `--old`"),
                    ));
                }
                for (i, step) in policy.canary.steps.iter().enumerate() {
                    if let CanaryStep::Scale { new, old } = step
                        && (*new > full || *old > full)
                    {
                        return Err(Error::usage(
                            format!(
                                "`{path}.steps[{i}]` asks for new {new}, old {old}, more than the {full} replicas of `{service}` (from {source})"
                            ),
                            format!("keep each zone at most at {full} replicas in the steps"),
                        ));
                    }
                }
            }
            Strategy::Rolling => {
                if let Some(step) = overrides.step
                    && step > full
                {
                    return Err(too_many("--step", step));
                }
                // A step from the spec larger than the service is a whole-zone batch.
                policy.rolling.step = policy.rolling.step.min(full);
            }
            Strategy::BlueGreen | Strategy::InPlace => {}
        }
        Ok((policy, full))
    }

    /// The spec's policy of `service` (its own settings over `defaults`), without flags.
    pub fn base_policy(&self, service: &str) -> &Policy {
        self.services.get(service).unwrap_or(&self.defaults)
    }

    /// The Swarm service name of one zone of a logical service.
    pub fn zone_service_name(&self, project: &str, service: &str, zone: &str) -> String {
        let values = [("project", project), ("service", service), ("zone", zone)];
        super::placeholders::fill(&self.service_name, &values)
    }

    /// The KV keys of one logical service.
    /// The Swarm service of a service deployed in place: `{project}_{service}`, as
    /// `docker stack deploy` names it.
    pub fn in_place_service_name(&self, project: &str, service: &str) -> String {
        format!("{project}_{service}")
    }

    pub fn keys(&self, project: &str, service: &str) -> ServiceKeys {
        self.kv.keys.for_service(project, service)
    }

    /// The KV key of `project`'s release records.
    pub fn releases_key(&self, project: &str) -> String {
        self.kv.keys.for_releases(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy before the compose replicas are known.
    fn policy(spec: &Spec, service: &str, overrides: &Overrides) -> Result<Policy, Error> {
        spec.apply(service, overrides, None, false)
            .map(|(policy, _)| policy)
    }

    fn canary_spec() -> Spec {
        let mut spec = Spec::default();
        spec.defaults.strategy = Strategy::Canary;
        spec
    }

    #[test]
    fn flags_win_over_the_spec() {
        let spec = canary_spec();
        let o = Overrides {
            new: Some(2),
            old: Some(1),
            replicas: Some(4),
            promote: true,
            ..Overrides::default()
        };
        let (p, full) = spec.resolve_policy("web", &o, Some(2)).unwrap();
        assert_eq!(
            (p.canary.new, p.canary.old, full, p.promote),
            (2, Some(1), 4, true)
        );
    }

    #[test]
    fn canary_flags_are_task_counts_not_shares() {
        let spec = canary_spec();
        let o = Overrides {
            new: Some(1),
            old: Some(3),
            ..Overrides::default()
        };
        let (p, full) = spec.resolve_policy("web", &o, None).unwrap();
        assert_eq!((p.canary.new, p.canary.old, full), (1, Some(3), 1));
        let o = Overrides {
            new: Some(0),
            old: Some(3),
            ..Overrides::default()
        };
        let err = spec.resolve_policy("web", &o, Some(4)).unwrap_err();
        assert!(
            err.to_string().contains("`--new` must be at least 1"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn flags_of_another_strategy_conflict() {
        let spec = Spec::default();
        let o = Overrides {
            strategy: Some(Strategy::Rolling),
            new: Some(1),
            ..Overrides::default()
        };
        let err = policy(&spec, "web", &o).unwrap_err();
        assert!(err.to_string().contains("conflicting flags"), "{err}");
        assert!(err.to_string().contains("--strategy rolling"), "{err}");
        let o = Overrides {
            step: Some(1),
            ..Overrides::default()
        };
        assert!(policy(&spec, "web", &o).is_err());
        let o = Overrides {
            promote: true,
            ..Overrides::default()
        };
        assert!(policy(&spec, "web", &o).is_err());
    }

    #[test]
    fn task_batch_flag_wins_over_the_spec_and_is_at_least_one() {
        let mut spec = Spec::default();
        spec.defaults.task_batch = Some(3);
        let p = policy(&spec, "web", &Overrides::default()).unwrap();
        assert_eq!(p.task_batch, Some(3));
        let o = Overrides {
            task_batch: Some(1),
            ..Overrides::default()
        };
        let p = policy(&spec, "web", &o).unwrap();
        assert_eq!(p.task_batch, Some(1));
        let o = Overrides {
            task_batch: Some(0),
            ..Overrides::default()
        };
        let err = policy(&spec, "web", &o).unwrap_err();
        assert!(err.to_string().contains("`--task-batch`"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn zero_step_and_replicas_are_refused() {
        let spec = Spec::default();
        let o = Overrides {
            strategy: Some(Strategy::Rolling),
            step: Some(0),
            ..Overrides::default()
        };
        assert!(
            policy(&spec, "web", &o)
                .unwrap_err()
                .to_string()
                .contains("--step")
        );
        let o = Overrides {
            replicas: Some(0),
            ..Overrides::default()
        };
        assert!(
            policy(&spec, "web", &o)
                .unwrap_err()
                .to_string()
                .contains("--replicas")
        );
    }

    #[test]
    fn spec_step_is_clamped_to_the_service() {
        let mut spec = Spec::default();
        spec.defaults.strategy = Strategy::Rolling;
        spec.defaults.rolling.step = 5;
        let (p, full) = spec
            .resolve_policy("web", &Overrides::default(), Some(2))
            .unwrap();
        assert_eq!((p.rolling.step, full), (2, 2));
    }

    #[test]
    fn names_come_from_templates() {
        let spec = Spec::default();
        assert_eq!(
            spec.zone_service_name("demo", "web", "green"),
            "demo_web-green"
        );
        assert_eq!(spec.keys("demo", "web").active_zone, "demo/web-active-zone");
        assert_eq!(spec.keys("demo", "web").owner, "demo/web-owner");
    }
}
