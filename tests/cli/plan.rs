//! `shipctl plan` through the real binary, offline (`--assume-state`): the text a user reads,
//! the JSON a program reads, and the exit codes of bad input.

use crate::support::cli_env::{CliEnv, stderr, stdout};

/// The demo project copied into a clean directory (compose.yaml + shipctl.yaml).
fn demo() -> CliEnv {
    let env = CliEnv::new();
    env.copy_fixture("demo/compose.yaml", "compose.yaml");
    env.copy_fixture("demo/shipctl.yaml", "shipctl.yaml");
    env
}

#[test]
fn blue_green_plan_from_an_assumed_state() {
    let env = demo();
    let output = env.run(&["plan", "--assume-state", "blue@1.0.0", "--version", "1.1.0"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output), @r"
    Plan for project demo, from an assumed state (--assume-state)

    web: blue-green  blue@1.0.0 -> green@1.1.0
      1. ensure network demo_front
           web is attached to the network `front`: created if missing, as `docker stack deploy` does
      2. update demo_web-green: shipctl-test-app:1.1.0, 2 replicas
           start 2 replica(s) of 1.1.0 in the inactive zone green while blue keeps serving
      3. wait until demo_web-green runs 2 replicas of 1.1.0, healthy
           before any traffic moves: 2 task(s) of 1.1.0 in green must run healthy for 2s (timeout 1m)
      4. write keys (atomically)
             demo/web-active-zone = green
             demo/web-active-version = 1.1.0
             demo/web-traffic = blue=0,green=100
           switch: active zone green, version 1.1.0 and all traffic, in one atomic write
      5. drain for 5s
           let requests in flight on blue finish before its tasks stop (5s)
      6. scale demo_web-blue to 0
           scale blue down to 0; the service is kept, so a rollback is a key flip and a scale-up away
      inside the stack, web answers: blue (1.0.0); after step 3 blue (1.0.0) and green (1.1.0); after step 6 green (1.1.0)

    1 service to change (6 steps), 0 up to date, 0 warnings.
    ");
}

#[test]
fn plan_json_is_one_document_with_typed_steps() {
    let env = demo();
    let output = env.run(&[
        "plan",
        "--assume-state",
        "none",
        "--version",
        "2.0.0",
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(plan["project"], "demo");
    assert_eq!(plan["observed"]["source"], "assumed");
    let service = &plan["services"][0];
    assert_eq!(service["service"], "web");
    assert_eq!(
        service["to"],
        serde_json::json!({"zone": "blue", "version": "2.0.0"})
    );
    let actions: Vec<&str> = service["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "ensure_network",
            "create_zone",
            "wait_healthy",
            "write_keys"
        ]
    );
    assert_eq!(service["definition"]["image"], "shipctl-test-app:2.0.0");
}

#[test]
fn canary_flags_override_the_spec() {
    let env = demo();
    let output = env.run(&[
        "plan",
        "--assume-state",
        "blue@1.0.0:4",
        "--version",
        "1.1.0",
        "--strategy",
        "canary",
        "--new",
        "1",
        "--old",
        "3",
        "--replicas",
        "4",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("web: canary  blue@1.0.0 -> green@1.1.0"),
        "{text}"
    );
    assert!(text.contains("web-traffic = blue=75,green=25"), "{text}");
}

#[test]
fn saved_plan_file_holds_the_same_plan() {
    let env = demo();
    let output = env.run(&[
        "plan",
        "--assume-state",
        "green@1.0.0",
        "--version",
        "1.1.0",
        "--output",
        "json",
        "--out",
        "plan.json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let saved = std::fs::read_to_string(env.dir().join("plan.json")).expect("plan.json written");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("saved JSON");
    assert_eq!(printed, saved);
    assert_eq!(saved["services"][0]["to"]["zone"], "blue");
}

#[test]
fn project_flag_and_compose_file_variable_are_honoured() {
    let env = CliEnv::new();
    env.copy_fixture("demo/compose.yaml", "deploy/stack.yaml");
    let mut env = env;
    env.set("COMPOSE_FILE", "deploy/stack.yaml");
    let output = env.run(&["plan", "-p", "Shop", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("create shop_web-blue: shipctl-test-app:1.0.0"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn no_compose_file_is_a_usage_error() {
    let env = CliEnv::new();
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("no compose file found"), "{err}");
    assert!(err.contains("-f/--file"), "says what to do: {err}");
}

#[test]
fn compose_error_names_file_line_and_column() {
    let env = CliEnv::new();
    env.write(
        "compose.yaml",
        "services:\n  web:\n    image: app:1\n    deploy:\n      replicas: three\n",
    );
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("compose.yaml:5:17"),
        "file:line:column in {err}"
    );
    assert!(err.contains("replicas"), "{err}");
}

#[test]
fn spec_error_names_file_line_and_column() {
    let env = demo();
    env.write(
        "shipctl.yaml",
        "services:\n  web:\n    strategy: big-bang\n",
    );
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("shipctl.yaml:3:15"),
        "file:line:column in {err}"
    );
    assert!(
        err.contains("blue-green"),
        "lists the valid strategies: {err}"
    );
}

#[test]
fn missing_required_variable_is_reported_with_its_message() {
    let env = CliEnv::new();
    env.write(
        "compose.yaml",
        "services:\n  web:\n    image: app:${TAG:?set TAG to the release}\n",
    );
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("set TAG to the release"), "{err}");
    assert!(err.contains("compose.yaml:3"), "{err}");
}

#[test]
fn a_canary_of_no_new_task_is_refused() {
    let env = demo();
    let output = env.run(&[
        "plan",
        "--assume-state",
        "blue@1.0.0",
        "--strategy",
        "canary",
        "--new",
        "0",
        "--old",
        "3",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--new"), "{}", stderr(&output));
}

#[test]
fn canary_counts_above_the_serving_replicas_scale_the_old_zone_up() {
    let env = demo();
    let output = env.run(&[
        "plan",
        "--assume-state",
        "blue@1.0.0",
        "--version",
        "1.1.0",
        "--strategy",
        "canary",
        "--new",
        "1",
        "--old",
        "3",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("scale demo_web-blue to 3") && text.contains("up to 3"),
        "the old zone goes from 2 to 3 tasks:\n{text}"
    );
    assert!(
        text.contains("demo_web-green: shipctl-test-app:1.1.0, 1 replica"),
        "{text}"
    );
    assert!(text.contains("blue=75,green=25"), "{text}");
}

#[test]
fn unknown_service_is_refused() {
    let env = demo();
    let output = env.run(&["plan", "api", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("api"), "{}", stderr(&output));
}

#[test]
fn assumed_state_cannot_deploy() {
    let env = demo();
    let output = env.run(&["deploy", "--assume-state", "none", "--yes"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("shipctl plan"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unreachable_engine_fails_without_changing_anything() {
    let env = demo();
    let output = env.run(&["plan", "-H", "unix:///nonexistent/docker.sock"]);
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("/nonexistent/docker.sock"),
        "names the address: {err}"
    );
}

#[test]
fn json_errors_are_machine_readable_on_stdout() {
    let env = CliEnv::new();
    let output = env.run(&["plan", "--assume-state", "none", "--output", "json"]);
    assert_eq!(output.status.code(), Some(2));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(line["event"], "error");
    assert_eq!(line["exit_code"], 2);
}

#[test]
fn a_service_publishing_an_ingress_port_is_deployed_in_place() {
    let env = CliEnv::new();
    env.write(
        "compose.yaml",
        "services:\n  web:\n    image: app:1\n    ports: [\"8080:80\"]\n",
    );
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("web: in-place"), "{text}");
    assert!(
        text.contains("publishes port 8080 on the routing mesh"),
        "{text}"
    );

    // In zones only when the spec says so; Swarm refuses the port twice, so it is refused.
    env.write("shipctl.yaml", "services:\n  web:\n    allow_zoned: true\n");
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("publishes port 8080"), "{err}");
    assert!(err.contains("web-blue"), "suggests zone services: {err}");
}

#[test]
fn host_mode_ports_in_both_zones_are_a_warning() {
    let env = CliEnv::new();
    env.write(
        "compose.yaml",
        "services:\n  web:\n    image: app:1\n    ports:\n      - {target: 80, published: 8080, mode: host}\n",
    );
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("publishes host port 8080 in both zones"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn no_output_format_carries_a_secret_value() {
    let env = CliEnv::new();
    env.write(
        "compose.yaml",
        "services:\n  web:\n    image: app:1\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n      LOG_LEVEL: info\n",
    );
    env.write(".env", "DB_PASSWORD=hunter2-planted\n");
    let runs: [&[&str]; 4] = [
        &["plan", "--assume-state", "none"],
        &["plan", "--assume-state", "none", "--output", "json"],
        &[
            "deploy",
            "--dry-run",
            "--assume-state",
            "none",
            "--output",
            "json",
        ],
        &["plan", "--assume-state", "none", "--out", "saved.json"],
    ];
    for args in runs {
        let output = env.run(args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        for text in [stdout(&output), stderr(&output)] {
            assert!(
                !text.contains("hunter2-planted"),
                "{args:?} printed it:\n{text}"
            );
        }
    }
    let saved = std::fs::read_to_string(env.dir().join("saved.json")).expect("saved plan");
    assert!(!saved.contains("hunter2-planted"), "{saved}");
    assert!(
        saved.contains("DB_PASSWORD") && saved.contains("redacted:sha256:"),
        "{saved}"
    );
    assert!(
        saved.contains("\"LOG_LEVEL\": \"redacted:sha256:"),
        "every value, not a guess at which"
    );
}

/// `--task-batch` reaches the plan: the zone starts and stops one task at a time; `0` is
/// refused with what to write instead (exit 2).
#[test]
fn task_batch_flag_plans_one_task_at_a_time() {
    let env = demo();
    let args = ["plan", "--assume-state", "blue@1.0.0", "--version", "1.1.0"];
    let plain = env.run(&args);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert!(!stdout(&plain).contains("batch"), "{}", stdout(&plain));

    let batched = env.run(&[&args[..], &["--task-batch", "1"]].concat());
    assert_eq!(batched.status.code(), Some(0), "{}", stderr(&batched));
    let text = stdout(&batched);
    assert!(text.contains("`task_batch: 1`"), "{text}");
    assert!(text.contains("stop batch 1/"), "{text}");
    assert!(text.contains("runs at most"), "{text}");

    let zero = env.run(&[&args[..], &["--task-batch", "0"]].concat());
    assert_eq!(zero.status.code(), Some(2), "{}", stderr(&zero));
    assert!(
        stderr(&zero).contains("e.g. `--task-batch 1`"),
        "{}",
        stderr(&zero)
    );
}

/// A stack of `count` services calling each other, some with a volume, some depending on an
/// earlier one far up the file; `broken` services get a replica count that is not a number.
fn big_stack(count: usize, broken: &[usize]) -> String {
    let mut text = String::from("name: big\nservices:\n");
    for n in 0..count {
        text.push_str(&format!(
            "  svc{n}:\n    image: registry.example.com/team/svc{n}:${{IMAGE_VERSION:-1.0.{n}}}\n    environment:\n      UPSTREAM: http://svc{}:8080\n      LEVEL: ${{LOG_LEVEL:-info}}\n    networks: [backend]\n",
            (n + 1) % count
        ));
        if n % 10 == 3 {
            text.push_str(&format!("    volumes: [\"data{n}:/data\"]\n"));
        }
        if n % 7 == 5 && n >= 600 {
            text.push_str(&format!("    depends_on: [svc{}]\n", n - 600));
        }
        let replicas = if broken.contains(&n) { "many" } else { "2" };
        text.push_str(&format!("    deploy:\n      replicas: {replicas}\n"));
    }
    text.push_str("networks:\n  backend: {}\nvolumes:\n");
    for n in (0..count).filter(|n| n % 10 == 3) {
        text.push_str(&format!("  data{n}: {{}}\n"));
    }
    text
}

/// The block of the plan text that plans `service`, from its header line to the blank line.
fn block_of<'a>(text: &'a str, service: &str) -> &'a str {
    let header = format!("\n{service}: ");
    let start = text
        .find(&header)
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no {service} in the plan"));
    let end = text[start..].find("\n\n").map_or(text.len(), |i| start + i);
    &text[start..end]
}

#[test]
fn a_stack_of_many_services_plans_as_each_service_alone_in_the_order_of_the_file() {
    // Over 1,024 services, loading, planning and writing the plan are shared between the
    // cores: the plan must read as if each service were planned on its own, in file order.
    // One of each kind, from every part of the file: a plain one, one with a volume (updated
    // in place), one that depends on another, the last one.
    plans_as_each_service_alone(1_200, &[0, 13, 605, 700, 1_199]);
}

#[test]
fn a_plan_written_in_pieces_reads_as_each_service_alone_in_the_order_of_the_file() {
    // Under 1,024 services, on one thread, the text goes out in pieces of about 64 KB as it
    // is written (300 services: about 240 KB): no service lost or repeated at a cut.
    plans_as_each_service_alone(300, &[0, 13, 150, 299]);
}

fn plans_as_each_service_alone(count: usize, samples: &[usize]) {
    let env = CliEnv::new();
    env.write("compose.yaml", &big_stack(count, &[]));
    let args = ["plan", "--assume-state", "none", "--version", "2.0.0"];
    let whole = env.run(&args);
    assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
    let text = stdout(&whole);
    let mut last = 0;
    for n in 0..count {
        let header = format!("\nsvc{n}: ");
        let at = text
            .find(&header)
            .unwrap_or_else(|| panic!("svc{n} is not in the plan"));
        assert!(at > last, "svc{n} is out of the file's order");
        last = at;
    }
    let headers = text
        .lines()
        .filter(|l| l.starts_with("svc") && l.contains(": "))
        .count();
    assert_eq!(headers, count, "a service is planned more than once");
    assert!(
        text.contains(&format!("{count} services to change")),
        "{}",
        &text[last..]
    );
    for n in samples {
        let name = format!("svc{n}");
        let alone = env.run(&[&args[..], &[name.as_str()]].concat());
        assert_eq!(alone.status.code(), Some(0), "{}", stderr(&alone));
        assert_eq!(block_of(&text, &name), block_of(&stdout(&alone), &name));
    }
}

#[test]
fn errors_in_a_stack_of_many_services_are_reported_in_the_order_of_the_file() {
    let env = CliEnv::new();
    env.write("compose.yaml", &big_stack(1_200, &[2, 640, 1_150]));
    let output = env.run(&["plan", "--assume-state", "none"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let errors = stderr(&output);
    let at: Vec<usize> = [2, 640, 1_150]
        .iter()
        .map(|n| {
            errors
                .find(&format!("svc{n}.deploy.replicas"))
                .unwrap_or_else(|| panic!("no error for svc{n}:\n{errors}"))
        })
        .collect();
    assert!(at[0] < at[1] && at[1] < at[2], "{errors}");
}
