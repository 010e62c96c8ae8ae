//! The deploy locks of a run: one per service that changes, all or nothing, waited for with
//! the one lock-wait of [`crate::kv::acquire_lock`].

use tokio_util::sync::CancellationToken;

use super::RunRequest;
use super::observe::kv_error;
use crate::error::Error;
use crate::kv;
use crate::plan::Plan;
use crate::ports::{Action, Kv, KvError, LockGuard, LockInfo, LockOutcome};
use crate::spec::Spec;

/// The locks this run holds.
pub struct Locks {
    pub held: Vec<HeldLock>,
    /// True when this run may have waited for another deploy (`--lock-wait`): the state the
    /// plan was made from may have changed meanwhile.
    pub waited: bool,
}

/// One lock of this run: whose, which key, and the guard that renews it.
pub struct HeldLock {
    pub service: String,
    pub key: String,
    pub guard: Box<dyn LockGuard>,
}

impl Locks {
    pub fn none() -> Locks {
        Locks {
            held: Vec::new(),
            waited: false,
        }
    }

    /// Also takes the locks of services of `plan` that change and are not held yet (a plan
    /// made again after waiting may change a service the first one left alone). On failure,
    /// or a signal while waiting, every lock is released.
    pub async fn cover<'p>(
        &mut self,
        kv: &dyn Kv,
        plan: &'p Plan,
        spec: &Spec,
        action: Action,
        request: &RunRequest,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let info = LockInfo::current(
            request
                .message
                .clone()
                .or_else(|| Some(format!("shipctl {action}"))),
        );
        let mut wanted: Vec<(&'p str, &'p str)> = Vec::new();
        for service in plan.services.iter().filter(|s| !s.up_to_date) {
            let key = service.keys.lock.as_str();
            if !self.held.iter().any(|h| h.key == key) && !wanted.iter().any(|(_, k)| *k == key) {
                wanted.push((service.service.as_str(), key));
            }
        }
        let (info, ttl, wait) = (&info, spec.kv.lock_ttl, request.lock_wait);
        let take = |key: &'p str| kv::acquire_lock(kv, key, info, ttl, wait, Some(cancel));
        // Without waiting, every lock is asked for at once (on swarm:// a release of many
        // services then takes its locks in one update): a lock held elsewhere fails the run
        // either way. Waiting goes one lock at a time in plan order, so that two runs waiting
        // for each other's locks cannot each hold half.
        let outcomes: Vec<Result<LockOutcome, KvError>> = if request.lock_wait.is_none() {
            futures_util::future::join_all(wanted.iter().map(|(_, key)| take(key))).await
        } else {
            let mut outcomes = Vec::new();
            for (_, key) in &wanted {
                let outcome = take(key).await;
                let taken = matches!(outcome, Ok(LockOutcome::Acquired(_)));
                outcomes.push(outcome);
                if !taken {
                    break;
                }
            }
            outcomes
        };
        let mut failure = None;
        for ((service, key), outcome) in wanted.iter().zip(outcomes) {
            let failed = match outcome {
                Ok(LockOutcome::Acquired(guard)) => {
                    self.held.push(HeldLock {
                        service: service.to_string(),
                        key: key.to_string(),
                        guard,
                    });
                    continue;
                }
                Ok(LockOutcome::Held(_)) if cancel.is_cancelled() => Error::Interrupted {
                    message: format!("interrupted while waiting for the deploy lock of {service}"),
                    help: Some("nothing was changed".into()),
                },
                Ok(LockOutcome::Held(holder)) => {
                    locked(service, &holder, request.lock_wait.is_some())
                }
                Err(e) => kv_error(e),
            };
            // The first failure in plan order is the one reported.
            failure.get_or_insert(failed);
        }
        if let Some(failure) = failure {
            std::mem::replace(self, Locks::none()).release().await;
            return Err(failure);
        }
        self.waited |= request.lock_wait.is_some();
        Ok(())
    }

    /// Releases every lock; returns the errors (each lock then expires after its TTL).
    pub async fn release(self) -> Vec<KvError> {
        // All at once: on swarm:// the locks of a whole release go in one update.
        let releases = self.held.into_iter().map(|held| held.guard.release());
        futures_util::future::join_all(releases)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect()
    }
}

fn locked(service: &str, holder: &LockInfo, waited: bool) -> Error {
    let note = holder
        .message
        .as_deref()
        .map(|m| format!(": \"{m}\""))
        .unwrap_or_default();
    Error::Locked {
        message: format!(
            "{service} is locked by {}@{} (pid {}) since {}{note}",
            holder.owner, holder.host, holder.pid, holder.since
        ),
        help: Some(if waited {
            format!(
                "the lock was still held when --lock-wait ran out; if its holder is gone, `shipctl unlock {service}`"
            )
        } else {
            format!(
                "wait for it with --lock-wait 2m; if its holder is gone, the lock expires by itself, or run `shipctl unlock {service}`"
            )
        }),
    }
}
