//! Address space of overlay networks during a release. A zoned release runs the new zone beside
//! the old one until the switch, so a network briefly holds the tasks of both: a subnet that
//! fits one zone may not fit two, and a task that gets no address stays pending. The plan warns
//! before that happens, with the numbers.

use crate::compose::model::{EndpointMode, Network};
use crate::ports::NetworkUsage;

use super::request::PlanRequest;
use super::shared::networks_of;
use super::{Action, ServicePlan, ServiceState};

/// Share of a network's usable addresses above which the plan warns (the release still fits,
/// but the next one or a rescheduling may not).
const WARN_ABOVE: f64 = 0.8;

/// Addresses a subnet gives to endpoints: all but the network and broadcast addresses and the
/// gateway. `None` for what is not an IPv4 CIDR.
pub fn usable(subnet: &str) -> Option<u64> {
    let (address, bits) = subnet.split_once('/')?;
    address.parse::<std::net::Ipv4Addr>().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let host_bits = 32 - bits;
    Some(if host_bits < 2 {
        0
    } else {
        (1u64 << host_bits) - 3
    })
}

/// Tasks and virtual IPs that `service`'s steps add on top of what runs now, at the fullest
/// point of the release (both zones up, before the old one drains).
pub fn added_during_overlap(service: &ServicePlan, state: &ServiceState) -> u64 {
    let mut replicas: std::collections::HashMap<&str, u64> = state
        .zones
        .iter()
        .map(|(zone, z)| (zone.as_str(), z.desired))
        .collect();
    let now: u64 = replicas.values().sum();
    let mut peak = now;
    let mut new_vips = 0;
    for step in &service.steps {
        match &step.action {
            Action::CreateZone {
                zone, replicas: r, ..
            } => {
                // Every service in VIP mode takes one address of each of its networks.
                if service.definition.deploy.endpoint_mode != Some(EndpointMode::Dnsrr) {
                    new_vips += 1;
                }
                replicas.insert(zone, *r);
            }
            Action::UpdateZone {
                zone, replicas: r, ..
            }
            | Action::Scale {
                zone, replicas: r, ..
            } => {
                replicas.insert(zone, *r);
            }
            _ => continue,
        }
        peak = peak.max(replicas.values().sum());
    }
    peak - now + new_vips
}

/// One warning per overlay network whose addresses would run short during this release.
/// Every changing service counts at its fullest point at once: services of one release overlap.
pub fn warnings(req: &PlanRequest, services: &[ServicePlan]) -> Vec<String> {
    let empty = ServiceState::default();
    let mut added: indexmap::IndexMap<String, u64> = indexmap::IndexMap::new();
    for service in services {
        let state = req
            .observed
            .services
            .get(&service.service)
            .unwrap_or(&empty);
        let extra = added_during_overlap(service, state);
        if extra == 0 {
            continue;
        }
        for key in networks_of(&service.definition) {
            *added.entry(key).or_default() += extra;
        }
    }
    let mut out = Vec::new();
    for (key, adds) in added {
        let Some((name, usage)) = usage_of(req, &key) else {
            continue;
        };
        if let Some(warning) = warning(&name, &usage, adds) {
            out.push(warning);
        }
    }
    out
}

/// The name of the overlay network a service's `key` stands for (`{project}_{key}`, its
/// `name:`, or an external network's own name); `None` for other drivers.
pub fn overlay_name(
    project: &str,
    networks: &indexmap::IndexMap<String, Network>,
    key: &str,
) -> Option<String> {
    let network = networks.get(key);
    if network
        .and_then(|n| n.driver.as_deref())
        .is_some_and(|d| d != "overlay")
    {
        return None;
    }
    Some(match network {
        Some(n) if n.external => n.name.clone().unwrap_or_else(|| key.to_string()),
        Some(n) => n.name.clone().unwrap_or_else(|| format!("{project}_{key}")),
        None => format!("{project}_{key}"),
    })
}

/// The names of every overlay network the services of a compose project may use.
pub fn overlay_names(project: &str, networks: &indexmap::IndexMap<String, Network>) -> Vec<String> {
    networks
        .keys()
        .map(String::as_str)
        .chain(std::iter::once("default"))
        .filter_map(|key| overlay_name(project, networks, key))
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        })
}

/// The network's full name and its usage: as observed, else (not created yet) the pools its
/// compose `ipam:` gives it, empty. `None` when the size is not known or it is not an overlay.
fn usage_of(req: &PlanRequest, key: &str) -> Option<(String, NetworkUsage)> {
    let name = overlay_name(&req.project, &req.compose.networks, key)?;
    if let Some(usage) = req.observed.networks.get(&name) {
        return Some((name, usage.clone()));
    }
    let subnets: Vec<String> = req
        .compose
        .networks
        .get(key)?
        .ipam
        .as_ref()?
        .config
        .iter()
        .filter_map(|pool| pool.subnet.clone())
        .collect();
    (!subnets.is_empty()).then_some((name, NetworkUsage { subnets, in_use: 0 }))
}

/// The warning for a network that `adds` more addresses, if it comes close to running out.
pub fn warning(name: &str, usage: &NetworkUsage, adds: u64) -> Option<String> {
    let sizes: Vec<u64> = usage.subnets.iter().filter_map(|s| usable(s)).collect();
    if sizes.is_empty() {
        return None;
    }
    let total: u64 = sizes.iter().sum();
    let peak = usage.in_use + adds;
    if (peak as f64) <= total as f64 * WARN_ABOVE {
        return None;
    }
    let subnets = usage.subnets.join(", ");
    let head = format!(
        "network {name} {subnets}: {total} usable, {} in use, this release adds {adds} during the overlap",
        usage.in_use
    );
    Some(if peak > total {
        format!(
            "{head}: {} short; tasks without an address stay pending and the release fails its health gate. Give the network a larger subnet (`ipam`), or release in smaller steps (rolling, `step`)",
            peak - total
        )
    } else {
        format!(
            "{head}: {} left at the fullest point; a rescheduled task or the next release may not fit",
            total - peak
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(subnets: &[&str], in_use: u64) -> NetworkUsage {
        NetworkUsage {
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            in_use,
        }
    }

    #[test]
    fn usable_leaves_out_network_broadcast_and_gateway() {
        assert_eq!(usable("10.0.1.0/24"), Some(253));
        assert_eq!(usable("10.0.9.0/28"), Some(13));
        assert_eq!(usable("10.0.9.0/27"), Some(29));
        assert_eq!(usable("10.0.0.0/16"), Some(65_533));
        assert_eq!(usable("10.0.9.0/31"), Some(0));
        assert_eq!(usable("fd00::/64"), None);
        assert_eq!(usable("10.0.9.0"), None);
        assert_eq!(usable("10.0.9.0/33"), None);
    }

    #[test]
    fn a_release_that_does_not_fit_names_the_numbers() {
        let w = warning("shop_front", &usage(&["10.0.1.0/24"], 140), 120).unwrap();
        assert!(
            w.starts_with(
                "network shop_front 10.0.1.0/24: 253 usable, 140 in use, this release adds 120 during the overlap: 7 short"
            ),
            "{w}"
        );
    }

    #[test]
    fn close_to_full_warns_with_what_is_left() {
        // 203 of 253 is above 80%.
        let w = warning("shop_front", &usage(&["10.0.1.0/24"], 140), 63).unwrap();
        assert!(w.contains("50 left at the fullest point"), "{w}");
        // 200 of 253 is not.
        assert_eq!(
            warning("shop_front", &usage(&["10.0.1.0/24"], 140), 60),
            None
        );
    }

    #[test]
    fn pools_add_up() {
        let two = usage(&["10.0.1.0/28", "10.0.2.0/28"], 10);
        assert_eq!(warning("n", &two, 10), None);
        let w = warning("n", &two, 16).unwrap();
        assert!(w.contains("26 usable"), "{w}");
    }
}
