//! `shipctl unlock SERVICE`: breaks a deploy lock on purpose.

use super::UnlockArgs;
use crate::error::Error;
use crate::session::{self, Session, Settings, kv_error};
use crate::ui::Printer;

pub fn run(settings: &Settings, args: &UnlockArgs, printer: &Printer) -> Result<(), Error> {
    let inputs = session::load_inputs(settings, None)?;
    let key = inputs.spec.keys(&inputs.project, &args.service).lock;
    session::block_on(async {
        let session = Session::open(settings, &inputs.spec.kv.url).await?;
        session
            .check_owner(
                &inputs.spec,
                &inputs.project,
                std::slice::from_ref(&args.service),
            )
            .await?;
        let holder = session.kv.lock_holder(&key).await.map_err(kv_error)?;
        let Some(holder) = holder else {
            printer.out(&format!("{} is not locked\n", args.service));
            return Ok(());
        };
        let who = format!(
            "{}@{} (pid {}) since {}{}",
            holder.owner,
            holder.host,
            holder.pid,
            holder.since,
            holder
                .message
                .as_deref()
                .map(|m| format!(": \"{m}\""))
                .unwrap_or_default()
        );
        if !settings.yes {
            if !printer.terminal.interactive {
                return Err(Error::usage(
                    format!(
                        "{} is locked by {who}; breaking it needs confirmation",
                        args.service
                    ),
                    "add --yes to break the lock without asking",
                ));
            }
            let question = format!("{} is locked by {who}. Break the lock?", args.service);
            let yes = crate::ui::prompt::confirm(&question).map_err(|e| {
                Error::usage(format!("cannot ask: {e}"), "add --yes to break the lock")
            })?;
            if !yes {
                return Err(Error::usage("lock kept", "nothing was changed"));
            }
        }
        session.kv.break_lock(&key).await.map_err(kv_error)?;
        printer.out(&format!("{}: lock of {who} broken\n", args.service));
        Ok(())
    })
}
