//! The async runtime and the signals that stop a run at its next safe point.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::error::Error;

/// Runs `f` to completion on a fresh runtime. Commands that need no network never build one,
/// which keeps `--help` and offline plans instant.
pub fn block_on<F: Future<Output = Result<(), Error>>>(f: F) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Unavailable {
            message: format!("cannot start the async runtime: {e}"),
            help: Some("the system may be out of threads or memory".into()),
        })?;
    runtime.block_on(f)
}

/// A token cancelled on Ctrl-C or SIGTERM. The executor checks it at safe points only, so a
/// signal never splits a step in two.
///
/// The handlers are in place when this returns (not when a task first runs): a deploy holding
/// its lock must never die of a signal's default action and leave the lock to its TTL.
pub fn cancel_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let on_signal = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            tokio::spawn(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                on_signal.cancel();
            });
            return token;
        }
    }
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    token
}
