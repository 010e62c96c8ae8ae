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

fn dir_of(config: &Path) -> PathBuf {
    match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn name_of(config: &Path) -> String {
    config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "router.conf".into())
}

/// An exclusive lock on `.{config}.shipctl.lock` beside the config, held while a router
/// writes, checks and installs it: two routers on one file take turns instead of racing.
pub struct ConfigLock(std::fs::File);

impl ConfigLock {
    pub fn take(config: &Path) -> std::io::Result<ConfigLock> {
        let path = dir_of(config).join(format!(".{}.shipctl.lock", name_of(config)));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok(ConfigLock(file))
    }
}

impl Drop for ConfigLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Writes `text` to a new temporary file next to `config`, so the final rename stays on one
/// file system and is atomic. The name is not guessable and the file is created exclusively
/// (never through a symlink someone planted); it gets the config's mode and owner, and is on
/// disk before it is renamed.
pub fn write_temp(config: &Path, text: &str) -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = dir_of(config).join(format!(
        ".{}.shipctl-{}-{nanos:08x}-{}.tmp",
        name_of(config),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    write_new(&temp, config, text)?;
    Ok(temp)
}

/// Creates `temp` (failing if anything, a symlink included, is already there) with `text`.
fn write_new(temp: &Path, config: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)?;
    let written = (|| {
        file.write_all(text.as_bytes())?;
        keep_mode_and_owner(config, &file)?;
        file.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    written
}

/// The installed config keeps its permissions and, where we may, its owner.
fn keep_mode_and_owner(config: &Path, file: &std::fs::File) -> std::io::Result<()> {
    let Ok(meta) = std::fs::metadata(config) else {
        return Ok(());
    };
    file.set_permissions(meta.permissions())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // Only root may give a file away; anyone else keeps their own files as they are.
        let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
    }
    Ok(())
}

/// Moves the checked temporary file over the config, and makes the rename durable.
pub fn install(temp: &Path, config: &Path) -> std::io::Result<()> {
    std::fs::rename(temp, config)?;
    if let Ok(dir) = std::fs::File::open(dir_of(config)) {
        let _ = dir.sync_all();
    }
    Ok(())
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
    fn a_planted_temp_path_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("nginx.conf");
        let a = write_temp(&config, "a").unwrap();
        let b = write_temp(&config, "b").unwrap();
        assert_ne!(a, b, "every temp file has a name of its own");
        // A symlink planted at the temp path is refused, not followed.
        let target = dir.path().join("elsewhere");
        let planted = dir.path().join(".nginx.conf.shipctl-planted.tmp");
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        assert!(write_new(&planted, &config, "x").is_err());
        assert!(!target.exists(), "nothing was written through the link");
        assert!(
            planted.symlink_metadata().is_ok(),
            "the planted link is left alone"
        );
    }

    #[test]
    fn the_config_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, "old").unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
        let temp = write_temp(&config, "new").unwrap();
        install(&temp, &config).unwrap();
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "new");
    }

    #[test]
    fn routers_on_one_file_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("nginx.conf");
        let first = ConfigLock::take(&config).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = config.clone();
        let waiter = std::thread::spawn(move || {
            let _second = ConfigLock::take(&other).unwrap();
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "the second router waits while the first holds the lock"
        );
        drop(first);
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
        waiter.join().unwrap();
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
