//! Writing the rendered file atomically and running the check and reload commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a check or reload command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A command that failed: its exit status and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    pub output: String,
}

/// Writes `text` to a temporary file next to `config`, so the final rename stays on one
/// file system and is atomic.
pub fn write_temp(config: &Path, text: &str) -> std::io::Result<PathBuf> {
    let dir = match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "router.conf".into());
    let temp = dir.join(format!(".{name}.shipctl-{}.tmp", std::process::id()));
    std::fs::write(&temp, text)?;
    Ok(temp)
}

/// Moves the checked temporary file over the config.
pub fn install(temp: &Path, config: &Path) -> std::io::Result<()> {
    std::fs::rename(temp, config)
}

/// Runs `command` with `sh -c`, `{file}` replaced by the quoted path.
pub async fn run_command(command: &str, file: &Path) -> Result<(), CommandFailure> {
    let line = command.replace("{file}", &shell_quote(&file.display().to_string()));
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
        Err(_) => Err(CommandFailure {
            output: format!("`{line}` did not finish within {COMMAND_TIMEOUT:?}"),
        }),
        Ok(Err(e)) => Err(CommandFailure {
            output: format!("cannot run `{line}`: {e}"),
        }),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !stdout.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&stdout);
            }
            let status = match out.status.code() {
                Some(c) => format!("exit status {c}"),
                None => "killed by a signal".to_string(),
            };
            Err(CommandFailure {
                output: if text.is_empty() {
                    format!("`{line}` failed ({status})")
                } else {
                    format!("`{line}` failed ({status}): {text}")
                },
            })
        }
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("/tmp/a.conf"), "/tmp/a.conf");
        assert_eq!(shell_quote("/tmp/my conf"), "'/tmp/my conf'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[tokio::test]
    async fn commands_see_the_file_and_failures_carry_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x y.conf");
        std::fs::write(&file, "hello").unwrap();
        assert!(run_command("grep -q hello {file}", &file).await.is_ok());
        let e = run_command("echo bad >&2; exit 3", &file)
            .await
            .unwrap_err();
        assert!(e.output.contains("exit status 3"), "{}", e.output);
        assert!(e.output.contains("bad"), "{}", e.output);
    }

    #[test]
    fn temp_files_sit_next_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("nginx.conf");
        let temp = write_temp(&config, "x").unwrap();
        assert_eq!(temp.parent(), config.parent());
        install(&temp, &config).unwrap();
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "x");
        assert!(!temp.exists());
    }
}
