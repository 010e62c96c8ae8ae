//! `depends_on` between the services of a compose app: the order a release gates them in.

use indexmap::IndexMap;

use super::model::Service;

/// Each service's direct dependencies, by name.
pub type Dependencies = std::collections::HashMap<String, Vec<String>>;

/// The direct dependencies of each service of a compose app.
pub fn of(services: &IndexMap<String, Service>) -> Dependencies {
    services
        .iter()
        .filter(|(_, s)| !s.depends_on.is_empty())
        .map(|(name, s)| (name.clone(), s.depends_on.clone()))
        .collect()
}

/// A cycle of `depends_on`, as the names along it (`a -> b -> a`), if there is one.
pub fn cycle(services: &IndexMap<String, Service>) -> Option<Vec<String>> {
    // 0 = not seen, 1 = on the current path, 2 = done.
    let mut state: IndexMap<&str, u8> = services.keys().map(|k| (k.as_str(), 0)).collect();
    let mut path: Vec<&str> = Vec::new();
    fn visit<'a>(
        name: &'a str,
        services: &'a IndexMap<String, Service>,
        state: &mut IndexMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(name).copied() {
            Some(2) | None => return None,
            Some(1) => {
                let start = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut names: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                names.push(name.to_string());
                return Some(names);
            }
            _ => {}
        }
        state.insert(name, 1);
        path.push(name);
        for dep in services
            .get(name)
            .map(|s| &s.depends_on[..])
            .unwrap_or_default()
        {
            if let Some(found) = visit(dep, services, state, path) {
                return Some(found);
            }
        }
        path.pop();
        state.insert(name, 2);
        None
    }
    for name in services.keys() {
        if let Some(found) = visit(name, services, &mut state, &mut path) {
            return Some(found);
        }
    }
    None
}

/// `names` reordered so that every service comes after the services it depends on (directly
/// or through services outside `names`); otherwise the order given is kept. Linear: a
/// depth-first walk that places each service after its dependencies. Names of a cycle
/// (refused at load time) keep their order.
pub fn in_order(names: &[String], services: &Dependencies) -> Vec<String> {
    fn place<'a>(
        name: &'a str,
        services: &'a Dependencies,
        wanted: &std::collections::HashSet<&str>,
        seen: &mut std::collections::HashSet<&'a str>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(name) {
            return;
        }
        for dep in services.get(name).map(|d| &d[..]).unwrap_or_default() {
            place(dep, services, wanted, seen, out);
        }
        if wanted.contains(name) {
            out.push(name.to_string());
        }
    }
    let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        place(name, services, &wanted, &mut seen, &mut out);
    }
    out
}

/// True when `service` needs `other`, directly or through other services.
pub fn depends_on(service: &str, other: &str, services: &Dependencies) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    let mut todo: Vec<&str> = vec![service];
    while let Some(name) = todo.pop() {
        for dep in services.get(name).map(|d| &d[..]).unwrap_or_default() {
            if dep == other {
                return true;
            }
            if !seen.contains(&dep.as_str()) {
                seen.push(dep);
                todo.push(dep);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(edges: &[(&str, &[&str])]) -> IndexMap<String, Service> {
        edges
            .iter()
            .map(|(name, deps)| {
                let service = Service {
                    name: name.to_string(),
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                    ..Service::default()
                };
                (name.to_string(), service)
            })
            .collect()
    }

    fn deps(services: &IndexMap<String, Service>) -> Dependencies {
        of(services)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dependencies_come_first_and_the_rest_keeps_its_order() {
        let services = app(&[
            ("web", &["api"]),
            ("worker", &["api", "redis"]),
            ("api", &["redis"]),
            ("redis", &[]),
            ("docs", &[]),
        ]);
        assert_eq!(
            in_order(
                &names(&["web", "worker", "api", "redis", "docs"]),
                &deps(&services)
            ),
            names(&["redis", "api", "web", "worker", "docs"])
        );
        assert_eq!(cycle(&services), None);
    }

    #[test]
    fn a_dependency_through_a_service_left_out_still_orders() {
        let services = app(&[("web", &["api"]), ("api", &["redis"]), ("redis", &[])]);
        assert_eq!(
            in_order(&names(&["web", "redis"]), &deps(&services)),
            names(&["redis", "web"])
        );
    }

    #[test]
    fn a_cycle_is_named_along_its_path() {
        let services = app(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(cycle(&services), Some(names(&["a", "b", "c", "a"])));
        // Still an order, as written, rather than a hang.
        assert_eq!(
            in_order(&names(&["a", "b", "c"]), &deps(&services)).len(),
            3
        );
    }
}
