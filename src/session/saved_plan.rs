//! Saved plans: `plan --out plan.json`, then `deploy --plan plan.json` applies exactly that
//! plan, and refuses when the cluster moved since it was made.

use std::path::Path;

use crate::error::Error;
use crate::plan::redact::fresh_salt;
use crate::plan::{ObservedState, Plan};

/// `plan --out FILE`: the plan as JSON, for `deploy --plan FILE`.
pub fn save_plan(plan: &Plan, path: &Path) -> Result<(), Error> {
    // No secret values on disk: environment values are fingerprints, read again on apply.
    let json =
        serde_json::to_string_pretty(&plan.redacted(&fresh_salt())).map_err(|e| Error::Usage {
            message: format!("cannot encode the plan: {e}"),
            help: None,
        })?;
    std::fs::write(path, json + "\n").map_err(|e| {
        Error::usage(
            format!("cannot write the plan to {}: {e}", path.display()),
            "check that the directory exists and is writable",
        )
    })
}

/// Reads a plan written by `plan --out FILE`.
pub fn read_plan(path: &Path) -> Result<Plan, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(
            format!("cannot read the saved plan {}: {e}", path.display()),
            "give the file written by `shipctl plan --out FILE`",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::usage(
            format!(
                "{} is not a shipctl plan (line {}, column {}): {e}",
                path.display(),
                e.line(),
                e.column()
            ),
            "make it again with `shipctl plan --out FILE`",
        )
    })
}

/// What differs between the state a plan was made from and now. Task counts move on their
/// own; what matters is what the plan acts on: service specs (version index), replicas,
/// versions and the routing keys.
pub fn first_change(then: &ObservedState, now: &ObservedState) -> Option<String> {
    for (service, before) in &then.services {
        let after = now.services.get(service).cloned().unwrap_or_default();
        if before.keys != after.keys {
            return Some(format!(
                "{service}'s routing keys changed ({:?} -> {:?})",
                before.keys, after.keys
            ));
        }
        for (zone, b) in &before.zones {
            match after.zones.get(zone) {
                None => return Some(format!("{service}'s zone {zone} was removed")),
                Some(a) => {
                    if (a.desired, &a.version, &a.image) != (b.desired, &b.version, &b.image)
                        || (b.spec_index.is_some() && a.spec_index != b.spec_index)
                    {
                        return Some(format!(
                            "{service}'s zone {zone} ({}) was updated",
                            a.service_name
                        ));
                    }
                }
            }
        }
        if let Some(zone) = after.zones.keys().find(|z| !before.zones.contains_key(*z)) {
            return Some(format!("{service}'s zone {zone} was created"));
        }
    }
    None
}
