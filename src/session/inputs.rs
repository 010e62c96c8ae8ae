//! Everything a command reads from files and the environment: the compose project, the spec
//! and the project name. Errors here are the user's input errors (exit 2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Settings;
use crate::compose::{self, ComposeProject, LoadOptions};
use crate::error::{Error, InputError};
use crate::plan::image::zone_env_name;
use crate::spec::{self, Spec};

/// The loaded inputs of one command.
#[derive(Debug)]
pub struct Inputs {
    pub project: String,
    pub compose: ComposeProject,
    pub spec: Spec,
    /// The directory of the spec in use (hooks run there), else the working directory.
    pub spec_dir: PathBuf,
}

/// Loads the spec, then the compose files with the version variables set.
///
/// `--version V` sets `IMAGE_VERSION` and `{ZONE}_IMAGE_VERSION` for every zone: only the
/// target zone's definition is applied, so setting all of them is the same as setting the one
/// being deployed.
pub fn load(settings: &Settings, version: Option<&str>) -> Result<Inputs, Error> {
    let cwd = &settings.cwd;
    let files = compose_files(settings)?;
    let spec_path = spec_path(settings, files.first().map(PathBuf::as_path));
    let spec = spec::load(spec_path.as_deref())?;
    let spec_dir = spec_path
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| cwd.clone(), |d| cwd.join(d));

    let mut overrides = HashMap::new();
    if let Some(version) = version {
        overrides.insert("IMAGE_VERSION".to_string(), version.to_string());
        for zone in &spec.zones {
            overrides.insert(
                format!("{}_IMAGE_VERSION", zone_env_name(zone)),
                version.to_string(),
            );
        }
    }
    let compose = compose::load(&LoadOptions {
        files: files.clone(),
        env_file: settings.env_file.clone(),
        environment: settings.env.clone(),
        overrides,
        project_dir: None,
    })?;
    let project = project_name(settings, &spec, &compose, &files)?;
    Ok(Inputs {
        project,
        compose,
        spec,
        spec_dir,
    })
}

/// Only the spec, for commands that need no compose file (a saved plan names its services).
pub fn load_spec(settings: &Settings) -> Result<Spec, Error> {
    spec::load(settings.spec.as_deref())
}

/// `-f` files, else `COMPOSE_FILE`, else the default names in the working directory.
pub(super) fn compose_files(settings: &Settings) -> Result<Vec<PathBuf>, Error> {
    let cwd = &settings.cwd;
    if !settings.compose_files.is_empty() {
        for file in &settings.compose_files {
            if !file.is_file() {
                return Err(InputError::plain(format!(
                    "compose file {} does not exist",
                    file.display()
                ))
                .with_help("check the path given with -f/--file")
                .into());
            }
        }
        return Ok(settings.compose_files.clone());
    }
    compose::discover(cwd, &settings.env).ok_or_else(|| {
        InputError::plain(format!("no compose file found in {}", cwd.display()))
            .with_help(
                "name one with -f/--file, set COMPOSE_FILE, or create compose.yaml \
                 (also found: compose.yml, docker-compose.yaml, docker-compose.yml)",
            )
            .into()
    })
}

/// `--spec`, else `shipctl.yaml` in the working directory, else next to the first compose file.
pub(super) fn spec_path(settings: &Settings, first_compose: Option<&Path>) -> Option<PathBuf> {
    let cwd = &settings.cwd;
    if let Some(path) = &settings.spec {
        return Some(path.clone());
    }
    let mut candidates = vec![cwd.join("shipctl.yaml"), cwd.join("shipctl.yml")];
    if let Some(dir) = first_compose.and_then(Path::parent) {
        candidates.push(dir.join("shipctl.yaml"));
        candidates.push(dir.join("shipctl.yml"));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// `-p`, else `COMPOSE_PROJECT_NAME`, else spec `project:`, else compose `name:`, else the
/// directory of the first compose file; normalised like Compose does.
fn project_name(
    settings: &Settings,
    spec: &Spec,
    compose: &ComposeProject,
    files: &[PathBuf],
) -> Result<String, Error> {
    project_and_source(settings, spec, compose, files).map(|(name, _)| name)
}

/// The project name and where it came from (`-p/--project`, `COMPOSE_PROJECT_NAME`, ...).
pub(super) fn project_and_source(
    settings: &Settings,
    spec: &Spec,
    compose: &ComposeProject,
    files: &[PathBuf],
) -> Result<(String, &'static str), Error> {
    let (raw, source) = if let Some(p) = &settings.project {
        (p.clone(), "-p/--project")
    } else if let Some(p) = settings.var("COMPOSE_PROJECT_NAME") {
        (p.to_string(), "COMPOSE_PROJECT_NAME")
    } else if let Some(p) = &spec.project {
        (p.clone(), "the spec's `project:`")
    } else if let Some(p) = &compose.name {
        (p.clone(), "the compose `name:`")
    } else {
        let dir = files
            .first()
            .and_then(|f| f.canonicalize().ok())
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| settings.cwd.clone());
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (name, "the compose file's directory name")
    };
    let normalised = normalise_project(&raw);
    if normalised.is_empty() {
        return Err(InputError::plain(format!(
            "project name `{raw}` (from {source}) has no usable characters"
        ))
        .with_help("name the project with -p/--project using a-z, 0-9, `_` or `-`")
        .into());
    }
    Ok((normalised, source))
}

/// Compose's rule: lower case, keep `a-z0-9_-`, must start with a letter or digit.
pub fn normalise_project(raw: &str) -> String {
    let lowered: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    lowered
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_normalised_like_compose() {
        assert_eq!(normalise_project("My App"), "myapp");
        assert_eq!(normalise_project("_demo-1"), "demo-1");
        assert_eq!(normalise_project("..."), "");
    }
}
