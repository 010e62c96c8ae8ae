//! HAProxy's runtime API (its stats socket at `level admin`): weights and servers' tasks change
//! there, without a reload, when the new config differs from the running one only in what
//! the API can change ([`super::context::runtime_shape`]). The file is still written, so that a
//! restart comes up in the same state.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::context::RouteContext;

/// How long one exchange with the socket may take.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The commands that take HAProxy from `old` to `new` (same shape): per slot whose task or
/// weight changed, its address, weight and state. Empty when nothing differs.
pub fn runtime_commands(old: &RouteContext, new: &RouteContext) -> Vec<String> {
    let mut commands = Vec::new();
    for service in &new.services {
        let Some(before) = old.services.iter().find(|s| s.upstream == service.upstream) else {
            continue;
        };
        for slot in &service.slots {
            let Some(was) = before.slots.iter().find(|s| s.name == slot.name) else {
                continue;
            };
            let server = format!("{}/{}", service.upstream, slot.name);
            match (&was.target, &slot.target) {
                (_, None) => {
                    if was.target.is_some() {
                        commands.push(format!("set server {server} state maint"));
                    }
                }
                (old_target, Some(target)) => {
                    if old_target.as_ref() != Some(target) {
                        let Some((ip, port)) = target.rsplit_once(':') else {
                            continue;
                        };
                        commands.push(format!("set server {server} addr {ip} port {port}"));
                    }
                    if old_target.as_ref() != Some(target) || was.weight != slot.weight {
                        commands.push(format!("set server {server} weight {}", slot.weight));
                    }
                    if old_target.is_none() {
                        // Swarm already found the task healthy: no wait for `rise` checks.
                        commands.push(format!("set server {server} state ready"));
                        commands.push(format!("set server {server} health up"));
                    }
                }
            }
        }
    }
    commands
}

/// Sends `commands` in one exchange (`;`-separated); an error names the first refused one.
pub async fn send(socket: &Path, commands: &[String]) -> Result<(), String> {
    let exchange = async {
        let mut stream = UnixStream::connect(socket)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
        let line = format!("{}\n", commands.join(";"));
        stream
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("cannot write to {}: {e}", socket.display()))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .map_err(|e| format!("cannot read from {}: {e}", socket.display()))?;
        Ok::<String, String>(answer)
    };
    let answer = tokio::time::timeout(SOCKET_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{} did not answer within 5s", socket.display()))??;
    check_answer(&answer)
}

/// HAProxy answers each command with a block ending in a blank line: empty when done, a
/// sentence about what changed for `addr`, anything else is a refusal.
fn check_answer(answer: &str) -> Result<(), String> {
    for block in answer
        .split("\n\n")
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        let done = block.contains("changed from") || block.starts_with("no need to change");
        if !done {
            return Err(block.lines().next().unwrap_or(block).to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ports::{NodeAddresses, TaskInfo, TaskState};
    use crate::route::context::{KeyValues, Via, ZoneTasks, runtime_shape, service_view};

    fn task(id: &str, port: u16) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state: TaskState::Running,
            desired_state: TaskState::Running,
            version: Some("1".into()),
            image: None,
            message: String::new(),
            error: None,
            exit_code: None,
            node_id: None,
            container_id: None,
            addresses: vec!["10.0.0.1".into()],
            host_ports: vec![(8080, port)],
            updated_at: None,
            created_at: None,
        }
    }

    fn context(traffic: &str, blue: &[u16], green: &[u16]) -> RouteContext {
        let keys = KeyValues {
            active_zone: Some("blue".into()),
            active_version: Some("1".into()),
            traffic: Some(traffic.into()),
        };
        let zone = |name: &str, ports: &[u16]| ZoneTasks {
            zone: name.into(),
            service_name: format!("p_web-{name}"),
            tasks: ports.iter().map(|p| task(&format!("t{p}"), *p)).collect(),
        };
        RouteContext {
            project: "p".into(),
            listen: "80".into(),
            port: 8080,
            vars: BTreeMap::new(),
            stats_syslog: None,
            haproxy_socket: Some("/run/haproxy.sock".into()),
            caddy_admin: None,
            services: vec![service_view(
                "p",
                "web",
                &keys,
                &[zone("blue", blue), zone("green", green)],
                8080,
                Via::Auto,
                &NodeAddresses::default(),
            )],
        }
    }

    #[test]
    fn a_canary_step_is_weights_only_and_keeps_the_shape() {
        let old = context("blue=90,green=10", &[1001, 1002], &[2001, 2002]);
        let new = context("blue=50,green=50", &[1001, 1002], &[2001, 2002]);
        assert_eq!(runtime_shape(&old), runtime_shape(&new));
        assert_eq!(
            runtime_commands(&old, &new),
            [
                "set server p_web/blue-1 weight 25",
                "set server p_web/blue-2 weight 25",
                "set server p_web/green-1 weight 25",
                "set server p_web/green-2 weight 25",
            ]
        );
        assert!(runtime_commands(&new, &new).is_empty());
    }

    #[test]
    fn a_task_that_comes_and_goes_fills_and_empties_a_slot() {
        let old = context("blue=100,green=0", &[1001], &[]);
        let new = context("blue=100,green=0", &[1001, 1003], &[]);
        assert_eq!(runtime_shape(&old), runtime_shape(&new));
        assert_eq!(
            runtime_commands(&old, &new),
            [
                "set server p_web/blue-1 weight 50",
                "set server p_web/blue-2 addr 127.0.0.1 port 1003",
                "set server p_web/blue-2 weight 50",
                "set server p_web/blue-2 state ready",
                "set server p_web/blue-2 health up",
            ]
        );
        assert_eq!(
            runtime_commands(&new, &old),
            [
                "set server p_web/blue-1 weight 100",
                "set server p_web/blue-2 state maint",
            ]
        );
    }

    #[test]
    fn more_tasks_than_slots_change_the_shape() {
        let old = context("blue=100,green=0", &[1001, 1002, 1003, 1004], &[]);
        let new = context("blue=100,green=0", &[1001, 1002, 1003, 1004, 1005], &[]);
        assert_ne!(runtime_shape(&old), runtime_shape(&new));
    }

    #[test]
    fn answers_are_read_per_command() {
        assert_eq!(check_answer("\n\n\n"), Ok(()));
        assert_eq!(
            check_answer(
                "no need to change the addr, port changed from '9' to '8081' by 'stats socket command'\n\n\n"
            ),
            Ok(())
        );
        assert_eq!(
            check_answer("\nNo such server.\n\n"),
            Err("No such server.".to_string())
        );
    }
}
