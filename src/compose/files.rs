//! Reading compose files: each file is parsed, interpolated, has its relative paths resolved and
//! its list/map forms normalised, once, however many `extends` name it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::interpolate::{self, InterpolateError};
use super::normalize;
use super::paths::{self, Base};
use crate::error::InputError;
use crate::yaml::{self, Mapping, Node, SourceFile, Span, Value};

/// Files read so far, prepared (parsed, interpolated, paths resolved, normalised), so that a
/// file named by several `extends` is read once.
pub struct Files<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// `HOME`, for `~/...` in paths.
    pub home: Option<String>,
    cache: HashMap<PathBuf, Rc<Node>>,
    /// Variables of each service's raw `image`, by where the image was written
    /// ([`span_key`]).
    pub image_variables: HashMap<(usize, usize), Vec<String>>,
    /// Variables used without a value, with the first place they were used.
    pub unset: Vec<(String, Span)>,
}

impl<'a> Files<'a> {
    /// `lookup` gives the variables to interpolate, `home` expands `~` in paths.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>, home: Option<String>) -> Files<'a> {
        Files {
            lookup,
            home,
            cache: HashMap::new(),
            image_variables: HashMap::new(),
            unset: Vec::new(),
        }
    }

    /// Reads and prepares `path`; `from` is the `extends.file` that names it, if any.
    pub fn load(&mut self, path: &Path, from: Option<&Span>) -> Result<Rc<Node>, Vec<InputError>> {
        let key = paths::absolute(path);
        if let Some(doc) = self.cache.get(&key) {
            return Ok(Rc::clone(doc));
        }
        let doc = Rc::new(self.read(path, from)?);
        self.cache.insert(key, Rc::clone(&doc));
        Ok(doc)
    }

    /// Reads and prepares `path`, without caching it.
    pub fn read(&mut self, path: &Path, from: Option<&Span>) -> Result<Node, Vec<InputError>> {
        let key = paths::absolute(path);
        let name = if path.is_absolute() {
            paths::display_path(path)
        } else {
            path.to_string_lossy().into_owned()
        };
        let text = std::fs::read_to_string(&key).map_err(|e| {
            let message = format!("cannot read compose file `{name}`: {e}");
            let help = "check the path and the permissions";
            vec![match from {
                Some(span) => InputError::new(message, span.clone())
                    .with_label("this file")
                    .with_help(help),
                None => InputError::plain(message).with_help(help),
            }]
        })?;
        let file = SourceFile::new(name, text);
        let mut root = yaml::parse(&file).map_err(|e| vec![e])?;
        match &root.value {
            Value::Map(_) => {}
            Value::Null => root.value = Value::Map(Mapping::default()),
            _ => {
                return Err(vec![
                    InputError::new(
                        format!("a compose file must be a mapping, found {}", root.kind()),
                        root.span.clone(),
                    )
                    .with_label("expected `services:` and other top-level keys")
                    .with_help("start the file with `services:`"),
                ]);
            }
        }
        let mut errors = Vec::new();
        self.interpolate(&mut root, Place::Root, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let dir = key.parent().map(Path::to_path_buf).unwrap_or_default();
        paths::resolve(
            &mut root,
            &Base {
                dir: &dir,
                home: self.home.as_deref(),
            },
        );
        normalize::file(&mut root);
        Ok(root)
    }

    /// Interpolates every string value (keys are left alone), recording the variables of
    /// service images on the way.
    fn interpolate(&mut self, node: &mut Node, place: Place, errors: &mut Vec<InputError>) {
        match &mut node.value {
            Value::Map(map) => {
                for (key, value) in map.entries.iter_mut() {
                    let name = key.as_str().unwrap_or_default();
                    let next = match (place, name) {
                        (Place::Root, "services") => Place::Services,
                        (Place::Services, _) => Place::Service,
                        (Place::Service, "image") => Place::Image,
                        _ => Place::Other,
                    };
                    self.interpolate(value, next, errors);
                }
            }
            Value::Seq(items) => {
                for item in items {
                    self.interpolate(item, Place::Other, errors);
                }
            }
            Value::String { text, .. } => {
                if !text.contains('$') {
                    return;
                }
                if place == Place::Image {
                    let vars = interpolate::variables(text);
                    if !vars.is_empty() {
                        self.image_variables.insert(span_key(&node.span), vars);
                    }
                }
                let mut unset = Vec::new();
                match interpolate::interpolate_with(text, self.lookup, &mut |n| {
                    unset.push(n.to_string())
                }) {
                    Ok(value) => *text = value.into(),
                    Err(e) => {
                        let help = match &e {
                            InterpolateError::Required { name, .. } => format!(
                                "set `{name}` in the environment, in `.env` next to the compose file, or in the file given with --env-file"
                            ),
                            InterpolateError::Invalid { .. } => {
                                "write `${NAME}` or `${NAME:-default}`; write `$$` for a literal `$`".to_string()
                            }
                        };
                        let label = match &e {
                            InterpolateError::Required { .. } => "required here",
                            InterpolateError::Invalid { .. } => "invalid interpolation",
                        };
                        errors.push(
                            InputError::new(e.to_string(), node.span.clone())
                                .with_label(label)
                                .with_help(help),
                        );
                    }
                }
                for name in unset {
                    if !self.unset.iter().any(|(n, _)| *n == name) {
                        self.unset.push((name, node.span.clone()));
                    }
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Services,
    Service,
    Image,
    Other,
}

/// Identifies a value by where it was written (file and offset).
pub fn span_key(span: &Span) -> (usize, usize) {
    (
        Arc::as_ptr(&span.file) as *const u8 as usize,
        span.offset as usize,
    )
}
