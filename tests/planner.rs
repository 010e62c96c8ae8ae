//! Plans for every strategy and starting state, snapshotted as text and as JSON.

use std::path::Path;

use indexmap::IndexMap;
use proptest::prelude::*;

use shipctl::compose::ComposeProject;
use shipctl::compose::model::{
    FileReference, Mount, MountKind, Network, Port, Protocol, PublishMode, SecretOrConfig, Service,
    ServiceNetwork,
};
use shipctl::plan::{self, Action, Plan, PlanRequest, assume};
use shipctl::spec::model::CanaryStep;
use shipctl::spec::{Overrides, Spec, Strategy};
use shipctl::ui::plan_text::render_plan;

fn service(name: &str, image: &str, replicas: Option<u64>) -> Service {
    let mut s = Service {
        name: name.to_string(),
        image: image.to_string(),
        ..Service::default()
    };
    s.deploy.replicas = replicas;
    s
}

/// `web` from `registry.example.com:5000/shop/web:1.3.0` with `replicas` replicas.
fn web(replicas: Option<u64>) -> ComposeProject {
    let mut p = ComposeProject::default();
    p.services.insert(
        "web".into(),
        service("web", "registry.example.com:5000/shop/web:1.3.0", replicas),
    );
    p
}

fn spec_with(strategy: Strategy) -> Spec {
    let mut spec = Spec::default();
    spec.defaults.strategy = strategy;
    spec
}

struct Case<'a> {
    compose: &'a ComposeProject,
    spec: &'a Spec,
    overrides: Overrides,
    state: &'a str,
    services: Vec<String>,
    version: Option<&'a str>,
}

impl<'a> Case<'a> {
    fn new(compose: &'a ComposeProject, spec: &'a Spec, state: &'a str) -> Case<'a> {
        Case {
            compose,
            spec,
            overrides: Overrides::default(),
            state,
            services: Vec::new(),
            version: Some("1.4.2"),
        }
    }

    fn run(&self, f: fn(&PlanRequest) -> Result<Plan, shipctl::error::Error>) -> Plan {
        self.try_run(f).expect("plannable")
    }

    fn try_run(
        &self,
        f: fn(&PlanRequest) -> Result<Plan, shipctl::error::Error>,
    ) -> Result<Plan, shipctl::error::Error> {
        let observed =
            assume::observed_state(self.state, "demo", self.compose, self.spec, &self.services)?;
        let req = PlanRequest {
            project: "demo".into(),
            compose: self.compose,
            spec: self.spec,
            overrides: &self.overrides,
            observed: &observed,
            services: &self.services,
            version: self.version.map(str::to_string),
        };
        f(&req)
    }
}

fn snapshot(name: &str, plan: &Plan) {
    // A saved plan is applied later: it must read back exactly.
    let json = serde_json::to_string(plan).expect("a plan serialises");
    let back: Plan = serde_json::from_str(&json).expect("a saved plan reads back");
    assert_eq!(&back, plan, "{name}: JSON round trip");
    insta::assert_snapshot!(format!("{name}_text"), render_plan(plan));
    insta::assert_json_snapshot!(format!("{name}_json"), plan);
}

#[test]
fn blue_green_first_deploy() {
    let c = web(Some(3));
    let spec = Spec::default();
    let plan = Case::new(&c, &spec, "none").run(plan::plan);
    let sp = &plan.services[0];
    assert_eq!(sp.to.zone, "blue");
    assert!(sp.from.is_none());
    assert!(
        !sp.steps
            .iter()
            .any(|s| matches!(s.action, Action::WaitDrain { .. }))
    );
    snapshot("blue_green_first_deploy", &plan);
}

#[test]
fn blue_green_blue_active() {
    let c = web(Some(3));
    let spec = Spec::default();
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let sp = &plan.services[0];
    assert_eq!(sp.to.zone, "green");
    assert_eq!(
        sp.definition.image,
        "registry.example.com:5000/shop/web:1.4.2"
    );
    snapshot("blue_green_blue_active", &plan);
}

#[test]
fn blue_green_green_active() {
    let c = web(Some(3));
    let spec = Spec::default();
    let plan = Case::new(&c, &spec, "green@1.3.0").run(plan::plan);
    assert_eq!(plan.services[0].to.zone, "blue");
    snapshot("blue_green_green_active", &plan);
}

#[test]
fn blue_green_no_change() {
    let c = web(Some(3));
    let spec = Spec::default();
    let plan = Case::new(&c, &spec, "blue@1.4.2").run(plan::plan);
    let sp = &plan.services[0];
    assert!(sp.up_to_date);
    assert!(sp.steps.is_empty());
    snapshot("blue_green_no_change", &plan);
}

#[test]
fn blue_green_version_from_the_image_tag() {
    let c = web(Some(2));
    let spec = Spec::default();
    let mut case = Case::new(&c, &spec, "blue@1.2.0");
    case.version = None;
    let plan = case.run(plan::plan);
    assert_eq!(plan.services[0].to.version, "1.3.0");
    assert_eq!(
        plan.services[0].definition.image,
        "registry.example.com:5000/shop/web:1.3.0"
    );
}

#[test]
fn blue_green_waits_for_the_router() {
    let c = web(Some(2));
    let mut spec = Spec::default();
    spec.defaults.drain.wait_for_router = true;
    spec.defaults.drain.time = std::time::Duration::ZERO;
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    snapshot("blue_green_router_no_drain", &plan);
}

#[test]
fn blue_green_single_replica_and_broken_keys() {
    let c = web(None);
    let spec = Spec::default();
    // The keys point at blue, which runs nothing.
    let plan = Case::new(&c, &spec, "blue@1.3.0:0").run(plan::plan);
    let w = &plan.services[0].warnings;
    assert!(w.iter().any(|w| w.contains("no replicas")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("single replica")), "{w:?}");
    snapshot("blue_green_single_replica_broken_keys", &plan);
}

#[test]
fn blue_green_same_version_again() {
    let c = web(Some(2));
    let spec = Spec::default();
    // 1.4.2 serves in blue but green still runs an old canary: not up to date. The switch
    // to 1.4.2 is done, so the plan finishes it (traffic, drain, green to 0) instead of
    // deploying 1.4.2 again in green.
    let plan = Case::new(&c, &spec, "blue@1.4.2+green@1.4.0:1/2").run(plan::plan);
    let sp = &plan.services[0];
    assert!(!sp.up_to_date);
    assert_eq!(sp.to.zone, "blue");
    assert!(
        sp.steps.iter().all(|s| !matches!(
            s.action,
            Action::CreateZone { .. } | Action::UpdateZone { .. }
        )),
        "nothing is deployed again: {:?}",
        sp.steps
    );
    assert!(matches!(
        sp.steps.last().map(|s| &s.action),
        Some(Action::Scale { zone, replicas: 0, .. }) if zone == "green"
    ));
    snapshot("blue_green_same_version_again", &plan);
}

#[test]
fn zoned_compose_with_version_variables() {
    // The loader interpolated GREEN_IMAGE_VERSION / BLUE_IMAGE_VERSION already.
    let mut c = ComposeProject::default();
    let mut blue = service("web-blue", "shop/web:1.3.0", Some(2));
    blue.image_variables = vec!["BLUE_IMAGE_VERSION".into()];
    let mut green = service("web-green", "shop/web:v1.4.2", Some(2));
    green.image_variables = vec!["GREEN_IMAGE_VERSION".into()];
    green
        .environment
        .insert("COLOR".into(), Some("green".into()));
    c.services.insert("web-blue".into(), blue);
    c.services.insert("web-green".into(), green);
    let spec = Spec::default();
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let sp = &plan.services[0];
    assert_eq!(sp.service, "web");
    // The image keeps what interpolation produced; the version is the flag's.
    assert_eq!(sp.definition.image, "shop/web:v1.4.2");
    assert_eq!(sp.to.version, "1.4.2");
    assert_eq!(sp.definition.name, "web-green");
    snapshot("zoned_compose_with_version_variables", &plan);
}

#[test]
fn several_services_networks_and_selection() {
    let mut c = web(Some(2));
    let mut api = service("api", "shop/api:2.0", Some(1));
    api.networks
        .insert("backend".into(), ServiceNetwork::default());
    api.networks
        .insert("edge".into(), ServiceNetwork::default());
    api.secrets.push(FileReference {
        source: "db_password".into(),
        target: None,
        uid: None,
        gid: None,
        mode: None,
    });
    c.services.insert("api".into(), api);
    let mut global = service("agent", "shop/agent:1", None);
    global.deploy.mode = Some("global".into());
    c.services.insert("agent".into(), global);
    c.networks.insert("backend".into(), Network::default());
    c.networks.insert(
        "edge".into(),
        Network {
            name: Some("traefik-public".into()),
            external: true,
            ..Network::default()
        },
    );
    c.secrets.insert(
        "db_password".into(),
        SecretOrConfig {
            external: true,
            ..SecretOrConfig::default()
        },
    );
    let spec = Spec::default();
    let mut case = Case::new(&c, &spec, "web=blue@1.4.2,api=green@1.9.0");
    let plan = case.run(plan::plan);
    let names: Vec<&str> = plan.services.iter().map(|s| s.service.as_str()).collect();
    // The global agent runs one task per node: it is deployed in place, not in zones.
    assert_eq!(names, ["web", "api", "agent"]);
    assert_eq!(plan.services[2].strategy, Strategy::InPlace);
    assert!(plan.services[0].up_to_date);
    assert!(plan.secrets.contains_key("db_password"));
    snapshot("several_services", &plan);

    case.services = vec!["api".into()];
    let plan = case.run(plan::plan);
    assert_eq!(plan.services.len(), 1);

    case.services = vec!["nope".into()];
    let err = case.try_run(plan::plan).unwrap_err();
    assert!(err.to_string().contains("no service `nope`"), "{err}");

    case.services = vec!["agent".into()];
    let plan = case.run(plan::plan);
    assert_eq!(plan.services[0].strategy, Strategy::InPlace);
}

/// A compose app of the usual shape: a database on a named volume, an API, a global agent and
/// a service holding a routing-mesh port.
fn stack() -> ComposeProject {
    let mut c = ComposeProject::default();
    let mut redis = service("redis", "shop/redis:7.0", None);
    redis.volumes.push(Mount {
        kind: MountKind::Volume,
        source: Some("redis_data".into()),
        target: "/data".into(),
        read_only: false,
    });
    c.services.insert("redis".into(), redis);
    c.services
        .insert("api".into(), service("api", "shop/api:1.3.0", Some(2)));
    let mut agent = service("agent", "shop/agent:1.3.0", None);
    agent.deploy.mode = Some("global".into());
    c.services.insert("agent".into(), agent);
    let mut edge = service("edge", "shop/edge:1.3.0", Some(2));
    edge.ports.push(Port {
        target: 80,
        published: Some(8080),
        protocol: Protocol::Tcp,
        mode: PublishMode::Ingress,
        host_ip: None,
    });
    c.services.insert("edge".into(), edge);
    c
}

#[test]
fn a_stateful_service_is_updated_in_place_stop_first() {
    let c = stack();
    let spec = Spec::default();
    let mut case = Case::new(&c, &spec, "redis=in-place@7.0");
    case.services = vec!["redis".into()];
    case.version = Some("7.2");
    let plan = case.run(plan::plan);
    let redis = &plan.services[0];
    assert_eq!(redis.strategy, Strategy::InPlace);
    assert_eq!(
        redis
            .definition
            .deploy
            .update_config
            .as_ref()
            .and_then(|u| u.order.as_deref()),
        Some("stop-first")
    );
    assert!(
        redis
            .steps
            .iter()
            .any(|s| s.reason.contains("named volume `redis_data`")),
        "the plan says why"
    );
    snapshot("in_place_stateful", &plan);
}

#[test]
fn a_global_service_is_updated_in_place() {
    let c = stack();
    let spec = Spec::default();
    let mut case = Case::new(&c, &spec, "agent=in-place@1.3.0");
    case.services = vec!["agent".into()];
    let plan = case.run(plan::plan);
    assert_eq!(plan.services[0].strategy, Strategy::InPlace);
    snapshot("in_place_global", &plan);
}

#[test]
fn a_service_on_an_ingress_port_is_updated_in_place_start_first() {
    let c = stack();
    let spec = Spec::default();
    let mut case = Case::new(&c, &spec, "none");
    case.services = vec!["edge".into()];
    let plan = case.run(plan::plan);
    let edge = &plan.services[0];
    assert_eq!(edge.strategy, Strategy::InPlace);
    assert_eq!(
        edge.definition
            .deploy
            .update_config
            .as_ref()
            .and_then(|u| u.order.as_deref()),
        Some("start-first")
    );
    snapshot("in_place_ingress_port", &plan);
}

#[test]
fn a_stack_mixes_zoned_and_in_place_services() {
    let c = stack();
    let spec = spec_with(Strategy::Canary);
    let case = Case::new(
        &c,
        &spec,
        "redis=in-place@7.0,api=blue@1.3.0,agent=in-place@1.3.0,edge=none",
    );
    let plan = case.run(plan::plan);
    let strategies: Vec<(&str, Strategy)> = plan
        .services
        .iter()
        .map(|s| (s.service.as_str(), s.strategy))
        .collect();
    assert_eq!(
        strategies,
        [
            ("redis", Strategy::InPlace),
            ("api", Strategy::Canary),
            ("agent", Strategy::InPlace),
            ("edge", Strategy::InPlace),
        ]
    );
    // The spec asked for canaries: each service deployed in place says why it is not one.
    assert!(
        plan.services[0]
            .warnings
            .iter()
            .any(|w| w.contains("in place, not canary") && w.contains("allow_zoned")),
        "{:?}",
        plan.services[0].warnings
    );
    snapshot("in_place_mixed_stack", &plan);
}

#[test]
fn a_stateful_service_goes_zoned_only_when_the_spec_allows_it() {
    let c = stack();
    let mut spec = Spec::default();
    let mut policy = spec.defaults.clone();
    policy.allow_zoned = true;
    spec.services.insert("redis".into(), policy);
    let mut case = Case::new(&c, &spec, "redis=blue@7.0");
    case.services = vec!["redis".into()];
    let plan = case.run(plan::plan);
    let redis = &plan.services[0];
    assert_eq!(redis.strategy, Strategy::BlueGreen);
    assert!(
        redis
            .warnings
            .iter()
            .any(|w| w.contains("two zones although") && w.contains("redis_data")),
        "{:?}",
        redis.warnings
    );
}

#[test]
fn a_service_in_place_is_not_moved_to_zones_behind_its_back() {
    let c = stack();
    let mut spec = Spec::default();
    let mut policy = spec.defaults.clone();
    policy.allow_zoned = true;
    spec.services.insert("redis".into(), policy);
    let mut case = Case::new(&c, &spec, "redis=in-place@7.0");
    case.services = vec!["redis".into()];
    let err = case.try_run(plan::plan).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string().contains("runs in place as demo_redis"),
        "{err}"
    );
}

#[test]
fn zones_of_a_service_now_in_place_stop_before_the_one_service_starts() {
    let c = stack();
    let spec = Spec::default();
    let mut case = Case::new(&c, &spec, "redis=blue@7.0");
    case.services = vec!["redis".into()];
    case.version = Some("7.2");
    let plan = case.run(plan::plan);
    let steps: Vec<String> = plan.services[0]
        .steps
        .iter()
        .map(|s| format!("{:?}", s.action))
        .collect();
    let stop = steps
        .iter()
        .position(|s| s.contains("Scale") && s.contains("demo_redis-blue"));
    let start = steps.iter().position(|s| s.contains("demo_redis\""));
    assert!(
        matches!((stop, start), (Some(a), Some(b)) if a < b),
        "the zone stops before the in-place service starts: {steps:?}"
    );
    snapshot("in_place_from_zones", &plan);
}

#[test]
fn canary_blue_active_defaults() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let w = &plan.services[0].warnings;
    assert!(w.iter().any(|w| w.contains("never reaches 100%")), "{w:?}");
    snapshot("canary_blue_active", &plan);
}

#[test]
fn canary_first_deploy_is_a_plain_start() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let plan = Case::new(&c, &spec, "none").run(plan::plan);
    snapshot("canary_first_deploy", &plan);
}

#[test]
fn canary_with_steps_from_the_documented_spec() {
    let spec = shipctl::spec::load(Some(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shipctl.yaml"),
    ))
    .expect("valid example");
    let c = web(None);
    let plan = Case::new(&c, &spec, "green@1.3.0").run(plan::plan);
    // The example also configures `worker`, which this compose file does not have.
    assert!(
        plan.warnings.iter().any(|w| w.contains("`worker`")),
        "{:?}",
        plan.warnings
    );
    let sp = &plan.services[0];
    assert_eq!(sp.policy.replicas, Some(4));
    assert!(
        sp.steps
            .iter()
            .any(|s| matches!(s.action, Action::Pause { duration: None }))
    );
    snapshot("canary_with_steps", &plan);
}

#[test]
fn canary_stops_at_the_first_gate() {
    let c = web(Some(4));
    let mut spec = spec_with(Strategy::Canary);
    spec.defaults.canary.steps = vec![
        CanaryStep::PauseUntilPromoted,
        CanaryStep::Scale { new: 2, old: 2 },
        CanaryStep::PauseUntilPromoted,
    ];
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let sp = &plan.services[0];
    let pauses = sp
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Pause { duration: None }))
        .count();
    assert_eq!(pauses, 1);
    assert!(
        sp.warnings
            .iter()
            .any(|w| w.contains("canary steps 2-3 after")),
        "{:?}",
        sp.warnings
    );
    // What follows the gate is exactly what `shipctl promote` will do.
    let gate = sp
        .steps
        .iter()
        .position(|s| matches!(s.action, Action::Pause { duration: None }))
        .expect("a gate");
    let tail: Vec<&Action> = sp.steps[gate + 1..].iter().map(|s| &s.action).collect();
    let promoted = Case::new(&c, &spec, "blue@1.3.0+green@1.4.2:1/3").run(plan::promote);
    let promote: Vec<&Action> = promoted.services[0]
        .steps
        .iter()
        .map(|s| &s.action)
        .collect();
    assert_eq!(tail, promote);
}

#[test]
fn canary_overrides_and_promote() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let mut case = Case::new(&c, &spec, "blue@1.3.0");
    case.overrides = Overrides {
        new: Some(2),
        old: Some(3),
        promote: true,
        ..Overrides::default()
    };
    let plan = case.run(plan::plan);
    let sp = &plan.services[0];
    assert!(sp.warnings.iter().all(|w| !w.contains("never reaches")));
    snapshot("canary_overrides_promote", &plan);
}

#[test]
fn canary_low_capacity_is_warned() {
    let c = web(Some(4));
    let mut spec = spec_with(Strategy::Canary);
    spec.defaults.canary.old = Some(1);
    spec.defaults.canary.steps = vec![CanaryStep::Scale { new: 2, old: 1 }];
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let w = &plan.services[0].warnings;
    assert!(w.iter().any(|w| w.contains("of full capacity")), "{w:?}");
    snapshot("canary_low_capacity", &plan);
}

#[test]
fn canary_new_at_full_replicas() {
    let c = web(Some(2));
    let spec = spec_with(Strategy::Canary);
    let mut case = Case::new(&c, &spec, "blue@1.3.0");
    case.overrides.new = Some(2);
    let plan = case.run(plan::plan);
    let w = &plan.services[0].warnings;
    assert!(w.iter().any(|w| w.contains("not a canary")), "{w:?}");
    snapshot("canary_new_at_full", &plan);
}

#[test]
fn canary_in_progress_promote() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let plan = Case::new(&c, &spec, "blue@1.3.0+green@1.4.0:1/3").run(plan::promote);
    let sp = &plan.services[0];
    assert_eq!(sp.to.zone, "green");
    assert_eq!(sp.to.version, "1.4.0");
    snapshot("canary_in_progress_promote", &plan);
}

/// A canary started with `--strategy canary` under a blue-green spec is still a canary when
/// `promote` or `abort` (which take no strategy flag) finish it: their plans and history say so.
#[test]
fn promote_and_abort_are_canary_plans_whatever_the_spec_says() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::BlueGreen);
    for operation in [plan::promote, plan::abort] {
        let plan = Case::new(&c, &spec, "blue@1.3.0+green@1.4.0:1/3").run(operation);
        assert_eq!(plan.services[0].strategy, Strategy::Canary);
    }
}

#[test]
fn canary_in_progress_abort() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let plan = Case::new(&c, &spec, "blue@1.3.0+green@1.4.0:1/3").run(plan::abort);
    let sp = &plan.services[0];
    assert_eq!(sp.to.zone, "blue");
    assert_eq!(sp.to.version, "1.3.0");
    snapshot("canary_in_progress_abort", &plan);
}

#[test]
fn canary_in_progress_deploy_again() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let plan = Case::new(&c, &spec, "blue@1.3.0+green@1.4.0:1/3").run(plan::plan);
    let w = &plan.services[0].warnings;
    assert!(w.iter().any(|w| w.contains("replaced by 1.4.2")), "{w:?}");
    snapshot("canary_in_progress_deploy_again", &plan);
}

#[test]
fn a_policy_for_a_zone_points_at_its_service() {
    let c = web(Some(2));
    let mut spec = Spec::default();
    spec.services
        .insert("web-green".into(), spec.defaults.clone());
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("write it under `web`")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn deploying_the_running_canary_again_points_at_promote() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let mut case = Case::new(&c, &spec, "blue@1.3.0+green@1.4.0:1/3");
    case.version = Some("1.4.0");
    let plan = case.run(plan::plan);
    let w = plan.all_warnings();
    assert!(w.iter().any(|w| w.contains("shipctl promote web")), "{w:?}");
    assert!(!plan.up_to_date());
}

#[test]
fn promote_and_abort_need_a_canary() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let case = Case::new(&c, &spec, "blue@1.3.0");
    let err = case.try_run(plan::promote).unwrap_err();
    assert!(err.to_string().contains("no service has a canary"), "{err}");
    let mut case = Case::new(&c, &spec, "blue@1.3.0");
    case.services = vec!["web".into()];
    let err = case.try_run(plan::abort).unwrap_err();
    assert!(err.to_string().contains("no canary in progress"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn rolling_four_replicas_step_one() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Rolling);
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    snapshot("rolling_4_step_1", &plan);
}

/// Every step that takes tasks from a zone after traffic moved waits for the drain (and the
/// router, when configured) right before it.
fn every_scale_down_drains_first(plan: &Plan) -> Result<(), String> {
    let steps = &plan.services[0].steps;
    let mut traffic_moved = false;
    let mut replicas: IndexMap<String, u64> = IndexMap::new();
    for (i, step) in steps.iter().enumerate() {
        match &step.action {
            Action::WriteKeys { .. } => traffic_moved = true,
            Action::CreateZone {
                zone, replicas: n, ..
            }
            | Action::UpdateZone {
                zone, replicas: n, ..
            } => {
                replicas.insert(zone.clone(), *n);
            }
            Action::Scale {
                zone, replicas: n, ..
            } => {
                let before = replicas.get(zone).copied().unwrap_or(u64::MAX);
                if traffic_moved && *n < before {
                    let waited = i > 0
                        && matches!(
                            steps[i - 1].action,
                            Action::WaitDrain { .. } | Action::WaitRouter { .. }
                        );
                    if !waited {
                        return Err(format!("step {} scales {zone} down without a drain", i + 1));
                    }
                }
                replicas.insert(zone.clone(), *n);
            }
            _ => {}
        }
    }
    Ok(())
}

#[test]
fn canary_steps_and_rolling_batches_drain_before_they_scale_down() {
    let c = web(Some(4));
    for strategy in [Strategy::Canary, Strategy::Rolling] {
        let mut spec = spec_with(strategy);
        spec.defaults.canary.steps = vec![
            CanaryStep::Scale { new: 2, old: 2 },
            CanaryStep::Scale { new: 3, old: 1 },
        ];
        spec.defaults.promote = true;
        for router in [false, true] {
            spec.defaults.drain.wait_for_router = router;
            let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
            every_scale_down_drains_first(&plan)
                .unwrap_or_else(|e| panic!("{strategy:?}, router {router}: {e}"));
            if router {
                let waits = plan.services[0]
                    .steps
                    .iter()
                    .filter(|s| matches!(s.action, Action::WaitRouter { .. }))
                    .count();
                assert!(
                    waits > 1,
                    "{strategy:?}: the router is awaited at every batch"
                );
            }
        }
    }
}

#[test]
fn rolling_four_replicas_step_three() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Rolling);
    let mut case = Case::new(&c, &spec, "blue@1.3.0");
    case.overrides.step = Some(3);
    let plan = case.run(plan::plan);
    snapshot("rolling_4_step_3", &plan);
}

#[test]
fn override_errors_name_the_flag() {
    let c = web(Some(4));
    let spec = spec_with(Strategy::Canary);
    let mut case = Case::new(&c, &spec, "blue@1.3.0");
    case.overrides.new = Some(0);
    let err = case.try_run(plan::plan).unwrap_err();
    assert!(
        err.to_string().contains("`--new` must be at least 1"),
        "{err}"
    );

    let mut case = Case::new(&c, &spec, "blue@1.3.0");
    case.overrides.strategy = Some(Strategy::Rolling);
    case.overrides.new = Some(1);
    let err = case.try_run(plan::plan).unwrap_err();
    assert!(err.to_string().contains("conflicting flags"), "{err}");

    let mut case = Case::new(&c, &spec, "blue@1.3.0");
    case.version = Some("1.4 beta");
    let err = case.try_run(plan::plan).unwrap_err();
    assert!(err.to_string().contains("--version"), "{err}");
}

/// Replays a plan's scale steps and checks that the two zones together never drop below the
/// full replica count while the old zone is being scaled down.
fn capacity_never_drops(plan: &Plan, full: u64, old_zone: &str) -> Result<(), String> {
    let mut replicas: IndexMap<String, u64> = IndexMap::new();
    replicas.insert(old_zone.to_string(), full);
    for step in &plan.services[0].steps {
        match &step.action {
            Action::CreateZone {
                zone, replicas: n, ..
            }
            | Action::UpdateZone {
                zone, replicas: n, ..
            }
            | Action::Scale {
                zone, replicas: n, ..
            } => {
                replicas.insert(zone.clone(), *n);
                let total: u64 = replicas.values().sum();
                let old = replicas.get(old_zone).copied().unwrap_or(0);
                if old > 0 && total < full {
                    return Err(format!("{replicas:?} below {full} at `{}`", step.reason));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Replays the plan and checks that no key write sends traffic to a zone without replicas, and
/// that every zone is waited on (healthy) before the keys make it the active one.
fn traffic_only_to_zones_with_replicas(plan: &Plan) -> Result<(), String> {
    for sp in &plan.services {
        let mut replicas: IndexMap<String, u64> = IndexMap::new();
        if let Some(state) = plan.observed.services.get(&sp.service) {
            for (zone, z) in &state.zones {
                replicas.insert(zone.clone(), z.desired);
            }
        }
        let mut healthy: Option<String> = None;
        for step in &sp.steps {
            match &step.action {
                Action::CreateZone {
                    zone, replicas: n, ..
                }
                | Action::UpdateZone {
                    zone, replicas: n, ..
                }
                | Action::Scale {
                    zone, replicas: n, ..
                } => {
                    replicas.insert(zone.clone(), *n);
                }
                Action::WaitHealthy { zone, .. } => healthy = Some(zone.clone()),
                Action::WriteKeys { writes } => {
                    for w in writes {
                        if w.key == sp.keys.traffic {
                            for part in w.value.split(',') {
                                let (zone, share) = part.split_once('=').ok_or("bad split")?;
                                let share: u64 = share.parse().map_err(|_| "bad share")?;
                                let n = replicas.get(zone).copied().unwrap_or(0);
                                if share > 0 && n == 0 {
                                    return Err(format!(
                                        "{}% to empty {zone} at `{}`",
                                        share, step.reason
                                    ));
                                }
                            }
                        }
                        if w.key == sp.keys.active_zone
                            && replicas.get(&w.value).copied().unwrap_or(0) == 0
                        {
                            return Err(format!(
                                "keys flipped to empty {} at `{}`",
                                w.value, step.reason
                            ));
                        }
                        if w.key == sp.keys.active_zone && healthy.is_none() {
                            return Err(format!(
                                "keys flipped with no health gate at `{}`",
                                step.reason
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn planner_never_panics(
        replicas in 1u64..12,
        new in 0u64..14,
        old in proptest::option::of(0u64..14),
        step in 0u64..14,
        strategy in prop_oneof![Just(Strategy::BlueGreen), Just(Strategy::Canary), Just(Strategy::Rolling)],
        state in prop_oneof![Just("none"), Just("blue@1.0"), Just("green@1.0:2"), Just("blue@1.0+green@1.1:1/1")],
        promote in any::<bool>(),
        steps in proptest::collection::vec((0u64..14, 0u64..14), 0..4),
    ) {
        let c = web(Some(replicas));
        let mut spec = spec_with(strategy);
        spec.defaults.canary.steps = steps
            .iter()
            .map(|(n, o)| CanaryStep::Scale { new: *n, old: *o })
            .collect();
        let mut case = Case::new(&c, &spec, state);
        case.overrides = Overrides {
            new: (strategy == Strategy::Canary).then_some(new),
            old: if strategy == Strategy::Canary { old } else { None },
            step: (strategy == Strategy::Rolling).then_some(step),
            promote: promote && strategy == Strategy::Canary,
            ..Overrides::default()
        };
        // Errors are fine (bad flags); panics are not.
        for f in [plan::plan, plan::promote, plan::abort] {
            if let Ok(plan) = case.try_run(f) {
                let _ = render_plan(&plan);
                let _ = serde_json::to_string(&plan);
                for sp in &plan.services {
                    prop_assert!(sp.steps.iter().all(|s| !s.reason.trim().is_empty()));
                    prop_assert_eq!(sp.up_to_date, sp.steps.is_empty());
                }
                prop_assert!(traffic_only_to_zones_with_replicas(&plan).is_ok(),
                    "{:?}", traffic_only_to_zones_with_replicas(&plan));
            }
        }
    }

    #[test]
    fn rolling_keeps_full_capacity(replicas in 1u64..40, step in 1u64..40) {
        prop_assume!(step <= replicas);
        let c = web(Some(replicas));
        let spec = spec_with(Strategy::Rolling);
        let mut case = Case::new(&c, &spec, "blue@1.0");
        case.overrides.step = Some(step);
        let plan = case.run(plan::plan);
        prop_assert!(capacity_never_drops(&plan, replicas, "blue").is_ok(),
            "{:?}", capacity_never_drops(&plan, replicas, "blue"));
        // It ends with every replica in green and the keys on green.
        let last_keys = plan.services[0].steps.iter().rev().find_map(|s| match &s.action {
            Action::WriteKeys { writes } => Some(writes.clone()),
            _ => None,
        });
        prop_assert_eq!(last_keys.map(|w| w[0].value.clone()), Some("green".to_string()));
    }
}

#[test]
fn a_blue_green_service_that_needs_a_canary_is_warned_that_it_switches_first() {
    let mut c = ComposeProject::default();
    c.services
        .insert("api".into(), service("api", "shop/api:1.0", Some(2)));
    let mut web = service("web", "shop/web:1.0", Some(2));
    web.depends_on = vec!["api".into()];
    c.services.insert("web".into(), web);
    let mut spec = Spec::default();
    let mut canary = spec.defaults.clone();
    canary.strategy = Strategy::Canary;
    spec.services.insert("api".into(), canary);
    let plan = Case::new(&c, &spec, "api=blue@1.0,web=blue@1.0").run(plan::plan);
    let names: Vec<&str> = plan.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w
                .starts_with("web depends on api, whose canary runs after the release's switch")),
        "{:?}",
        plan.warnings
    );

    // Both blue-green: they switch together, nothing to say.
    let spec = Spec::default();
    let plan = Case::new(&c, &spec, "api=blue@1.0,web=blue@1.0").run(plan::plan);
    assert!(
        !plan.warnings.iter().any(|w| w.contains("depends on")),
        "{:?}",
        plan.warnings
    );
}

const ANALYSED: &str = "defaults:\n  replicas: 4\n  promote: true\n  bake: 1m\n  canary:\n    new: 1\n    steps: [{new: 2, old: 2}]\n  analysis:\n    interval: 10s\n    count: 3\n    metrics:\n      - {name: errors, provider: router, query: error_rate, condition: \"< 1%\"}\n      - {name: latency, provider: router, query: p99, condition: \"<= 500ms\"}\n";

/// The kinds of the plan's steps, in order.
fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.services[0]
        .steps
        .iter()
        .map(|s| match &s.action {
            Action::Analyze { bake: Some(_), .. } => "bake",
            Action::Analyze { .. } => "analyze",
            Action::WriteKeys { .. } => "keys",
            Action::Scale { .. } => "scale",
            Action::WaitDrain { .. } => "drain",
            Action::WaitHealthy { .. } => "healthy",
            Action::CreateZone { .. } | Action::UpdateZone { .. } => "deploy",
            _ => "other",
        })
        .collect()
}

#[test]
fn a_canary_with_analysis_judges_each_traffic_step_and_bakes_after_the_switch() {
    let c = web(None);
    let mut spec = shipctl::spec::parse_str("shipctl.yaml", ANALYSED).expect("spec");
    spec.defaults.strategy = Strategy::Canary;
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let k = kinds(&plan);
    // Judged after each traffic write, before the next step; the bake between the switch and
    // the old zone's scale-down (no drain: the bake is longer).
    let analyses: Vec<usize> = k
        .iter()
        .enumerate()
        .filter(|(_, k)| **k == "analyze")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(analyses.len(), 2, "{k:?}");
    let bake = k.iter().position(|k| *k == "bake").expect("a bake");
    assert_eq!(k[bake - 1], "keys", "{k:?}");
    assert_eq!(&k[bake + 1..], ["scale"], "{k:?}");
    snapshot("canary_with_analysis_and_bake", &plan);
}

#[test]
fn analysis_steps_in_the_canary_replace_the_automatic_ones() {
    let c = web(None);
    let text = ANALYSED.replace(
        "steps: [{new: 2, old: 2}]",
        "steps: [{new: 2, old: 2}, {analysis: {count: 6}}]",
    );
    let mut spec = shipctl::spec::parse_str("shipctl.yaml", &text).expect("spec");
    spec.defaults.strategy = Strategy::Canary;
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let counts: Vec<u32> = plan.services[0]
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Analyze {
                analysis: Some(a),
                bake: None,
                ..
            } => Some(a.count),
            _ => None,
        })
        .collect();
    assert_eq!(counts, [6]);
}

#[test]
fn blue_green_and_rolling_bake_while_the_old_zone_is_warm() {
    let c = web(None);
    for strategy in [Strategy::BlueGreen, Strategy::Rolling] {
        let mut spec = shipctl::spec::parse_str("shipctl.yaml", ANALYSED).expect("spec");
        spec.defaults.strategy = strategy;
        let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
        let k = kinds(&plan);
        let bake = k.iter().position(|k| *k == "bake").expect("a bake");
        assert_eq!(k[bake - 1], "keys", "{strategy:?}: {k:?}");
        assert_eq!(k.last(), Some(&"scale"), "{strategy:?}: {k:?}");
        assert!(!k.contains(&"analyze"), "{strategy:?}: {k:?}");
    }
    // A first deploy has nothing to go back to: no bake.
    let spec = shipctl::spec::parse_str("shipctl.yaml", ANALYSED).expect("spec");
    let plan = Case::new(&c, &spec, "none").run(plan::plan);
    assert!(!kinds(&plan).contains(&"bake"));
}

/// The counts a zone is scaled to, in order, and the counts each health gate waits for.
fn starts_and_gates(sp: &plan::ServicePlan, zone: &str) -> (Vec<u64>, Vec<u64>) {
    let mut starts = Vec::new();
    let mut gates = Vec::new();
    for step in &sp.steps {
        match &step.action {
            Action::CreateZone {
                zone: z, replicas, ..
            }
            | Action::UpdateZone {
                zone: z, replicas, ..
            }
            | Action::Scale {
                zone: z, replicas, ..
            } if z == zone => {
                starts.push(*replicas);
            }
            Action::WaitHealthy {
                zone: z, replicas, ..
            } if z == zone => gates.push(*replicas),
            _ => {}
        }
    }
    (starts, gates)
}

fn spec_with_task_batch(strategy: Strategy, batch: u64) -> Spec {
    let mut spec = spec_with(strategy);
    spec.defaults.task_batch = Some(batch);
    spec
}

/// `task_batch` starts a zone a few tasks at a time, each batch gated healthy before the next
/// one starts; the keys move only after the last, full gate; the old zone stops as many at a
/// time.
#[test]
fn blue_green_starts_and_stops_zones_in_batches() {
    let c = web(Some(5));
    let spec = spec_with_task_batch(Strategy::BlueGreen, 2);
    let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    let sp = &plan.services[0];
    assert_eq!(
        starts_and_gates(sp, "green"),
        (vec![2, 4, 5], vec![2, 4, 5])
    );
    // Each batch starts only after the gate of the one before it; after the switch, blue
    // stops as many at a time, each batch once the one before is gone.
    let kinds: Vec<String> = sp
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::UpdateZone { replicas, .. } => Some(format!("green {replicas}")),
            Action::Scale { zone, replicas, .. } => Some(format!("{zone} {replicas}")),
            Action::WaitHealthy { .. } => Some("gate".into()),
            Action::WriteKeys { .. } => Some("switch".into()),
            Action::WaitStopped { replicas, .. } => Some(format!("gone to {replicas}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "green 2",
            "gate",
            "green 4",
            "gate",
            "green 5",
            "gate",
            "switch",
            "blue 3",
            "gone to 3",
            "blue 1",
            "gone to 1",
            "blue 0"
        ]
    );
    snapshot("blue_green_task_batch", &plan);

    // A batch as large as the zone, or larger, is the plain plan.
    let whole = Case::new(&c, &spec_with(Strategy::BlueGreen), "blue@1.3.0").run(plan::plan);
    for batch in [5, 9] {
        let spec = spec_with_task_batch(Strategy::BlueGreen, batch);
        let plan = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
        assert_eq!(
            plan.services[0].steps, whole.services[0].steps,
            "task_batch {batch}"
        );
    }
}

#[test]
fn a_first_deploy_a_promote_and_a_rollback_start_in_batches_too() {
    let c = web(Some(4));
    let spec = spec_with_task_batch(Strategy::BlueGreen, 3);
    let first = Case::new(&c, &spec, "none").run(plan::plan);
    assert_eq!(
        starts_and_gates(&first.services[0], "blue"),
        (vec![3, 4], vec![3, 4])
    );

    let spec = spec_with_task_batch(Strategy::Canary, 1);
    let canary = Case::new(&c, &spec, "blue@1.3.0").run(plan::plan);
    assert_eq!(
        starts_and_gates(&canary.services[0], "green"),
        (vec![1], vec![1])
    );
    let promote = Case::new(&c, &spec, "blue@1.3.0+green@1.4.0:1/3").run(plan::promote);
    assert_eq!(
        starts_and_gates(&promote.services[0], "green"),
        (vec![2, 3, 4], vec![2, 3, 4])
    );
    // Abort grows the old zone back from 3 to 4: one task, one batch.
    let abort = Case::new(&c, &spec, "blue@1.3.0+green@1.4.0:1/3").run(plan::abort);
    assert_eq!(
        starts_and_gates(&abort.services[0], "blue"),
        (vec![4], vec![4])
    );

    let spec = spec_with_task_batch(Strategy::BlueGreen, 2);
    let rollback =
        Case::new(&c, &spec, "green@1.4.2:4+blue@1.3.0:0").run(|req| plan::rollback(req, "1.3.0"));
    let sp = &rollback.services[0];
    assert_eq!(sp.to.zone, "blue");
    assert_eq!(starts_and_gates(sp, "blue"), (vec![2, 4], vec![2, 4]));
}

/// A deploy that stopped half way (green already runs 2 of 4 tasks of the new version) goes on
/// from those tasks: the batches do not start the zone over.
#[test]
fn batches_go_on_from_the_tasks_a_zone_already_runs() {
    let c = web(Some(4));
    let spec = spec_with_task_batch(Strategy::BlueGreen, 1);
    let plan = Case::new(&c, &spec, "blue@1.3.0:4+green@1.4.2:2").run(plan::plan);
    let sp = &plan.services[0];
    assert_eq!(sp.to.zone, "green");
    assert_eq!(starts_and_gates(sp, "green"), (vec![3, 4], vec![3, 4]));
}
