//! Renders a [`RouteContext`] with a built-in template (`nginx`, `haproxy`, `caddy`) or a
//! user's Jinja template file. Pure: the file is read once, by [`Renderer::load`].

use std::path::PathBuf;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};

use super::context::RouteContext;

const NGINX: &str = include_str!("templates/nginx.conf.j2");
const HAPROXY: &str = include_str!("templates/haproxy.cfg.j2");
const CADDY: &str = include_str!("templates/caddy.json.j2");

/// Where the template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    Nginx,
    Haproxy,
    /// Caddy's JSON config, loaded through its admin API.
    Caddy,
    File(PathBuf),
}

impl TemplateSource {
    /// `nginx`, `haproxy`, `caddy`, or a path.
    pub fn parse(text: &str) -> TemplateSource {
        match text {
            "nginx" => TemplateSource::Nginx,
            "haproxy" => TemplateSource::Haproxy,
            "caddy" => TemplateSource::Caddy,
            path => TemplateSource::File(PathBuf::from(path)),
        }
    }
}

/// A template that failed to load or render, with its file and line when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// The template's name (its path for a user template).
    pub name: String,
    pub line: Option<usize>,
}

/// A compiled template, ready to render contexts.
pub struct Renderer {
    env: Environment<'static>,
    name: String,
}

impl Renderer {
    /// Reads and compiles the template; syntax errors are reported with file and line.
    pub fn load(source: &TemplateSource) -> Result<Renderer, TemplateError> {
        let (name, text) = match source {
            TemplateSource::Nginx => ("nginx".to_string(), NGINX.to_string()),
            TemplateSource::Haproxy => ("haproxy".to_string(), HAPROXY.to_string()),
            TemplateSource::Caddy => ("caddy".to_string(), CADDY.to_string()),
            TemplateSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| TemplateError {
                    message: format!("cannot read template {}: {e}", path.display()),
                    name: path.display().to_string(),
                    line: None,
                })?;
                (path.display().to_string(), text)
            }
        };
        Renderer::from_text(&name, text)
    }

    /// Compiles `text` under `name` (used in error messages).
    pub fn from_text(name: &str, text: String) -> Result<Renderer, TemplateError> {
        let mut env = Environment::new();
        // Config files are line-oriented: block tags must not leave blank lines behind.
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| error(name, &e))?;
        env.set_syntax(syntax);
        // A misspelt variable must fail loudly rather than render an empty address.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A JSON config (Caddy's) needs its strings quoted and escaped.
        env.add_filter("tojson", tojson);
        env.add_template_owned(name.to_string(), text)
            .map_err(|e| error(name, &e))?;
        Ok(Renderer {
            env,
            name: name.to_string(),
        })
    }

    /// The template's name: `nginx`, `haproxy` or `caddy` for a built-in one, else its path.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn render(&self, context: &RouteContext) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(&self.name)
            .map_err(|e| error(&self.name, &e))?;
        template
            .render(minijinja::Value::from(minijinja::value::Serde(context)))
            .map_err(|e| error(&self.name, &e))
    }
}

/// `{{ value|tojson }}`: the value as JSON (minijinja's own filter needs a feature that would
/// pull in more than this).
fn tojson(value: minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    serde_json::to_string(&value)
        .map(minijinja::Value::from_safe_string)
        .map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot write as JSON: {e}"),
            )
        })
}

fn error(name: &str, e: &minijinja::Error) -> TemplateError {
    let line = e.line();
    let detail = e.detail().map(str::to_string).unwrap_or_default();
    let kind = e.kind().to_string();
    let what = if detail.is_empty() {
        kind
    } else {
        format!("{kind}: {detail}")
    };
    let at = match line {
        Some(l) => format!("{name}:{l}"),
        None => name.to_string(),
    };
    TemplateError {
        message: format!("template {at}: {what}"),
        name: name.to_string(),
        line,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ports::{NodeAddresses, TaskInfo, TaskState};
    use crate::route::context::{KeyValues, Via, ZoneTasks, service_view};

    fn task(id: &str, addr: &str, host_port: Option<u16>) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state: TaskState::Running,
            desired_state: TaskState::Running,
            version: Some("1.1.0".into()),
            image: None,
            message: String::new(),
            error: None,
            exit_code: None,
            node_id: None,
            container_id: None,
            addresses: vec![addr.into()],
            host_ports: host_port.map(|p| (8080, p)).into_iter().collect(),
            updated_at: None,
            created_at: None,
        }
    }

    fn context(traffic: Option<&str>, green: Vec<TaskInfo>) -> RouteContext {
        let keys = KeyValues {
            active_zone: Some("green".into()),
            active_version: Some("1.1.0".into()),
            traffic: traffic.map(str::to_string),
        };
        let zones = vec![
            ZoneTasks {
                zone: "blue".into(),
                service_name: "demo_web-blue".into(),
                tasks: vec![task("b1", "10.0.1.2", None)],
            },
            ZoneTasks {
                zone: "green".into(),
                service_name: "demo_web-green".into(),
                tasks: green,
            },
        ];
        RouteContext {
            project: "demo".into(),
            listen: "127.0.0.1:8088".into(),
            port: 8080,
            vars: BTreeMap::new(),
            stats_syslog: None,
            haproxy_socket: None,
            caddy_admin: None,
            services: vec![service_view(
                "demo",
                "web",
                &keys,
                &zones,
                8080,
                Via::Auto,
                &NodeAddresses::default(),
            )],
        }
    }

    #[test]
    fn nginx_lists_the_weighted_servers_of_the_active_zone() {
        let r = Renderer::load(&TemplateSource::Nginx).unwrap();
        let out = r
            .render(&context(
                None,
                vec![task("g1", "10.0.1.8", None), task("g2", "10.0.1.9", None)],
            ))
            .unwrap();
        assert!(out.contains("upstream demo_web {"), "{out}");
        assert!(
            out.contains("server 10.0.1.8:8080 weight=50 max_fails=0;"),
            "{out}"
        );
        assert!(out.contains("server 10.0.1.9:8080 weight=50"), "{out}");
        assert!(!out.contains("10.0.1.2"), "{out}");
        assert!(
            out.contains("listen 127.0.0.1:8088 default_server;"),
            "{out}"
        );
        assert!(out.contains("proxy_pass http://demo_web;"), "{out}");
        // Connections to the tasks are reused: a pool per upstream, and HTTP/1.1 without
        // the client's Connection header.
        let upstream = &out[out.find("upstream demo_web {").unwrap()..];
        let upstream = &upstream[..upstream.find('}').unwrap()];
        assert!(upstream.contains("keepalive 32;"), "{out}");
        assert!(out.contains("proxy_http_version 1.1;"), "{out}");
        assert!(out.contains("proxy_set_header Connection \"\";"), "{out}");
        assert!(!out.contains("\n\n\n"), "no runs of blank lines:\n{out}");
    }

    #[test]
    fn nginx_keeps_a_valid_upstream_without_tasks() {
        let r = Renderer::load(&TemplateSource::Nginx).unwrap();
        let out = r.render(&context(None, vec![])).unwrap();
        assert!(out.contains("server 127.0.0.1:9 down;"), "{out}");
    }

    #[test]
    fn haproxy_weights_both_zones_of_a_split() {
        let r = Renderer::load(&TemplateSource::Haproxy).unwrap();
        let out = r
            .render(&context(
                Some("blue=75,green=25"),
                vec![task("g1", "10.0.1.8", Some(18090))],
            ))
            .unwrap();
        assert!(out.contains("backend demo_web"), "{out}");
        assert!(
            out.contains("server blue-1 10.0.1.2:8080 weight 75 check"),
            "{out}"
        );
        assert!(
            out.contains("server green-1 127.0.0.1:18090 weight 25 check"),
            "{out}"
        );
        // Empty slots up to four per zone, disabled.
        assert!(
            out.contains("server green-4 127.0.0.1:9 weight 0 disabled check"),
            "{out}"
        );
        assert!(!out.contains("stats socket"), "{out}");
        assert!(out.contains("bind 127.0.0.1:8088"), "{out}");
    }

    #[test]
    fn template_errors_name_the_file_and_line() {
        let e = Renderer::from_text("my.j2", "ok\n{% for s in services %}\n".into())
            .err()
            .unwrap();
        assert_eq!(e.line, Some(2));
        assert!(
            e.message.starts_with("template my.j2:2: syntax error"),
            "{e}"
        );

        let r = Renderer::from_text("my.j2", "a\nb {{ services[0].nope }}\n".into()).unwrap();
        let e = r.render(&context(None, vec![])).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("my.j2:2"), "{e}");
    }

    #[test]
    fn user_templates_see_vars_and_zones() {
        let mut ctx = context(None, vec![task("g1", "10.0.1.8", Some(18090))]);
        ctx.vars.insert("site".into(), "shop".into());
        let r = Renderer::from_text(
            "t.j2",
            "{% for s in services %}{{ vars.site }} {{ s.name }} {% for z in s.zones %}{{ z.name }}={{ z.weight }}:{% for t in z.tasks %}{{ t.address }}/{{ t.host_port }}{% endfor %} {% endfor %}{% endfor %}".into(),
        )
        .unwrap();
        assert_eq!(
            r.render(&ctx).unwrap(),
            "shop web blue=0:10.0.1.2/None green=100:10.0.1.8/18090 "
        );
    }
    #[test]
    fn the_request_log_lines_are_there_only_with_stats() {
        let mut ctx = context(Some("blue=75,green=25"), vec![task("g1", "10.0.1.8", None)]);
        for (source, expected) in [
            (
                TemplateSource::Nginx,
                "access_log syslog:server=127.0.0.1:5140,tag=shipctl,nohostname shipctl_stats;",
            ),
            (TemplateSource::Haproxy, "log 127.0.0.1:5140 local0 info"),
        ] {
            let r = Renderer::load(&source).unwrap();
            ctx.stats_syslog = None;
            let plain = r.render(&ctx).unwrap();
            assert!(!plain.contains("shipctl-stats"), "{plain}");
            ctx.stats_syslog = Some("127.0.0.1:5140".into());
            let out = r.render(&ctx).unwrap();
            assert!(out.contains(expected), "{out}");
            assert!(out.contains("shipctl-stats"), "{out}");
            assert!(!out.contains("\n\n\n"), "no runs of blank lines:\n{out}");
        }
    }

    /// The built-in templates pass the routers' own checks. Skipped where a router is not
    /// installed, except in CI, which must have both (scripts/test installs them).
    #[test]
    fn built_in_templates_pass_nginx_and_haproxy_checks() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(
            Some("blue=75,green=25"),
            vec![task("g1", "10.0.1.8", Some(18090))],
        );
        let empty = context(None, vec![]);
        let mut logging = ctx.clone();
        logging.stats_syslog = Some("127.0.0.1:5140".into());
        logging.haproxy_socket = Some(dir.path().join("haproxy.sock").display().to_string());
        let cases: [(&str, TemplateSource, &[&str]); 2] = [
            (
                "/usr/sbin/nginx",
                TemplateSource::Nginx,
                &["-t", "-q", "-c"],
            ),
            (
                "/usr/sbin/haproxy",
                TemplateSource::Haproxy,
                &["-c", "-q", "-f"],
            ),
        ];
        for (binary, source, args) in cases {
            if !std::path::Path::new(binary).exists() {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{binary} is missing: CI must install it (scripts/test does)"
                );
                eprintln!("skipping the {binary} check: not installed");
                continue;
            }
            let r = Renderer::load(&source).unwrap();
            for (i, c) in [&ctx, &empty, &logging].into_iter().enumerate() {
                let file = dir.path().join(format!("{}-{i}.conf", r.name));
                std::fs::write(&file, r.render(c).unwrap()).unwrap();
                let out = std::process::Command::new(binary)
                    .args(args)
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{binary} refused {}:\n{}\n{}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(&file).unwrap()
                );
            }
        }
    }

    /// The built-in Caddy template's output as JSON, and the dial addresses of each route.
    fn caddy_json(ctx: &RouteContext) -> (serde_json::Value, Vec<Vec<String>>) {
        let r = Renderer::load(&TemplateSource::Caddy).unwrap();
        let out = r.render(ctx).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"));
        let routes = json["apps"]["http"]["servers"]["shipctl"]["routes"]
            .as_array()
            .unwrap_or_else(|| panic!("no routes:\n{out}"))
            .iter()
            .map(|route| {
                route["handle"][0]["upstreams"]
                    .as_array()
                    .map(|u| {
                        u.iter()
                            .map(|u| u["dial"].as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        (json, routes)
    }

    #[test]
    fn caddy_proxies_a_blue_green_service_to_the_active_zone_only() {
        let mut ctx = context(
            None,
            vec![task("g1", "10.0.1.8", None), task("g2", "10.0.1.9", None)],
        );
        let (json, routes) = caddy_json(&ctx);
        assert_eq!(routes, [["10.0.1.8:8080", "10.0.1.9:8080"]]);
        let server = &json["apps"]["http"]["servers"]["shipctl"];
        assert_eq!(server["listen"], serde_json::json!(["127.0.0.1:8088"]));
        assert_eq!(server["automatic_https"]["disable"], true);
        let handler = &server["routes"][0]["handle"][0];
        assert_eq!(handler["handler"], "reverse_proxy");
        assert_eq!(
            handler["load_balancing"]["selection_policy"]["policy"],
            "round_robin"
        );
        assert_eq!(handler["load_balancing"]["retries"], 3);
        assert!(server["routes"][0].get("match").is_none(), "the default");
        assert!(json.get("admin").is_none(), "{json}");

        // The admin address stays where --caddy-admin found it; a bare port listens on all.
        ctx.caddy_admin = Some("127.0.0.1:2999".into());
        ctx.listen = "80".into();
        let (json, _) = caddy_json(&ctx);
        assert_eq!(json["admin"]["listen"], "127.0.0.1:2999");
        assert_eq!(
            json["apps"]["http"]["servers"]["shipctl"]["listen"],
            serde_json::json!([":80"])
        );
    }

    #[test]
    fn caddy_proxies_a_canary_to_both_zones_and_drops_a_zone_at_zero() {
        let ctx = context(
            Some("blue=75,green=25"),
            vec![task("g1", "10.0.1.8", Some(18090))],
        );
        let (_, routes) = caddy_json(&ctx);
        assert_eq!(routes, [["10.0.1.2:8080", "127.0.0.1:18090"]]);
        // One task each: round robin serves 50/50, not 75/25, and the router says so.
        assert_eq!(
            crate::route::caddy::served_split(&ctx.services[0]).as_deref(),
            Some("blue=50,green=50")
        );
        let even = context(Some("blue=50,green=50"), vec![task("g1", "10.0.1.8", None)]);
        assert_eq!(crate::route::caddy::served_split(&even.services[0]), None);
        let three = context(
            Some("blue=25,green=75"),
            vec![
                task("g1", "10.0.1.8", None),
                task("g2", "10.0.1.9", None),
                task("g3", "10.0.1.10", None),
            ],
        );
        assert_eq!(crate::route::caddy::served_split(&three.services[0]), None);

        let ctx = context(Some("blue=100,green=0"), vec![task("g1", "10.0.1.8", None)]);
        let (_, routes) = caddy_json(&ctx);
        assert_eq!(routes, [["10.0.1.2:8080"]]);
        assert_eq!(crate::route::caddy::served_split(&ctx.services[0]), None);
    }

    #[test]
    fn caddy_answers_503_for_a_service_without_tasks_and_routes_others_by_host() {
        let mut ctx = context(None, vec![]);
        let (json, routes) = caddy_json(&ctx);
        assert_eq!(routes, [Vec::<String>::new()]);
        let handler = &json["apps"]["http"]["servers"]["shipctl"]["routes"][0]["handle"][0];
        assert_eq!(handler["handler"], "static_response");
        assert_eq!(handler["status_code"], 503);

        let mut api = context(None, vec![task("g7", "10.0.3.7", None)]).services[0].clone();
        api.name = "api".into();
        ctx.services.push(api);
        let (json, routes) = caddy_json(&ctx);
        // The others first, matched by host; the first service last, as the default.
        assert_eq!(routes, [vec!["10.0.3.7:8080".to_string()], vec![]]);
        let first = &json["apps"]["http"]["servers"]["shipctl"]["routes"][0];
        assert_eq!(first["match"], serde_json::json!([{"host": ["api"]}]));
    }

    #[test]
    fn tojson_escapes_what_a_user_gives() {
        let mut ctx = context(None, vec![]);
        ctx.vars.insert("q".into(), "a\"b\\c".into());
        let r = Renderer::from_text(
            "t.j2",
            "{{ vars.q|tojson }} {{ services[0].port|tojson }}".into(),
        )
        .unwrap();
        assert_eq!(r.render(&ctx).unwrap(), r#""a\"b\\c" 8080"#);
    }

    /// `caddy validate` accepts every shape of the built-in template's output. Skipped where
    /// Caddy is not installed, except in CI (scripts/prepare installs it).
    #[test]
    fn caddy_validate_accepts_the_built_in_template() {
        let Some(caddy) = ["/usr/bin/caddy", "/usr/local/bin/caddy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "caddy is missing: CI must install it (scripts/prepare does)"
            );
            eprintln!("skipping the caddy check: not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut canary = context(
            Some("blue=75,green=25"),
            vec![task("g1", "10.0.1.8", Some(18090))],
        );
        canary.caddy_admin = Some("127.0.0.1:2999".into());
        let mut two = context(None, vec![]);
        let mut api = canary.services[0].clone();
        api.name = "api".into();
        two.services.push(api);
        let blue_green = context(None, vec![task("g1", "10.0.1.8", None)]);
        let r = Renderer::load(&TemplateSource::Caddy).unwrap();
        for (i, c) in [&blue_green, &canary, &two].into_iter().enumerate() {
            let file = dir.path().join(format!("caddy-{i}.json"));
            std::fs::write(&file, r.render(c).unwrap()).unwrap();
            let out = std::process::Command::new(caddy)
                .args(["validate", "--config"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "caddy refused {}:\n{}\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&file).unwrap()
            );
        }
    }
}
