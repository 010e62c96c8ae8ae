//! Which project owns a service's keys. Two stacks on one Swarm may both have a `web`; keys
//! per project keep them apart, and where a layout shares keys (`kv.layout: classic`), the
//! owner key makes the second project stop before it reads or writes the first one's keys.

use futures_util::{StreamExt, TryStreamExt, stream};

use super::observe::kv_error;
use crate::error::Error;
use crate::plan::ObservedState;
use crate::ports::Kv;
use crate::spec::Spec;
use crate::spec::model::{KeyLayout, KeyTemplates};

/// The owner keys this run still has to claim (none recorded yet), after refusing any
/// service whose keys another project owns. With the `observed` state it also refuses keys
/// that exist without an owner where this project runs no zone (another project's, written
/// before owners were recorded), and zones whose keys are still in the classic layout.
pub async fn check(
    kv: &dyn Kv,
    spec: &Spec,
    project: &str,
    services: &[String],
    observed: Option<&ObservedState>,
) -> Result<Vec<String>, Error> {
    let mut unclaimed = Vec::new();
    // Every owner key in one read of the store, not one request per service.
    let owner_keys: Vec<String> = services
        .iter()
        .map(|service| spec.keys(project, service).owner)
        .collect();
    let owners = kv.get_many(&owner_keys).await.map_err(kv_error)?;
    let mut owners = owners.into_iter();
    for service in services {
        let keys = spec.keys(project, service);
        let owner = owners.next().flatten();
        match owner.map(|e| e.value) {
            Some(owner) if owner == project => {}
            Some(owner) => {
                return Err(Error::usage(
                    format!(
                        "the keys of `{service}` ({}, ...) belong to project `{owner}`, not `{project}` ({} = {owner}); nothing was changed",
                        keys.active_zone, keys.owner
                    ),
                    format!(
                        "both projects use the same keys because the key templates do not contain `{{project}}`: \
                         drop `kv.layout: classic` (or put `{{project}}` in `kv.keys`) in one project's spec, \
                         or act on `{owner}` with `-p {owner}`"
                    ),
                ));
            }
            // Commands that read no zones (route, unlock) stop only at a recorded owner.
            None if observed.is_none() => {}
            None => {
                let state = observed.and_then(|o| o.services.get(service));
                let ours = state.is_some_and(|s| !s.zones.is_empty());
                let keys_exist = state.is_some_and(|s| s.keys.active_zone.is_some());
                if keys_exist && !ours {
                    return Err(Error::usage(
                        format!(
                            "`{}` is set, but project `{project}` has no zone of `{service}` and no owner is recorded: \
                             another project (or a hand) wrote these keys; nothing was changed",
                            keys.active_zone
                        ),
                        format!(
                            "give this project keys of its own (templates with `{{project}}`), or, if these keys are \
                             `{project}`'s, record it: set `{}` to `{project}`",
                            keys.owner
                        ),
                    ));
                }
                if !keys_exist && ours {
                    refuse_if_left_behind(kv, spec, project, service).await?;
                }
                unclaimed.push(keys.owner);
            }
        }
    }
    Ok(unclaimed)
}

/// A project whose zones run but whose keys are still where the classic layout put them
/// (written before keys were per project): planning from empty keys would be wrong.
async fn refuse_if_left_behind(
    kv: &dyn Kv,
    spec: &Spec,
    project: &str,
    service: &str,
) -> Result<(), Error> {
    let classic = KeyTemplates::for_layout(KeyLayout::Classic).for_service(project, service);
    if classic.active_zone == spec.keys(project, service).active_zone {
        return Ok(());
    }
    let Some(old) = kv.get(&classic.active_zone).await.map_err(kv_error)? else {
        return Ok(());
    };
    Err(Error::usage(
        format!(
            "`{service}` runs in project `{project}` and its keys are still the classic ones (`{}` = {}); \
             the per-project keys are empty; nothing was changed",
            classic.active_zone, old.value
        ),
        "keep the keys your routers read: add `kv:\n  layout: classic` to shipctl.yaml (see \
         \"Upgrading\" in GUIDE.md)",
    ))
}

/// Records `project` as the owner of each key in `unclaimed`, unless another deploy did in
/// the meantime. The keys are claimed together: one by one, the first deploy of a stack of
/// 100 services waited on 100 writes in turn (`swarm://` commits writes made at once in one
/// update).
pub async fn claim(kv: &dyn Kv, project: &str, unclaimed: &[String]) -> Result<(), Error> {
    stream::iter(unclaimed)
        .map(|key| claim_one(kv, project, key))
        .buffer_unordered(CLAIM_AT_ONCE)
        .try_collect()
        .await
}

/// Writes sent to the store at once when claiming.
const CLAIM_AT_ONCE: usize = 16;

async fn claim_one(kv: &dyn Kv, project: &str, key: &str) -> Result<(), Error> {
    let written = kv
        .compare_and_swap(key, None, project)
        .await
        .map_err(kv_error)?;
    if !written {
        let now = kv.get(key).await.map_err(kv_error)?.map(|e| e.value);
        if now.as_deref() != Some(project) {
            return Err(Error::usage(
                format!(
                    "`{key}` was just claimed by project `{}`; nothing was changed",
                    now.unwrap_or_default()
                ),
                "two projects share these keys: give each project keys of its own (templates with `{project}`)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::fake::FakeKv;

    #[tokio::test]
    async fn owners_are_read_in_one_request_and_claimed_together() {
        let kv = FakeKv::alone();
        let spec = Spec::default();
        let services: Vec<String> = ["api", "web", "worker"].map(String::from).into();
        kv.set(&spec.keys("shop", "api").owner, "shop");

        // Nothing deployed yet: the keys without an owner are to be claimed.
        let nothing = ObservedState::default();
        let unclaimed = check(&kv, &spec, "shop", &services, Some(&nothing))
            .await
            .expect("no other owner");
        let owner_of = |service: &str| spec.keys("shop", service).owner;
        assert_eq!(unclaimed, [owner_of("web"), owner_of("worker")]);
        assert_eq!(kv.requests(), ["get_many 3"], "one request for 3 owners");

        claim(&kv, "shop", &unclaimed).await.expect("claimed");
        let mut claims = kv.requests();
        claims.sort();
        assert_eq!(claims, ["cas shop/web-owner", "cas shop/worker-owner"]);
        for service in &services {
            assert_eq!(kv.value(&owner_of(service)).as_deref(), Some("shop"));
        }
        // Claimed since by another project: the claim names it.
        kv.set(&owner_of("api"), "blog");
        let taken = claim(&kv, "shop", &[owner_of("api")]).await;
        assert!(taken.is_err_and(|e| e.to_string().contains("just claimed by project `blog`")));

        kv.set(&owner_of("api"), "shop");
        kv.set(&owner_of("worker"), "blog");
        let refused = check(&kv, &spec, "shop", &services, None).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("belong to project `blog`")),
            "worker's keys are blog's"
        );
    }
}
