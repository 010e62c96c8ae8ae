//! Integration tests of the compose loader: fixtures, merging, extends, env, errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shipctl::compose::model::{ComposeProject, MountKind, Protocol, PublishMode};
use shipctl::compose::{LoadOptions, discover, load};
use shipctl::error::Error;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn options(files: &[&str]) -> LoadOptions {
    LoadOptions {
        files: files.iter().map(PathBuf::from).collect(),
        ..LoadOptions::default()
    }
}

fn load_ok(opts: &LoadOptions) -> ComposeProject {
    match load(opts) {
        Ok(p) => p,
        Err(e) => panic!("{}", render(&e)),
    }
}

fn render(error: &Error) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(80)
        .render_report(&mut out, error)
        .expect("rendering never fails into a String");
    out
}

fn abs(path: &str) -> String {
    std::path::absolute(Path::new(path))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn full_fixture_loads_every_field() {
    let p = load_ok(&LoadOptions {
        environment: env(&[("SECRET_KEY", "from-env")]),
        ..options(&["fixtures/compose/full/compose.yaml"])
    });
    assert_eq!(p.name.as_deref(), Some("shop"));
    assert_eq!(
        p.services.keys().collect::<Vec<_>>(),
        ["web", "db", "worker"]
    );

    let web = &p.services["web"];
    assert_eq!(web.image, "registry.example.com/shop/web:1.0.0");
    assert_eq!(web.image_variables, ["IMAGE_VERSION"]);
    assert_eq!(
        web.command.as_deref().unwrap(),
        ["gunicorn", "-w", "4", "app:create_app()"]
    );
    assert_eq!(
        web.entrypoint.as_deref().unwrap(),
        ["/docker-entrypoint.sh"]
    );
    // env_file first, `environment` wins; `- SECRET_KEY` comes from the environment.
    assert_eq!(web.environment["FROM_ENV_FILE"].as_deref(), Some("yes"));
    assert_eq!(web.environment["SECRET_KEY"].as_deref(), Some("from-env"));
    assert_eq!(web.environment["EMPTY"].as_deref(), Some(""));
    assert_eq!(
        web.environment["DATABASE_URL"].as_deref(),
        Some("postgres://db/shop")
    );
    assert_eq!(web.labels["traefik.enable"], "true");

    let ports: Vec<_> = web
        .ports
        .iter()
        .map(|p| (p.published, p.target, p.protocol, p.mode, p.host_ip.clone()))
        .collect();
    assert_eq!(
        ports,
        [
            (Some(8000), 80, Protocol::Tcp, PublishMode::Ingress, None),
            (Some(8001), 81, Protocol::Tcp, PublishMode::Ingress, None),
            (
                Some(9090),
                9090,
                Protocol::Udp,
                PublishMode::Ingress,
                Some("127.0.0.1".to_string())
            ),
            (Some(8443), 443, Protocol::Tcp, PublishMode::Host, None),
        ]
    );
    assert_eq!(web.networks["front"].aliases, ["shop-web"]);
    assert!(web.networks.contains_key("back"));

    let mounts: Vec<_> = web
        .volumes
        .iter()
        .map(|m| (m.kind, m.source.clone(), m.target.as_str(), m.read_only))
        .collect();
    assert_eq!(
        mounts,
        [
            (
                MountKind::Volume,
                Some("static".to_string()),
                "/srv/static",
                true
            ),
            (
                MountKind::Bind,
                Some(abs("fixtures/compose/full/conf/nginx.conf")),
                "/etc/nginx/nginx.conf",
                true
            ),
            (
                MountKind::Bind,
                Some(abs("fixtures/compose/full/uploads")),
                "/srv/uploads",
                false
            ),
            (MountKind::Tmpfs, None, "/tmp", false),
            (MountKind::Volume, None, "/var/cache/app", false),
        ]
    );
    assert_eq!(web.secrets[0].source, "db_password");
    assert_eq!(web.secrets[1].target.as_deref(), Some("/run/secrets/api"));
    assert_eq!(web.secrets[1].mode, Some(0o440));
    assert_eq!(web.secrets[1].uid.as_deref(), Some("1000"));
    assert_eq!(web.configs[0].source, "nginx_conf");

    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test,
        ["CMD-SHELL", "curl -fsS http://localhost/health || exit 1"]
    );
    assert_eq!(hc.interval, Some(Duration::from_secs(10)));
    assert_eq!(hc.timeout, Some(Duration::from_secs(3)));
    assert_eq!(hc.retries, Some(3));
    assert_eq!(hc.start_period, Some(Duration::from_secs(90)));

    let d = &web.deploy;
    assert_eq!(d.replicas, Some(3));
    assert_eq!(d.mode.as_deref(), Some("replicated"));
    assert_eq!(d.labels["com.example.tier"], "frontend");
    let limits = d.resources.limits.as_ref().unwrap();
    assert_eq!(limits.nano_cpus, Some(500_000_000));
    assert_eq!(limits.memory_bytes, Some(512 * 1024 * 1024));
    assert_eq!(limits.pids, Some(100));
    let reservations = d.resources.reservations.as_ref().unwrap();
    assert_eq!(reservations.nano_cpus, Some(250_000_000));
    assert_eq!(reservations.memory_bytes, Some(128 * 1024 * 1024));
    assert_eq!(d.placement.constraints, ["node.role == worker"]);
    assert_eq!(d.placement.preferences, ["node.labels.zone"]);
    assert_eq!(d.placement.max_replicas_per_node, Some(2));
    let rp = d.restart_policy.as_ref().unwrap();
    assert_eq!(rp.condition, "on-failure");
    assert_eq!(rp.delay, Some(Duration::from_secs(5)));
    assert_eq!(rp.max_attempts, Some(3));
    assert_eq!(rp.window, Some(Duration::from_secs(120)));
    let uc = d.update_config.as_ref().unwrap();
    assert_eq!(uc.parallelism, Some(1));
    assert_eq!(uc.failure_action.as_deref(), Some("rollback"));
    assert_eq!(uc.monitor, Some(Duration::from_secs(30)));
    assert_eq!(uc.max_failure_ratio, Some(0.1));
    assert_eq!(uc.order.as_deref(), Some("start-first"));
    assert_eq!(
        d.rollback_config.as_ref().unwrap().order.as_deref(),
        Some("stop-first")
    );

    assert_eq!(web.working_dir.as_deref(), Some("/srv"));
    assert_eq!(web.user.as_deref(), Some("1000:1000"));
    assert_eq!(web.hostname.as_deref(), Some("web"));
    assert_eq!(web.stop_grace_period, Some(Duration::from_secs(60)));
    assert_eq!(web.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(
        (web.init, web.tty, web.read_only),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(web.extra_hosts, ["somehost:162.242.195.82"]);
    assert_eq!(web.dns, ["8.8.8.8"]);
    assert_eq!(web.cap_add, ["NET_ADMIN"]);
    assert_eq!(web.cap_drop, ["ALL"]);
    assert_eq!(web.extensions["x-shipctl"]["probe"], "/health");
    let logging = web.logging.as_ref().unwrap();
    assert_eq!(logging.driver.as_deref(), Some("json-file"));
    assert_eq!(logging.options["max-size"], "10m");

    let db = &p.services["db"];
    assert!(db.image_variables.is_empty());
    assert_eq!(
        db.healthcheck.as_ref().unwrap().test,
        ["CMD-SHELL", "pg_isready -U postgres"]
    );
    assert_eq!(db.environment["POSTGRES_DB"].as_deref(), Some("shop"));

    let worker = &p.services["worker"];
    assert_eq!(worker.deploy.replicas, Some(2));
    let limits = worker.deploy.resources.limits.as_ref().unwrap();
    assert_eq!(limits.memory_bytes, Some(1 << 30));
    assert_eq!(limits.nano_cpus, Some(1_500_000_000));
    assert_eq!(worker.healthcheck.as_ref().unwrap().test, ["NONE"]);

    assert!(p.networks["front"].attachable);
    assert!(p.networks["back"].internal);
    assert!(!p.networks["back"].external);
    assert_eq!(p.volumes["static"].labels["com.example.purpose"], "static");
    assert!(p.volumes.contains_key("pgdata"));
    assert_eq!(
        p.secrets["db_password"].file.as_deref(),
        Some(abs("fixtures/compose/full/secrets/db_password.txt").as_str())
    );
    assert!(p.secrets["api_key"].external);
    assert_eq!(
        p.secrets["api_key"].name.as_deref(),
        Some("shop_api_key_v2")
    );

    // Fields Swarm ignores are warnings naming file and line.
    let w = p.warnings.join("\n");
    // `depends_on` is not ignored: a release gates `db` before `web`.
    assert!(!w.contains("depends_on"), "{w}");
    assert_eq!(p.services["web"].depends_on, ["db"]);
    assert!(
        w.contains("`restart` is ignored by Swarm: use `deploy.restart_policy`"),
        "{w}"
    );
}

#[test]
fn files_merge_like_docker_compose() {
    let p = load_ok(&options(&[
        "fixtures/compose/merge/compose.yaml",
        "fixtures/compose/merge/overrides/prod.yaml",
    ]));
    assert_eq!(
        p.services.keys().collect::<Vec<_>>(),
        ["web", "db", "cache"]
    );
    let web = &p.services["web"];
    // Replaced.
    assert_eq!(web.image, "example/web:2.0");
    assert_eq!(
        web.command.as_deref().unwrap(),
        ["serve", "--port", "8080", "--prod"]
    );
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD", "wget", "-qO-", "http://localhost/health"]);
    // healthcheck is otherwise merged.
    assert_eq!(hc.interval, Some(Duration::from_secs(30)));
    assert_eq!(hc.timeout, Some(Duration::from_secs(5)));
    assert_eq!(hc.retries, Some(3));
    // Merged by key, whatever the form.
    let env: Vec<_> = web
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref().unwrap()))
        .collect();
    assert_eq!(
        env,
        [("LOG_LEVEL", "warn"), ("REGION", "eu"), ("SENTRY", "on")]
    );
    assert_eq!(web.labels["tier"], "edge");
    assert_eq!(web.labels["canary"], "false");
    assert_eq!(web.deploy.labels["team"], "web");
    assert_eq!(web.deploy.labels["region"], "eu");
    assert_eq!(web.deploy.replicas, Some(6));
    // Ports de-duplicated, appended.
    let ports: Vec<_> = web.ports.iter().map(|p| (p.published, p.target)).collect();
    assert_eq!(ports, [(Some(8080), 80), (Some(9090), 9090)]);
    // Volumes by target; the override's relative path is relative to its own directory.
    let mounts: Vec<_> = web
        .volumes
        .iter()
        .map(|m| (m.source.clone().unwrap(), m.target.as_str()))
        .collect();
    assert_eq!(
        mounts,
        [
            (abs("fixtures/compose/merge/overrides/cache"), "/data"),
            (abs("fixtures/compose/merge/static"), "/srv/static"),
        ]
    );
    // Secrets by target.
    assert_eq!(web.secrets.len(), 2);
    assert_eq!(
        (web.secrets[0].source.as_str(), web.secrets[0].mode),
        ("api_key", Some(0o400))
    );
    assert_eq!(web.secrets[1].source, "tls");
    // Lists appended without repeats.
    assert_eq!(web.dns, ["1.1.1.1", "8.8.8.8"]);
    assert_eq!(web.cap_add, ["NET_ADMIN", "SYS_TIME"]);
    assert_eq!(
        web.deploy.placement.constraints,
        ["node.role == worker", "node.labels.ssd == true"]
    );
    // Networks by name.
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), ["front", "back"]);
    assert_eq!(web.networks["back"].aliases, ["web-internal"]);
    // Top-level sections merged; file paths relative to the file that declares them.
    assert_eq!(p.networks.keys().collect::<Vec<_>>(), ["front", "back"]);
    assert_eq!(
        p.secrets["api_key"].file.as_deref(),
        Some(abs("fixtures/compose/merge/api_key.txt").as_str())
    );
    assert_eq!(
        p.secrets["tls"].file.as_deref(),
        Some(abs("fixtures/compose/merge/overrides/tls.pem").as_str())
    );
}

#[test]
fn extends_in_the_same_file_and_from_another_file() {
    let p = load_ok(&options(&["fixtures/compose/extends/compose.yaml"]));
    let web = &p.services["web"];
    assert_eq!(web.image, "example/web:1");
    assert_eq!(web.labels["role"], "web");
    assert_eq!(web.environment["COMMON"].as_deref(), Some("1"));
    assert_eq!(web.environment["FROM_BASE_ENV"].as_deref(), Some("1"));
    assert_eq!(web.deploy.replicas, Some(2));
    let limits = web.deploy.resources.limits.as_ref().unwrap();
    assert_eq!(limits.memory_bytes, Some(256 << 20));
    assert_eq!(limits.nano_cpus, Some(500_000_000));

    // Two levels: web-blue -> web -> base.
    let blue = &p.services["web-blue"];
    assert_eq!(blue.image, "example/web:1");
    assert_eq!(blue.environment["ZONE"].as_deref(), Some("blue"));
    assert_eq!(blue.environment["COMMON"].as_deref(), Some("1"));
    assert_eq!(blue.deploy.replicas, Some(2));

    // From another file, which itself extends; its paths stay relative to it.
    let api = &p.services["api"];
    assert_eq!(api.image, "example/api:dev");
    assert_eq!(api.image_variables, ["IMAGE_VERSION"]);
    assert_eq!(api.command.as_deref().unwrap(), ["api", "--serve"]);
    assert_eq!(api.environment["API_ENV"].as_deref(), Some("from-common"));
    assert_eq!(
        api.volumes[0].source.as_deref(),
        Some(abs("fixtures/compose/extends/common/config").as_str())
    );
    let hc = api.healthcheck.as_ref().unwrap();
    assert_eq!(hc.interval, Some(Duration::from_secs(15)));
    // The base services are services too, as in Compose.
    assert!(p.services.contains_key("base"));
}

#[test]
fn variables_come_from_overrides_then_environment_then_dotenv() {
    let base = options(&["fixtures/compose/env/compose.yaml"]);
    let p = load_ok(&base);
    let web = &p.services["web"];
    assert_eq!(web.image, "example/web:0.9.0");
    assert_eq!(web.environment["FROM_DOTENV"].as_deref(), Some("dotenv"));
    assert_eq!(web.environment["PRECEDENCE"].as_deref(), Some("dotenv"));
    assert_eq!(web.environment["DEFAULTED"].as_deref(), Some("fallback"));
    assert_eq!(web.environment["ESCAPED"].as_deref(), Some("$HOME"));
    assert_eq!(
        web.environment["COMPOSITE"].as_deref(),
        Some("dotenv-dotenv")
    );
    assert_eq!(
        web.environment["QUOTED"].as_deref(),
        Some("a b # not a comment")
    );
    // An interpolated number is still a number.
    assert_eq!(web.deploy.replicas, Some(4));

    let p = load_ok(&LoadOptions {
        environment: env(&[("PRECEDENCE", "env"), ("IMAGE_VERSION", "1.0.0")]),
        ..base.clone()
    });
    assert_eq!(
        p.services["web"].environment["PRECEDENCE"].as_deref(),
        Some("env")
    );
    assert_eq!(p.services["web"].image, "example/web:1.0.0");

    let p = load_ok(&LoadOptions {
        environment: env(&[("IMAGE_VERSION", "1.0.0")]),
        overrides: env(&[("IMAGE_VERSION", "1.4.2"), ("BLUE_IMAGE_VERSION", "1.4.3")]),
        ..base.clone()
    });
    assert_eq!(p.services["web"].image, "example/web:1.4.2");
    assert_eq!(p.services["web-blue"].image, "example/web:1.4.3");
    assert_eq!(
        p.services["web-blue"].image_variables,
        ["BLUE_IMAGE_VERSION", "IMAGE_VERSION"]
    );

    // --env-file replaces .env.
    let p = load_ok(&LoadOptions {
        env_file: Some("fixtures/compose/env/other.env".into()),
        ..base.clone()
    });
    assert_eq!(p.services["web"].image, "example/web:0.1.0");
    assert_eq!(
        p.services["web"].environment["FROM_DOTENV"].as_deref(),
        Some("other")
    );

    // A missing --env-file is an input error.
    let err = load(&LoadOptions {
        env_file: Some("fixtures/compose/env/missing.env".into()),
        ..base
    })
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(render(&err).contains("missing.env"));
}

#[test]
fn project_dir_decides_where_dotenv_is_read() {
    let p = load_ok(&LoadOptions {
        project_dir: Some("fixtures/compose/full".into()),
        ..options(&["fixtures/compose/env/compose.yaml"])
    });
    // full/.env sets IMAGE_VERSION=1.0.0; env/.env is not read.
    assert_eq!(p.services["web"].image, "example/web:1.0.0");
    assert_eq!(
        p.services["web"].environment["FROM_DOTENV"].as_deref(),
        Some("")
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("the variable `FROM_DOTENV` is not set")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn discover_finds_default_files_and_overrides() {
    let dir = Path::new("fixtures/compose/discover");
    let files = discover(dir, &HashMap::new()).unwrap();
    assert_eq!(
        files,
        [dir.join("compose.yaml"), dir.join("compose.override.yaml")]
    );
    // From a subdirectory, the nearest parent with a compose file.
    let files = discover(&dir.join("nested/deeper"), &HashMap::new()).unwrap();
    assert_eq!(
        files[0],
        std::path::absolute(dir.join("compose.yaml")).unwrap()
    );
    let p = load_ok(&LoadOptions {
        files,
        ..LoadOptions::default()
    });
    assert_eq!(p.services["web"].deploy.replicas, Some(2));

    // COMPOSE_FILE, with the default and a custom separator.
    let dir = Path::new("fixtures/compose/discover-env");
    let files = discover(dir, &env(&[("COMPOSE_FILE", "one.yaml:two.yaml")])).unwrap();
    assert_eq!(files, [dir.join("one.yaml"), dir.join("two.yaml")]);
    let files = discover(
        dir,
        &env(&[
            ("COMPOSE_FILE", "one.yaml;two.yaml"),
            ("COMPOSE_PATH_SEPARATOR", ";"),
        ]),
    )
    .unwrap();
    assert_eq!(files.len(), 2);
    let p = load_ok(&LoadOptions {
        files,
        ..LoadOptions::default()
    });
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["a", "b"]);

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(discover(empty.path(), &HashMap::new()), None);
}

fn real_world(name: &str) -> ComposeProject {
    load_ok(&LoadOptions {
        environment: env(&[("HOME", "/home/ops")]),
        ..options(&[&format!("fixtures/compose/real-world/{name}")])
    })
}

#[test]
fn every_real_world_file_loads() {
    let mut count = 0;
    for entry in std::fs::read_dir("fixtures/compose/real-world").unwrap() {
        let path = entry.unwrap().path();
        let first_line = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            first_line.starts_with("# Origin: github.com/"),
            "{}: the first line names where the file comes from",
            path.display()
        );
        let p = real_world(&path.file_name().unwrap().to_string_lossy());
        assert!(!p.services.is_empty(), "{}", path.display());
        for svc in p.services.values() {
            assert!(!svc.image.is_empty(), "{}: {}", path.display(), svc.name);
        }
        count += 1;
    }
    assert!(count >= 15, "{count} real-world files");
}

#[test]
fn real_world_voting_app_stack() {
    let p = real_world("voting-app-stack.yml");
    assert_eq!(
        p.services.keys().collect::<Vec<_>>(),
        ["redis", "db", "vote", "result", "worker", "visualizer"]
    );
    assert_eq!(p.services["redis"].image, "redis:alpine");
    assert_eq!(p.services["redis"].deploy.replicas, Some(2));
    assert_eq!(
        p.services["redis"].ports[0].target, 6379,
        "a bare port publishes nothing"
    );
    assert_eq!(p.services["redis"].ports[0].published, None);
    assert_eq!(p.services["vote"].ports[0].published, Some(5000));
    assert_eq!(p.services["vote"].ports[0].target, 80);
    let worker = &p.services["worker"];
    assert_eq!(worker.deploy.replicas, Some(1));
    assert_eq!(worker.deploy.labels["APP"], "VOTING");
    let rp = worker.deploy.restart_policy.as_ref().unwrap();
    assert_eq!(
        (rp.max_attempts, rp.window),
        (Some(3), Some(Duration::from_secs(120)))
    );
    assert_eq!(
        p.services["db"].deploy.placement.constraints,
        ["node.role == manager"]
    );
    assert_eq!(
        p.services["visualizer"].stop_grace_period,
        Some(Duration::from_secs(90))
    );
    assert_eq!(p.services["visualizer"].volumes[0].kind, MountKind::Bind);
    assert_eq!(p.services["vote"].depends_on, ["redis"]);
    assert_eq!(p.services["result"].depends_on, ["db"]);
    assert_eq!(p.networks.len(), 2);
    assert!(p.volumes.contains_key("db-data"));
}

#[test]
fn real_world_swarmprom() {
    let p = real_world("swarmprom.yml");
    assert_eq!(p.services.len(), 6);
    assert_eq!(
        p.services["cadvisor"].command.as_deref().unwrap(),
        ["-logtostderr", "-docker_only"]
    );
    assert_eq!(
        p.services["cadvisor"].deploy.mode.as_deref(),
        Some("global")
    );
    assert_eq!(p.services["grafana"].deploy.replicas, Some(1));
    assert_eq!(
        p.services["grafana"].environment["GF_SECURITY_ADMIN_USER"].as_deref(),
        Some("admin")
    );
    // `{{.Node.ID}}` is a Swarm template, not an interpolation.
    assert_eq!(
        p.services["node-exporter"].environment["NODE_ID"].as_deref(),
        Some("{{.Node.ID}}")
    );
    // `$$` is a literal `$`.
    assert!(p.services["node-exporter"].command.as_ref().unwrap()[3].ends_with("($|/)"));
    assert_eq!(
        p.services["caddy"].configs[0].target.as_deref(),
        Some("/etc/caddy/Caddyfile")
    );
    let ports: Vec<_> = p.services["caddy"]
        .ports
        .iter()
        .map(|p| p.published)
        .collect();
    assert_eq!(ports, [Some(3000), Some(9090), Some(9093)]);
    assert!(p.networks["net"].attachable);
    assert!(
        p.configs["caddy_config"]
            .file
            .as_deref()
            .unwrap()
            .ends_with("real-world/caddy/Caddyfile")
    );
}

#[test]
fn real_world_v2_gitlab() {
    let p = real_world("gitlab-v2.yml");
    let gitlab = &p.services["gitlab"];
    assert_eq!(gitlab.image, "sameersbn/gitlab:10.6.1");
    assert_eq!(gitlab.environment["DB_HOST"].as_deref(), Some("postgresql"));
    assert_eq!(
        gitlab.environment["GITLAB_ROOT_PASSWORD"].as_deref(),
        Some("")
    );
    // A list item is taken verbatim: the quotes stay.
    assert_eq!(
        gitlab.environment["OAUTH_SAML_LABEL"].as_deref(),
        Some("\"Our SAML Provider\"")
    );
    let ports: Vec<_> = gitlab
        .ports
        .iter()
        .map(|p| (p.published, p.target))
        .collect();
    assert_eq!(ports, [(Some(10080), 80), (Some(10022), 22)]);
    assert_eq!(
        p.services["redis"].command.as_deref().unwrap(),
        ["--loglevel warning"]
    );
    assert_eq!(
        p.services.keys().collect::<Vec<_>>(),
        ["redis", "postgresql", "gitlab"]
    );
}

#[test]
fn real_world_portainer_and_traefik_stacks() {
    let p = real_world("portainer-agent-stack.yml");
    assert_eq!(p.services["agent"].deploy.mode.as_deref(), Some("global"));
    assert_eq!(
        p.services["portainer"].command.as_deref().unwrap(),
        ["-H", "tcp://tasks.agent:9001", "--tlsskipverify"]
    );
    assert_eq!(p.services["portainer"].ports.len(), 3);
    assert_eq!(p.volumes["portainer_data"].driver_opts["type"], "nfs4");

    let p = real_world("traefik-two-tiers-stack.yml");
    let webapp = &p.services["webapp"];
    assert_eq!(webapp.deploy.labels["traefik.backend"], "webapp");
    assert_eq!(webapp.extra_hosts.len(), 3);
    assert_eq!(
        p.services["fronttier"]
            .deploy
            .restart_policy
            .as_ref()
            .unwrap()
            .condition,
        "any"
    );
    assert_eq!(p.services["fronttier"].labels["traefik.enable"], "false");
}

#[test]
fn real_world_small_files() {
    let p = real_world("minecraft.yaml");
    let mc = &p.services["minecraft"];
    assert_eq!(
        mc.deploy.resources.limits.as_ref().unwrap().memory_bytes,
        Some((1.5 * 1024.0 * 1024.0 * 1024.0) as i64)
    );
    // `~` is the home directory of the environment given to the loader.
    assert_eq!(
        mc.volumes[0].source.as_deref(),
        Some("/home/ops/minecraft_data")
    );
    assert_eq!(mc.environment["EULA"].as_deref(), Some("TRUE"));

    let p = real_world("elasticsearch-logstash-kibana.yaml");
    let logstash = &p.services["logstash"];
    let protocols: Vec<_> = logstash.ports.iter().take(2).map(|p| p.protocol).collect();
    assert_eq!(protocols, [Protocol::Tcp, Protocol::Udp]);
    assert_eq!(
        p.services["elasticsearch"].environment["discovery.type"].as_deref(),
        Some("single-node")
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("`container_name` is ignored"))
    );

    let p = real_world("pihole-cloudflared.yaml");
    assert_eq!(p.services["pihole"].ports.len(), 5);
    assert_eq!(
        p.services["pihole"].environment["PIHOLE_DNS_"].as_deref(),
        // A YAML comment starts at ` #`, not at a `#` inside a word.
        Some("172.20.0.2#5054;1.1.1.1")
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("`TIMEZONE` is not set"))
    );
    assert!(
        p.warnings.iter().any(|w| w.contains(
            "pihole-cloudflared.yaml:17: `services.cloudflared.networks.dns-net.ipv4_address` is not applied"
        )),
        "{:#?}",
        p.warnings
    );

    let p = real_world("wordpress-stack.yml");
    assert_eq!(p.services["wordpress"].image, "wordpress");
    assert_eq!(p.services["mysql"].image, "mysql:5.7");
}

/// Writes `files` into a new temporary directory.
fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn load_in(
    dir: &tempfile::TempDir,
    files: &[&str],
    vars: &[(&str, &str)],
) -> Result<ComposeProject, Error> {
    load(&LoadOptions {
        files: files.iter().map(|f| dir.path().join(f)).collect(),
        environment: env(vars),
        ..LoadOptions::default()
    })
}

#[test]
fn interpolated_values_keep_their_types() {
    let dir = scratch(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    read_only: ${RO:-true}\n    ports: [\"${PORT}:80\"]\n    deploy:\n      replicas: ${N}\n      resources:\n        limits: {cpus: '${CPUS}', memory: '${MEM}'}\n    healthcheck:\n      interval: ${EVERY:-15s}\n      retries: ${RETRIES:-2}\n",
    )]);
    let p = load_in(
        &dir,
        &["compose.yaml"],
        &[
            ("PORT", "8081"),
            ("N", "5"),
            ("CPUS", "1.25"),
            ("MEM", "2g"),
        ],
    )
    .unwrap();
    let web = &p.services["web"];
    assert_eq!(web.read_only, Some(true));
    assert_eq!(web.ports[0].published, Some(8081));
    assert_eq!(web.deploy.replicas, Some(5));
    let limits = web.deploy.resources.limits.as_ref().unwrap();
    assert_eq!(limits.nano_cpus, Some(1_250_000_000));
    assert_eq!(limits.memory_bytes, Some(2 << 30));
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.interval, Some(Duration::from_secs(15)));
    assert_eq!(hc.retries, Some(2));
}

#[test]
fn external_resources_in_every_syntax() {
    let dir = scratch(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    networks: [proxy, default]\n    volumes: [certs:/certs]\n    secrets: [tls]\n    configs: [{source: site, target: /etc/site.conf, mode: 0444}]\nnetworks:\n  proxy:\n    external: {name: traefik_proxy}\nvolumes:\n  certs:\n    external: true\n    name: shared_certs\nsecrets:\n  tls:\n    external:\n      name: tls_v3\nconfigs:\n  site:\n    name: site_v2\n    file: ./site.conf\n",
    )]);
    let p = load_in(&dir, &["compose.yaml"], &[]).unwrap();
    assert!(p.networks["proxy"].external);
    assert_eq!(p.networks["proxy"].name.as_deref(), Some("traefik_proxy"));
    assert!(p.volumes["certs"].external);
    assert_eq!(p.volumes["certs"].name.as_deref(), Some("shared_certs"));
    assert!(p.secrets["tls"].external);
    assert_eq!(p.secrets["tls"].name.as_deref(), Some("tls_v3"));
    assert_eq!(p.configs["site"].name.as_deref(), Some("site_v2"));
    let site = &p.services["web"].configs[0];
    assert_eq!(site.mode, Some(0o444));
    // `default` needs no declaration.
    assert!(p.services["web"].networks.contains_key("default"));
}

#[test]
fn extends_errors_point_at_the_extends() {
    let dir = scratch(&[
        (
            "compose.yaml",
            "services:\n  web:\n    extends: {file: missing.yaml, service: base}\n  api:\n    extends: {file: other.yaml, service: one}\n",
        ),
        (
            "other.yaml",
            "services:\n  one:\n    image: x\n    extends: {file: compose.yaml, service: api}\n",
        ),
    ]);
    let err = load_in(&dir, &["compose.yaml"], &[]).unwrap_err();
    let Error::Inputs(errors) = &err else {
        panic!("expected several errors: {}", render(&err));
    };
    assert_eq!(errors.len(), 2, "{}", render(&err));
    assert!(
        errors[0].message.contains("cannot read compose file"),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[0].span.as_ref().map(|s| s.line), Some(3));
    assert!(
        errors[1]
            .message
            .contains("`extends` cycle: api -> one -> api"),
        "{}",
        errors[1].message
    );
}

#[test]
fn no_files_is_a_usage_error() {
    let err = load(&LoadOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(matches!(err, Error::Usage { .. }));
}

#[test]
fn a_missing_file_is_an_input_error() {
    let err = load(&options(&["fixtures/compose/nope.yaml"])).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(render(&err).contains("cannot read compose file `fixtures/compose/nope.yaml`"));
}

#[test]
fn empty_and_serviceless_files() {
    let dir = scratch(&[
        ("empty.yaml", ""),
        ("base.yaml", "services:\n  web:\n    image: nginx\n"),
        ("nets.yaml", "networks:\n  extra:\n"),
    ]);
    // An override may hold no services; a project needs some.
    let p = load_in(&dir, &["base.yaml", "empty.yaml", "nets.yaml"], &[]).unwrap();
    assert!(p.networks.contains_key("extra"));
    let err = load_in(&dir, &["empty.yaml"], &[]).unwrap_err();
    assert!(render(&err).contains("no services defined"));
}

#[test]
fn project_model_serialises_for_plans() {
    let p = load_ok(&LoadOptions {
        environment: env(&[("SECRET_KEY", "s")]),
        ..options(&["fixtures/compose/full/compose.yaml"])
    });
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(
        json["services"]["web"]["image_variables"][0],
        "IMAGE_VERSION"
    );
    assert_eq!(json["services"]["web"]["stop_grace_period"], "1m");
    assert!(json["services"]["db"].get("image_variables").is_none());
    let back: ComposeProject = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
}

#[test]
fn discover_reads_compose_file_from_dotenv() {
    let dir = Path::new("fixtures/compose/discover-dotenv");
    let files = discover(dir, &HashMap::new()).unwrap();
    assert_eq!(files, [dir.join("one.yaml"), dir.join("two.yaml")]);
    // The environment wins over `.env`.
    let files = discover(dir, &env(&[("COMPOSE_FILE", "one.yaml")])).unwrap();
    assert_eq!(files, [dir.join("one.yaml")]);
    let vars = shipctl::compose::project_env(&LoadOptions {
        files,
        ..LoadOptions::default()
    })
    .unwrap();
    assert_eq!(vars["COMPOSE_PROJECT_NAME"], "from-dotenv");
}

/// Every file of the invalid corpus fails with a message naming file, line and column; the
/// rendered message is snapshotted.
#[test]
fn invalid_files_are_rejected_with_located_messages() {
    let mut files: Vec<PathBuf> = std::fs::read_dir("fixtures/invalid/compose")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let result = load(&LoadOptions {
            files: vec![path.clone()],
            ..LoadOptions::default()
        });
        let err = match result {
            Ok(_) => panic!("{} loaded but should not", path.display()),
            Err(e) => e,
        };
        assert_eq!(err.exit_code(), 2, "{name}");
        let rendered = render(&err);
        let location = format!("{}:", path.display());
        assert!(
            rendered.contains(&location),
            "{name}: no file:line:column in\n{rendered}"
        );
        insta::assert_snapshot!(format!("invalid_{name}"), rendered);
    }
}

#[test]
fn null_sections_mean_absent() {
    let dir = scratch(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    healthcheck:\n    logging:\n    labels:\n    ports:\n    command:\n    deploy:\n      resources:\n      placement:\n      restart_policy:\n      update_config:\n",
    )]);
    let p = load_in(&dir, &["compose.yaml"], &[]).unwrap();
    let web = &p.services["web"];
    assert!(web.healthcheck.is_none() && web.logging.is_none() && web.command.is_none());
    assert!(web.deploy.restart_policy.is_none() && web.deploy.update_config.is_none());
}

#[test]
fn problems_of_every_file_are_reported_together() {
    let dir = scratch(&[
        (
            "a.yaml",
            "services:\n  web:\n    image: ${A:?A is needed}\n",
        ),
        ("b.yaml", "services:\n  web:\n    user: ${B:?B is needed}\n"),
    ]);
    let err = load_in(&dir, &["a.yaml", "b.yaml"], &[]).unwrap_err();
    let Error::Inputs(errors) = &err else {
        panic!("{}", render(&err));
    };
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "required variable `A` is missing a value: A is needed",
            "required variable `B` is missing a value: B is needed"
        ]
    );
}

#[test]
fn reset_and_override_tags_across_files_and_extends() {
    let dir = scratch(&[
        (
            "compose.yaml",
            "services:\n  base:\n    image: app:1\n    ports: ['8080:80']\n    cap_add: [NET_ADMIN]\n  web:\n    extends: base\n    cap_add: !reset []\n",
        ),
        (
            "prod.yaml",
            "services:\n  base:\n    ports: !override ['9090:80']\n  web:\n    ports: !reset []\n",
        ),
    ]);
    let p = load_in(&dir, &["compose.yaml", "prod.yaml"], &[]).unwrap();
    let base = &p.services["base"];
    assert_eq!(base.ports.len(), 1);
    assert_eq!(base.ports[0].published, Some(9090));
    assert_eq!(base.cap_add, ["NET_ADMIN"]);
    let web = &p.services["web"];
    assert!(web.ports.is_empty());
    assert!(web.cap_add.is_empty());
}

#[test]
fn include_adds_services_and_resources() {
    let p = load_ok(&options(&["fixtures/compose/include/compose.yaml"]));
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["web", "db"]);
    assert!(p.networks.contains_key("back"));
    assert!(p.volumes.contains_key("pgdata"));
    // Relative to the included file.
    assert_eq!(
        p.services["db"].volumes[0].source.as_deref(),
        Some(abs("fixtures/compose/include/db/init").as_str())
    );
}

#[test]
fn include_conflicts_and_cycles_are_errors() {
    let dir = scratch(&[
        (
            "compose.yaml",
            "include: [other.yaml]\nservices:\n  web:\n    image: a\n",
        ),
        (
            "other.yaml",
            "include: [{path: compose.yaml}]\nservices:\n  web:\n    image: b\n",
        ),
        (
            "dup.yaml",
            "include: [one.yaml]\nservices:\n  web:\n    image: a\n",
        ),
        ("one.yaml", "services:\n  web:\n    image: b\n"),
    ]);
    let err = load_in(&dir, &["compose.yaml"], &[]).unwrap_err();
    assert!(render(&err).contains("includes itself"), "{}", render(&err));
    let err = load_in(&dir, &["dup.yaml"], &[]).unwrap_err();
    let text = render(&err);
    assert!(
        text.contains("`services.web` is defined here and in the included"),
        "{text}"
    );
}
