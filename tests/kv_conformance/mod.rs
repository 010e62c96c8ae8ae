//! One suite of KV semantics, run against every backend: the Consul double, a real etcd and
//! the real Swarm of the local Docker engine.

mod backend;
mod checks;
mod consul;
mod etcd;
mod swarm;

/// Runs each check against one backend; `$make` is an async fn(test name) -> Option<Backend>.
macro_rules! conformance {
    ($backend:ident, $make:path) => {
        mod $backend {
            use super::{backend, checks};

            conformance!(@tests $make;
                read_your_write,
                get_many_reads_keys_in_order,
                compare_and_swap,
                cas_counter_under_contention,
                atomic_pairs_under_concurrent_writers,
                delete_and_list_prefix,
                lock_exclusion,
                break_lock_frees_it,
                lock_expires_when_holder_is_gone,
                watch_wakes_on_change,
                watch_wakes_on_delete_and_times_out,
                watch_of_many_keys_wakes_for_each,
                history_keeps_last_n,
                lock_helper_waits,
                fenced_writes_need_the_lock,
            );
        }
    };
    (@tests $make:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let test = concat!(module_path!(), "::", stringify!($check));
                let Some(backend) = $make(test).await else { return };
                // Clean up even when the check fails: Swarm labels outlive the test.
                let outcome = futures_util::FutureExt::catch_unwind(
                    std::panic::AssertUnwindSafe(checks::$check(&backend)),
                )
                .await;
                backend.cleanup().await;
                if let Err(panic) = outcome {
                    std::panic::resume_unwind(panic);
                }
            }
        )*
    };
}

conformance!(on_consul_double, backend::consul);
conformance!(on_etcd, backend::etcd);
conformance!(on_swarm, backend::swarm);
