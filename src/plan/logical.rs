//! Logical services: compose `web-blue` + `web-green` (or a plain `web`) form one service `web`
//! with a definition per zone.

use indexmap::IndexMap;

use crate::compose::ComposeProject;
use crate::compose::model::{PublishMode, Service};
use crate::error::Error;

/// One service as deployed: a definition for each of the two zones.
#[derive(Debug, Clone)]
pub struct LogicalService<'a> {
    pub name: String,
    /// In the spec's zone order.
    pub definitions: [&'a Service; 2],
    /// Notes for the user about how the zones were derived.
    pub notes: Vec<String>,
}

impl LogicalService<'_> {
    pub fn definition(&self, zones: &[String; 2], zone: &str) -> &Service {
        if zones[1] == zone {
            self.definitions[1]
        } else {
            self.definitions[0]
        }
    }

    /// Both zones share one definition: it was derived from a single compose service.
    pub fn is_derived(&self) -> bool {
        std::ptr::eq(self.definitions[0], self.definitions[1])
    }

    /// Two zones cannot publish the same port: Swarm refuses a second service on an ingress
    /// port, and host-mode ports collide on a node running tasks of both zones. An error for
    /// ingress ports, a warning for host-mode ones.
    pub fn check_published_ports(&self) -> Result<Option<String>, Error> {
        if !self.is_derived() {
            return Ok(None);
        }
        let published = |mode| {
            self.definitions[0]
                .ports
                .iter()
                .filter(move |p| p.mode == mode)
                .filter_map(|p| p.published)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        };
        let ingress = published(PublishMode::Ingress);
        if !ingress.is_empty() {
            return Err(Error::usage(
                format!(
                    "`{}` publishes port {} on the routing mesh, and both of its zones would need it",
                    self.name,
                    ingress.join(", ")
                ),
                format!(
                    "put a router in front (it reaches the zones over their network: remove `ports:`), \
                     or declare `{0}-blue` and `{0}-green` with a port each",
                    self.name
                ),
            ));
        }
        let host = published(PublishMode::Host);
        Ok((!host.is_empty()).then(|| {
            format!(
                "`{}` publishes host port {} in both zones: during a deploy, tasks of the two zones cannot share a node",
                self.name,
                host.join(", ")
            )
        }))
    }

    /// Global services run one task per node; they cannot be scaled into zones.
    pub fn is_global(&self) -> bool {
        self.definitions
            .iter()
            .any(|d| d.deploy.mode.as_deref() == Some("global"))
    }
}

#[derive(Default)]
struct Group<'a> {
    plain: Option<(&'a str, &'a Service)>,
    zoned: [Option<(&'a str, &'a Service)>; 2],
}

/// Groups compose services into logical services, in the order the compose file names them.
pub fn logical_services<'a>(
    compose: &'a ComposeProject,
    zones: &[String; 2],
) -> Result<IndexMap<String, LogicalService<'a>>, Error> {
    let suffixes = [format!("-{}", zones[0]), format!("-{}", zones[1])];
    let mut groups: IndexMap<&'a str, Group<'a>> = IndexMap::with_capacity(compose.services.len());
    for (key, service) in &compose.services {
        let zoned = suffixes.iter().enumerate().find_map(|(i, suffix)| {
            key.strip_suffix(suffix.as_str())
                .filter(|base| !base.is_empty())
                .map(|base| (base, i))
        });
        match zoned {
            Some((base, i)) => {
                groups.entry(base).or_default().zoned[i] = Some((key.as_str(), service));
            }
            None => groups.entry(key.as_str()).or_default().plain = Some((key.as_str(), service)),
        }
    }
    let mut out = IndexMap::with_capacity(groups.len());
    for (name, group) in groups {
        let logical = match (group.plain, group.zoned) {
            (Some((key, _)), [Some((zkey, _)), _] | [_, Some((zkey, _))]) => {
                return Err(Error::usage(
                    format!("the compose file declares both `{key}` and `{zkey}`"),
                    format!(
                        "declare either one service `{name}` (both zones are derived from it) or one per zone (`{name}-{}` and `{name}-{}`)",
                        zones[0], zones[1]
                    ),
                ));
            }
            (Some((_, service)), [None, None]) => LogicalService {
                name: name.to_string(),
                definitions: [service, service],
                notes: Vec::new(),
            },
            (None, [Some((_, a)), Some((_, b))]) => LogicalService {
                name: name.to_string(),
                definitions: [a, b],
                notes: Vec::new(),
            },
            (None, [Some((key, s)), None]) | (None, [None, Some((key, s))]) => {
                let missing = if group.zoned[0].is_none() {
                    &zones[0]
                } else {
                    &zones[1]
                };
                LogicalService {
                    name: name.to_string(),
                    definitions: [s, s],
                    notes: vec![format!(
                        "the compose file declares `{key}` but no `{name}-{missing}`: zone {missing} uses the same definition"
                    )],
                }
            }
            (None, [None, None]) => continue,
        };
        out.insert(name.to_string(), logical);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(names: &[&str]) -> ComposeProject {
        let mut p = ComposeProject::default();
        for n in names {
            p.services.insert(
                (*n).to_string(),
                Service {
                    name: (*n).to_string(),
                    image: format!("{n}:1"),
                    ..Service::default()
                },
            );
        }
        p
    }

    fn zones() -> [String; 2] {
        ["blue".into(), "green".into()]
    }

    #[test]
    fn zone_pairs_form_one_service() {
        let p = project(&["web-blue", "web-green", "api", "db-blue"]);
        let l = logical_services(&p, &zones()).unwrap();
        let names: Vec<&str> = l.keys().map(String::as_str).collect();
        assert_eq!(names, ["web", "api", "db"]);
        assert_eq!(l["web"].definitions[1].image, "web-green:1");
        assert_eq!(l["api"].definitions[0].image, "api:1");
        assert_eq!(l["db"].notes.len(), 1);
    }

    #[test]
    fn plain_and_zoned_together_is_an_error() {
        let p = project(&["web", "web-blue"]);
        assert!(logical_services(&p, &zones()).is_err());
    }
}
