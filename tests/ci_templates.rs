//! The CI templates run by CI clients against the live Swarm: the GitLab template
//! (`ci/gitlab/shipctl.gitlab-ci.yml`) by gitlab-ci-local, a real GitLab CI runner for
//! `.gitlab-ci.yml`, and the GitHub composite action (`action.yml`) step by step as GitHub's
//! runner runs it. Both deploy a canary that waits, promote it, go back, and fail where they
//! must; the summaries' charts are checked with Mermaid itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::ci_tools::{assert_mermaid_draws, gitlab_ci_local};
use crate::support::cli_env::{stderr, stdout};
use crate::support::live::LiveProject;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipctl_bin() -> PathBuf {
    PathBuf::from(assert_cmd::cargo::cargo_bin!("shipctl"))
}

/// Every line of an NDJSON file as JSON; panics on a line that is not.
fn ndjson(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `result` of the last `deploy_finished` event.
fn finished(events: &[Value]) -> Option<String> {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "deploy_finished")
        .and_then(|e| e["result"].as_str().map(str::to_string))
}

// ---------------------------------------------------------------------------------------------
// GitLab CI

struct Pipeline<'a> {
    glci: PathBuf,
    p: &'a LiveProject,
}

impl Pipeline<'_> {
    /// `gitlab-ci-local [JOB]` in the project with these variables; the whole output.
    fn run(&self, job: Option<&str>, vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(&self.glci);
        cmd.current_dir(self.p.env.dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.p.env.dir())
            .args(["--no-color", "--max-job-name-padding", "0"]);
        let shipctl = shipctl_bin().display().to_string();
        let mut all: Vec<(&str, &str)> = vec![
            ("SHIPCTL", shipctl.as_str()),
            ("SHIPCTL_PROJECT", self.p.project()),
        ];
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        if !host.is_empty() {
            all.push(("DOCKER_HOST", host.as_str()));
        }
        all.extend_from_slice(vars);
        for (k, v) in all {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        if let Some(job) = job {
            cmd.arg(job);
        }
        cmd.output().expect("run gitlab-ci-local")
    }

    fn log(&self, job: &str) -> String {
        let path = self
            .p
            .env
            .dir()
            .join(".gitlab-ci-local/output")
            .join(format!("{job}.log"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    fn artifact(&self, job: &str, name: &str) -> PathBuf {
        self.p
            .env
            .dir()
            .join(".gitlab-ci-local/artifacts")
            .join(job)
            .join(name)
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.email=ci@example.com", "-c", "user.name=ci"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

fn passed(out: &Output, job: &str) -> String {
    let text = format!("{}{}", stdout(out), stderr(out));
    assert!(
        out.status.success() && text.contains(&format!("PASS  {job}")),
        "{job} did not pass:\n{text}"
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_template_deploys_a_canary_then_promote_and_rollback_run_as_manual_jobs() {
    let test = "ci_templates::gitlab";
    let Some(glci) = gitlab_ci_local(test) else {
        return;
    };
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    let dir = p.env.dir().to_path_buf();
    // A repository as a user has it: the template included from its own file.
    std::fs::create_dir_all(dir.join("ci/gitlab")).expect("mkdir");
    std::fs::copy(
        root().join("ci/gitlab/shipctl.gitlab-ci.yml"),
        dir.join("ci/gitlab/shipctl.gitlab-ci.yml"),
    )
    .expect("copy the template");
    p.env.write(
        ".gitlab-ci.yml",
        "include:\n  - local: ci/gitlab/shipctl.gitlab-ci.yml\n\nvariables:\n  SHIPCTL_STRATEGY: canary\n  SHIPCTL_NEW: \"1\"\n",
    );
    git(&dir, &["init", "-q", "-b", "main", "."]);
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "https://gitlab.example.com/acme/shop.git",
        ],
    );
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "shop"]);
    p.deploy("1.0.0");
    let ci = Pipeline { glci, p: &p };

    // The pipeline: the deploy job runs, the manual ones wait.
    let out = ci.run(None, &[("SHIPCTL_VERSION", "1.1.0")]);
    let text = passed(&out, "shipctl-deploy");
    assert!(
        !text.contains("shipctl-promote") && !text.contains("shipctl-rollback"),
        "a manual job ran without being started:\n{text}"
    );
    let log = ci.log("shipctl-deploy");
    for line in [
        "web: canary blue 1.0.0 -> green 1.1.0",
        "web: [1/",
        "web: paused: green 1.1.0 runs as a canary and waits",
        "web: canary green@1.1.0 is running",
    ] {
        assert!(
            log.contains(line),
            "`{line}` missing from the job log:\n{log}"
        );
    }
    let events = ndjson(&ci.artifact("shipctl-deploy", "shipctl-deploy.ndjson"));
    assert_eq!(finished(&events).as_deref(), Some("awaiting_promotion"));
    assert!(events.iter().any(|e| e["event"] == "step_finished"));
    assert_eq!(p.key("traffic").await.as_deref(), Some("blue=50,green=50"));
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
    let summary = std::fs::read_to_string(ci.artifact("shipctl-deploy", "shipctl-summary.md"))
        .expect("the summary is an artifact");
    assert!(
        summary.contains("### shipctl deploy: awaiting_promotion"),
        "{summary}"
    );
    assert!(summary.contains("blue 50%, green 50%"), "{summary}");
    assert_mermaid_draws(test, &summary);

    // Someone presses "play" on promote.
    let out = ci.run(Some("shipctl-promote"), &[]);
    passed(&out, "shipctl-promote");
    let log = ci.log("shipctl-promote");
    assert!(log.contains("web: green@1.1.0 is live"), "{log}");
    let events = ndjson(&ci.artifact("shipctl-promote", "shipctl-promote.ndjson"));
    assert_eq!(finished(&events).as_deref(), Some("done"));
    assert_eq!(p.key("active-zone").await.as_deref(), Some("green"));
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));

    // ... then on rollback: the warm zone serves again.
    let out = ci.run(Some("shipctl-rollback"), &[]);
    passed(&out, "shipctl-rollback");
    let log = ci.log("shipctl-rollback");
    assert!(log.contains("web: blue@1.0.0 is live"), "{log}");
    let events = ndjson(&ci.artifact("shipctl-rollback", "shipctl-rollback.ndjson"));
    assert_eq!(finished(&events).as_deref(), Some("done"));
    assert_eq!(p.key("active-zone").await.as_deref(), Some("blue"));
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
    assert_eq!(p.key("traffic").await.as_deref(), Some("blue=100,green=0"));

    // shipctl's exit code is the job's: nothing to promote is bad input, exit 2.
    let out = ci.run(Some("shipctl-promote"), &[]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FAIL 2"), "exit code 2 not shown:\n{text}");
    assert!(text.contains("has no canary in progress"), "{text}");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
}

// ---------------------------------------------------------------------------------------------
// GitHub Actions

/// `action.yml` run the way GitHub's runner runs a composite action's `run:` steps: each
/// step's `${{ ... }}` expressions substituted (inputs with their defaults, the action path,
/// earlier steps' outputs), its `env:` set, in its working directory, with
/// `bash --noprofile --norc -eo pipefail` and the variables GitHub sets.
struct Runner {
    action: Value,
    workspace: PathBuf,
    temp: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// One run of the action.
struct ActionRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    outputs: HashMap<String, String>,
    summary: String,
}

impl Runner {
    fn new(workspace: &Path, env: Vec<(String, String)>) -> Runner {
        let text = std::fs::read_to_string(root().join("action.yml")).expect("read action.yml");
        let action: Value = serde_yaml_ng::from_str(&text).expect("action.yml is YAML");
        assert_eq!(action["runs"]["using"], "composite");
        Runner {
            action,
            workspace: workspace.to_path_buf(),
            temp: tempfile::tempdir().expect("runner temp"),
            env,
        }
    }

    /// Replaces every `${{ expr }}`; an expression this runner does not know fails the test
    /// (so the action cannot rely on something it does not show here).
    fn substitute(
        &self,
        text: &str,
        inputs: &HashMap<String, String>,
        steps: &HashMap<String, HashMap<String, String>>,
    ) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unclosed ${{") + start;
            let expr = rest[start + 3..end].trim();
            let value = if let Some(name) = expr.strip_prefix("inputs.") {
                inputs
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("unknown input `{name}`"))
            } else if expr == "github.action_path" {
                root().display().to_string()
            } else if let Some(path) = expr.strip_prefix("steps.") {
                let (id, output) = path.split_once(".outputs.").expect("steps.ID.outputs.NAME");
                steps
                    .get(id)
                    .and_then(|o| o.get(output))
                    .cloned()
                    .unwrap_or_default()
            } else {
                panic!("the test runner does not know the expression `{expr}`")
            };
            out.push_str(&value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn run(&self, given: &[(&str, &str)]) -> ActionRun {
        let mut inputs: HashMap<String, String> = HashMap::new();
        let declared = self.action["inputs"].as_object().expect("inputs");
        for (name, spec) in declared {
            let default = match &spec["default"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            inputs.insert(name.clone(), default);
        }
        for (k, v) in given {
            assert!(declared.contains_key(*k), "action.yml has no input `{k}`");
            inputs.insert(k.to_string(), v.to_string());
        }
        let temp = self.temp.path();
        let summary = temp.join("step_summary.md");
        let output_file = temp.join("github_output");
        std::fs::write(&summary, "").expect("summary file");
        let mut steps: HashMap<String, HashMap<String, String>> = HashMap::new();
        let (mut code, mut out_all, mut err_all) = (Some(0), String::new(), String::new());
        for (i, step) in self.action["runs"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .enumerate()
        {
            assert_eq!(
                step["shell"], "bash",
                "step {i}: only bash steps are expected"
            );
            let script =
                self.substitute(step["run"].as_str().expect("a run: step"), &inputs, &steps);
            let script_path = temp.join(format!("step-{i}.sh"));
            std::fs::write(&script_path, script).expect("write the step");
            std::fs::write(&output_file, "").expect("output file");
            let dir = step["working-directory"]
                .as_str()
                .map(|d| self.workspace.join(self.substitute(d, &inputs, &steps)))
                .unwrap_or_else(|| self.workspace.clone());
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_path)
                .current_dir(dir)
                .env_clear();
            for (k, v) in &self.env {
                cmd.env(k, v);
            }
            cmd.env("GITHUB_ACTIONS", "true")
                .env("CI", "true")
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("GITHUB_OUTPUT", &output_file)
                .env("GITHUB_ENV", temp.join("github_env"))
                .env("GITHUB_PATH", temp.join("github_path"))
                .env("GITHUB_WORKSPACE", &self.workspace)
                .env("GITHUB_ACTION_PATH", root())
                .env("GITHUB_REPOSITORY", "acme/shop")
                .env("GITHUB_SERVER_URL", "https://github.com")
                .env("GITHUB_RUN_ID", "4242")
                .env("GITHUB_WORKFLOW", "deploy")
                .env("RUNNER_TEMP", temp)
                .env("RUNNER_OS", "Linux");
            for (k, v) in &inputs {
                cmd.env(format!("INPUT_{}", k.to_uppercase()), v);
            }
            if let Some(vars) = step["env"].as_object() {
                for (k, v) in vars {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    cmd.env(k, self.substitute(&v, &inputs, &steps));
                }
            }
            let out = cmd.output().expect("run bash");
            out_all.push_str(&stdout(&out));
            err_all.push_str(&stderr(&out));
            let written = std::fs::read_to_string(&output_file).unwrap_or_default();
            if let Some(id) = step["id"].as_str() {
                steps.insert(id.to_string(), parse_outputs(&written));
            }
            code = out.status.code();
            if !out.status.success() {
                break;
            }
        }
        let mut outputs = HashMap::new();
        for (name, spec) in self.action["outputs"].as_object().expect("outputs") {
            let value = spec["value"].as_str().expect("output value");
            outputs.insert(name.clone(), self.substitute(value, &inputs, &steps));
        }
        ActionRun {
            code,
            stdout: out_all,
            stderr: err_all,
            outputs,
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        }
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks, as GitHub reads GITHUB_OUTPUT; a name
/// written twice keeps its last value.
fn parse_outputs(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn github_action_runs_its_steps_as_the_runner_does_with_summary_outputs_and_exit_codes() {
    let test = "ci_templates::github";
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    let bin = shipctl_bin().display().to_string();
    let mut env = vec![
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        ),
        ("HOME".to_string(), p.env.dir().display().to_string()),
    ];
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        env.push(("DOCKER_HOST".into(), host));
    }
    // The workflow's checkout is the workspace; the action runs in it.
    let runner = Runner::new(p.env.dir(), env);
    let project = p.project().to_string();
    let common = [("shipctl", bin.as_str()), ("project", project.as_str())];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all: Vec<(&str, &str)> = common.to_vec();
        all.extend_from_slice(extra);
        all
    };

    let first = runner.run(&with(&[("version", "1.0.0")]));
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.outputs["result"], "success");
    assert_eq!(first.outputs["exit-code"], "0");
    assert!(
        first.stderr.contains("web: [1/"),
        "plain progress lines: {}",
        first.stderr
    );

    let canary = runner.run(&with(&[
        ("version", "1.1.0"),
        ("strategy", "canary"),
        ("new", "1"),
    ]));
    assert_eq!(canary.code, Some(0), "{}\n{}", canary.stdout, canary.stderr);
    assert_eq!(canary.outputs["result"], "awaiting_promotion");
    let events = ndjson(Path::new(&canary.outputs["events"]));
    assert_eq!(finished(&events).as_deref(), Some("awaiting_promotion"));
    for part in [
        "### shipctl deploy: awaiting_promotion",
        "| web | blue@1.0.0 | green@1.1.0 | awaiting_promotion |",
        "```mermaid\ngantt\n",
        "section traffic",
        "| 0.0s | blue 100%, green 0% |",
        "blue 50%, green 50%",
        "waits for shipctl promote or abort",
    ] {
        assert!(
            canary.summary.contains(part),
            "`{part}` missing:\n{}",
            canary.summary
        );
    }
    assert_mermaid_draws(test, &canary.summary);
    insta::with_settings!({filters => vec![
        (r"st-[0-9a-f]{8}", "st-XXXXXXXX"),
        (r"\d\d:\d\d:\d\d\.\d{3}", "[CLOCK]"),
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "RELEASE"),
        (r"\d+(\.\d+)?m?s\b", "[T]"),
        (r"\S*…", "…"),
    ]}, {
        insta::assert_snapshot!("github_canary_step_summary", canary.summary);
    });
    assert_eq!(p.key("traffic").await.as_deref(), Some("blue=50,green=50"));

    let promoted = runner.run(&with(&[("command", "promote"), ("services", "web")]));
    assert_eq!(
        promoted.code,
        Some(0),
        "{}\n{}",
        promoted.stdout,
        promoted.stderr
    );
    assert_eq!(promoted.outputs["result"], "success");
    assert!(
        promoted.summary.contains("### shipctl promote: success"),
        "{}",
        promoted.summary
    );
    assert!(
        promoted.summary.contains("blue 0%, green 100%"),
        "{}",
        promoted.summary
    );
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));

    // JSON on stdout: NDJSON only, no annotation, and the same result.
    let json = runner.run(&with(&[
        ("command", "rollback"),
        ("services", "web"),
        ("output", "json"),
    ]));
    assert_eq!(json.code, Some(0), "{}\n{}", json.stdout, json.stderr);
    for line in json.stdout.lines() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("stdout not NDJSON ({e}): {line}"));
    }
    assert_eq!(json.outputs["result"], "success");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));

    // A failure fails the step with shipctl's code, as an annotation and as outputs.
    let failed = runner.run(&with(&[("services", "nosuch"), ("version", "2.0.0")]));
    assert_eq!(failed.code, Some(2), "{}\n{}", failed.stdout, failed.stderr);
    assert_eq!(failed.outputs["exit-code"], "2");
    assert_eq!(
        failed.outputs["result"], "",
        "shipctl stopped before it started"
    );
    assert!(
        failed.stdout.contains("::error title=shipctl::") && failed.stdout.contains("nosuch"),
        "{}",
        failed.stdout
    );
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));
}

#[test]
fn github_action_has_an_input_for_every_common_flag_and_passes_each_through_env() {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("read action.yml");
    let action: Value = serde_yaml_ng::from_str(&text).expect("YAML");
    let inputs = action["inputs"].as_object().expect("inputs");
    for name in [
        "command",
        "files",
        "project",
        "spec",
        "services",
        "version",
        "strategy",
        "new",
        "old",
        "step",
        "replicas",
        "promote",
        "to",
        "kv",
        "output",
        "yes",
        "lock-wait",
        "message",
        "events",
        "args",
        "shipctl",
        "working-directory",
    ] {
        assert!(inputs.contains_key(name), "no input `{name}`");
        assert!(
            inputs[name]["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "input `{name}` has no description"
        );
    }
    // Inputs are data: the script never pastes one in (a version with `$(...)` stays text).
    for step in action["runs"]["steps"].as_array().expect("steps") {
        let run = step["run"].as_str().unwrap_or_default();
        assert!(
            !run.contains("${{"),
            "a run: script pastes an expression:\n{run}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The Markdown of `history --markdown`

fn record(
    time: &str,
    action: shipctl::ports::Action,
    strategy: shipctl::spec::Strategy,
    from: Option<(&str, &str)>,
    to: (&str, &str),
    result: shipctl::ports::RunResult,
    timeline: Option<shipctl::ports::Timeline>,
) -> shipctl::ports::HistoryRecord {
    let ms = timeline.as_ref().map_or(4200, |t| t.ms);
    shipctl::ports::HistoryRecord {
        time: time.into(),
        user: "ci".into(),
        host: "runner-3".into(),
        ci_job: Some("https://gitlab.example.com/acme/shop/-/jobs/812".into()),
        service: "web".into(),
        strategy,
        action,
        from_zone: from.map(|f| f.0.to_string()),
        from_version: from.map(|f| f.1.to_string()),
        to_zone: Some(to.0.into()),
        to_version: Some(to.1.into()),
        result,
        duration_secs: ms as f64 / 1000.0,
        timeline,
    }
}

fn step(
    text: &str,
    start_ms: u64,
    ms: u64,
    outcome: shipctl::ports::StepOutcome,
) -> shipctl::ports::TimedStep {
    shipctl::ports::TimedStep {
        text: text.into(),
        start_ms,
        ms,
        outcome,
    }
}

fn split(at_ms: u64, split: &str) -> shipctl::ports::TrafficMark {
    shipctl::ports::TrafficMark {
        at_ms,
        split: split.into(),
    }
}

#[test]
fn history_markdown_charts_the_newest_runs_steps_and_traffic() {
    use shipctl::ports::{Action, RunResult, StepOutcome::*, Timeline};
    use shipctl::spec::Strategy;
    let canary = Timeline {
        ms: 7200,
        steps: vec![
            step("1/7 create green with 1.1.0 (1 replicas)", 40, 60, Done),
            step(
                "2/7 wait for 1 healthy green tasks of 1.1.0",
                100,
                3100,
                Done,
            ),
            step(
                "3/7 write shop/web-traffic=blue=75,green=25",
                3200,
                80,
                Done,
            ),
            step("4/7 drain for 2s", 3280, 2000, Done),
            step("5/7 scale blue to 3", 5280, 40, Done),
            step("6/7 pause until promoted", 5320, 0, Done),
            step("waits for shipctl promote or abort", 5330, 0, Waiting),
        ],
        traffic: vec![
            split(0, "blue=100,green=0"),
            split(3280, "blue=75,green=25"),
        ],
        analysis: Vec::new(),
    };
    let promote = Timeline {
        ms: 6100,
        steps: vec![
            step("1/5 scale green to 4", 30, 20, Done),
            step(
                "2/5 wait for 4 healthy green tasks of 1.1.0",
                50,
                3500,
                Done,
            ),
            step(
                "3/5 write shop/web-active-zone=green, shop/web-active-version=1.1.0, shop/web-traffic=blue=0,green=100",
                3560,
                70,
                Done,
            ),
            step("4/5 drain for 2s", 3630, 2000, Done),
            step("5/5 scale blue to 0", 5630, 30, Done),
        ],
        traffic: vec![
            split(0, "blue=75,green=25"),
            split(3630, "blue=0,green=100"),
        ],
        analysis: Vec::new(),
    };
    let failed = Timeline {
        ms: 41_500,
        steps: vec![
            step("1/6 update blue to 1.2.0 (4 replicas)", 20, 90, Done),
            step(
                "2/6 wait for 4 healthy blue tasks of 1.2.0, failed",
                110,
                40_000,
                Failed,
            ),
            step("rollback done", 40_110, 1300, RolledBack),
        ],
        traffic: vec![split(0, "blue=0,green=100")],
        analysis: Vec::new(),
    };
    let records = vec![
        record(
            "2026-11-30T09:00:00Z",
            Action::Deploy,
            Strategy::BlueGreen,
            None,
            ("blue", "1.0.0"),
            RunResult::Done,
            None,
        ),
        record(
            "2026-11-30T09:10:00Z",
            Action::Deploy,
            Strategy::Canary,
            Some(("blue", "1.0.0")),
            ("green", "1.1.0"),
            RunResult::AwaitingPromotion,
            Some(canary),
        ),
        record(
            "2026-11-30T09:20:00Z",
            Action::Promote,
            Strategy::Canary,
            Some(("blue", "1.0.0")),
            ("green", "1.1.0"),
            RunResult::Done,
            Some(promote),
        ),
        record(
            "2026-11-30T09:30:00Z",
            Action::Deploy,
            Strategy::BlueGreen,
            Some(("green", "1.1.0")),
            ("blue", "1.2.0"),
            RunResult::RolledBack,
            Some(failed),
        ),
    ];
    let md = shipctl::ui::history_text::markdown("web", &records);
    insta::assert_snapshot!(md);
    assert_mermaid_draws("ci_templates::history_markdown", &md);
}

#[test]
fn an_events_file_that_cannot_be_written_is_refused_before_anything_runs() {
    let env = crate::support::cli_env::CliEnv::new();
    env.copy_fixture("demo/compose.yaml", "compose.yaml");
    let out = env.run(&[
        "deploy",
        "--version",
        "1.1.0",
        "--events",
        "missing/dir/events.ndjson",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write the events file missing/dir/events.ndjson"),
        "{}",
        stderr(&out)
    );
}
