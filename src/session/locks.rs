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
    pub async fn cover(
        &mut self,
        kv: &dyn Kv,
        plan: &Plan,
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
        for service in plan.services.iter().filter(|s| !s.up_to_date) {
            let key = &service.keys.lock;
            if self.held.iter().any(|h| &h.key == key) {
                continue;
            }
            let outcome = kv::acquire_lock(
                kv,
                key,
                &info,
                spec.kv.lock_ttl,
                request.lock_wait,
                Some(cancel),
            )
            .await;
            let failure = match outcome {
                Ok(LockOutcome::Acquired(guard)) => {
                    self.held.push(HeldLock {
                        service: service.service.clone(),
                        key: key.clone(),
                        guard,
                    });
                    continue;
                }
                // Ctrl-C ends the wait: nothing has been changed yet.
                Ok(LockOutcome::Held(_)) if cancel.is_cancelled() => Error::Interrupted {
                    message: format!(
                        "interrupted while waiting for the deploy lock of {}",
                        service.service
                    ),
                    help: Some("nothing was changed".into()),
                },
                Ok(LockOutcome::Held(holder)) => {
                    locked(&service.service, &holder, request.lock_wait.is_some())
                }
                Err(e) => kv_error(e),
            };
            std::mem::replace(self, Locks::none()).release().await;
            return Err(failure);
        }
        // With --lock-wait the plan may predate a deploy that ended while this one waited.
        self.waited |= request.lock_wait.is_some();
        Ok(())
    }

    /// Releases every lock; returns the errors (each lock then expires after its TTL).
    pub async fn release(self) -> Vec<KvError> {
        let mut errors = Vec::new();
        for held in self.held {
            if let Err(e) = held.guard.release().await {
                errors.push(e);
            }
        }
        errors
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
