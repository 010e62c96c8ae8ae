//! Service fields that load fine but that Swarm (or shipctl) does not apply: they become
//! warnings, never failures, so that files written for `docker compose up` still deploy.

/// The warning for a service field that is ignored, or `None` when the field is applied.
pub fn ignored_service_field(key: &str) -> Option<String> {
    let message = match key {
        "build" => {
            "`build` is ignored: Swarm does not build images; build and push the image, \
                    then deploy it with `image:`"
        }
        "container_name" => "`container_name` is ignored: Swarm names the containers of a service",
        "network_mode" => {
            "`network_mode` is ignored by Swarm services: attach them to `networks` \
                           instead"
        }
        "links" | "external_links" => {
            return Some(format!(
                "`{key}` is ignored by Swarm: services on a shared network reach each other by \
                 service name"
            ));
        }
        "restart" => {
            "`restart` is ignored by Swarm: use `deploy.restart_policy` (e.g. \
                      `condition: on-failure`)"
        }
        "expose" => {
            "`expose` is ignored: on an overlay network every port of a service is \
                     reachable by the other services"
        }
        "privileged" => "`privileged` is ignored: Swarm services cannot run privileged",
        "devices" => "`devices` is ignored: Swarm services cannot map host devices",
        "profiles" => "`profiles` is ignored: every service of the file is deployed",
        "pull_policy" => "`pull_policy` is ignored: Swarm nodes pull the image when a task starts",
        "sysctls"
        | "ulimits"
        | "dns_search"
        | "dns_opt"
        | "tmpfs"
        | "security_opt"
        | "cgroup_parent"
        | "cgroup"
        | "userns_mode"
        | "volumes_from"
        | "ipc"
        | "pid"
        | "uts"
        | "mac_address"
        | "shm_size"
        | "oom_kill_disable"
        | "oom_score_adj"
        | "cpu_shares"
        | "cpu_quota"
        | "cpu_period"
        | "cpu_rt_period"
        | "cpu_rt_runtime"
        | "cpu_count"
        | "cpu_percent"
        | "cpuset"
        | "memswap_limit"
        | "mem_swappiness"
        | "blkio_config"
        | "device_cgroup_rules"
        | "gpus"
        | "runtime"
        | "storage_opt"
        | "platform"
        | "domainname"
        | "group_add"
        | "isolation"
        | "credential_spec"
        | "stdin_open"
        | "attach"
        | "develop"
        | "post_start"
        | "pre_stop"
        | "annotations"
        | "label_file"
        | "volume_driver"
        | "provider"
        | "models"
        | "use_api_socket"
        | "pull_refresh_after"
        | "mem_swap_limit" => {
            return Some(format!(
                "`{key}` is not applied to Swarm services and is ignored"
            ));
        }
        _ => return None,
    };
    Some(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::ignored_service_field;

    #[test]
    fn applied_fields_give_no_warning() {
        for key in ["image", "deploy", "environment", "healthcheck", "x-custom"] {
            assert_eq!(ignored_service_field(key), None, "{key}");
        }
    }

    #[test]
    fn ignored_fields_say_what_to_do() {
        let restart = ignored_service_field("restart").unwrap();
        assert!(restart.contains("deploy.restart_policy"), "{restart}");
        assert!(ignored_service_field("build").unwrap().contains("push"));
        assert!(
            ignored_service_field("links")
                .unwrap()
                .contains("service name")
        );
        assert!(
            ignored_service_field("sysctls")
                .unwrap()
                .contains("ignored")
        );
    }
}
