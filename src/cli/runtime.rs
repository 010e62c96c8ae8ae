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
pub fn cancel_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let on_signal = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        on_signal.cancel();
    });
    token
}
