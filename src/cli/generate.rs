//! Shell completions and the man page, generated from the clap definitions so they never drift.

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// The completion script for `shell`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "shipctl", &mut out);
    out
}

/// The `shipctl(1)` man page in roff.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// The files kept in the repository, with their generated contents.
pub fn generated_files() -> std::io::Result<Vec<(&'static str, Vec<u8>)>> {
    Ok(vec![
        ("completions/shipctl.bash", completion(Shell::Bash)),
        ("completions/_shipctl", completion(Shell::Zsh)),
        ("completions/shipctl.fish", completion(Shell::Fish)),
        ("man/shipctl.1", man_page()?),
    ])
}
