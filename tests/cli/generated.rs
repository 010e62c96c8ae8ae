//! Completions and the man page are generated from the CLI definitions; a stale copy in the
//! repository fails here. `SHIPCTL_REGENERATE=1 cargo test` rewrites them.

use std::path::Path;

#[test]
fn completions_and_man_page_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("SHIPCTL_REGENERATE").is_some();
    let mut stale = Vec::new();
    for (path, contents) in shipctl::cli::generate::generated_files().expect("render") {
        let file = root.join(path);
        if regenerate {
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(&file, &contents).expect("write");
            continue;
        }
        if std::fs::read(&file).ok().as_deref() != Some(contents.as_slice()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are stale: {stale:?}; run `SHIPCTL_REGENERATE=1 cargo test completions` and commit"
    );
}

#[test]
fn completions_command_prints_the_same_script() {
    let env = crate::support::cli_env::CliEnv::new();
    let output = env.run(&["completions", "bash"]);
    assert!(output.status.success());
    let expected =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/shipctl.bash"))
            .expect("read completions/shipctl.bash");
    assert_eq!(output.stdout, expected);
}
