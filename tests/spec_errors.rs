//! Every file of the invalid spec corpus fails with one diagnostic that points at the problem.

use std::path::Path;

use miette::{GraphicalReportHandler, GraphicalTheme};

fn render(err: &shipctl::error::Error) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(80)
        .render_report(&mut out, err)
        .expect("rendering into a String cannot fail");
    out
}

#[test]
fn invalid_spec_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/invalid/spec");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/invalid/spec exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus has lost files");
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("readable fixture");
        let name = format!("fixtures/invalid/spec/{stem}.yaml");
        let err = match shipctl::spec::parse_str(&name, &text) {
            Ok(_) => panic!("{name} should be rejected"),
            Err(e) => e,
        };
        assert_eq!(err.exit_code(), 2, "{name}");
        // One problem per file: a single diagnostic, with a span into the file.
        assert!(
            matches!(err, shipctl::error::Error::Input(_)),
            "{name}: {err:?}"
        );
        insta::assert_snapshot!(format!("spec_error__{stem}"), render(&err));
    }
}

#[test]
fn documented_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shipctl.yaml");
    let spec = shipctl::spec::load(Some(&path)).expect("the example is valid");
    assert_eq!(spec.project.as_deref(), Some("shop"));
    assert_eq!(spec.kv.url, "consul://127.0.0.1:8500");
    let web = &spec.services["web"];
    assert_eq!(web.strategy, shipctl::spec::Strategy::Canary);
    assert_eq!(web.replicas, Some(4));
    assert_eq!(web.canary.steps.len(), 5);
    // Settings not written for a service come from `defaults`.
    assert_eq!(web.health.probe.as_ref().map(|p| p.port), Some(8080));
    let worker = &spec.services["worker"];
    assert_eq!(worker.rolling.step, 2);
    assert!(worker.drain.time.is_zero());
    assert_eq!(
        spec.hooks.pre_deploy,
        vec!["./scripts/migrate.sh".to_string()]
    );
    insta::assert_json_snapshot!("spec_documented_example", spec);
}

#[test]
fn missing_file_means_defaults() {
    let spec = shipctl::spec::parse_str("shipctl.yaml", "").expect("empty is valid");
    assert_eq!(spec, shipctl::spec::Spec::default());
    insta::assert_json_snapshot!("spec_defaults", spec);
}
