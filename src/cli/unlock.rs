//! `shipctl unlock SERVICE`: breaks a deploy lock on purpose.

use std::collections::HashMap;
use std::io::Write;

use super::inputs;
use super::world::World;
use super::{GlobalArgs, UnlockArgs, runtime};
use crate::error::Error;
use crate::exec::kv_error;
use crate::ui::Terminal;

pub fn run(
    global: &GlobalArgs,
    args: &UnlockArgs,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Result<(), Error> {
    let inputs = inputs::load(global, env, None)?;
    let key = inputs
        .spec
        .kv
        .keys
        .for_service(&inputs.project, &args.service)
        .lock;
    runtime::block_on(async {
        let world = World::connect(global, env, &inputs.spec).await?;
        let holder = world.kv.lock_holder(&key).await.map_err(kv_error)?;
        let Some(holder) = holder else {
            let _ = writeln!(std::io::stdout(), "{} is not locked", args.service);
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
        if !global.yes {
            if !terminal.interactive {
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
        world.kv.break_lock(&key).await.map_err(kv_error)?;
        let _ = writeln!(std::io::stdout(), "{}: lock of {who} broken", args.service);
        Ok(())
    })
}
