//! The one error type that reaches `main`, and the exit code of each kind.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, SourceCode};

use crate::yaml::Span;

/// Exit codes, as documented for users and CI.
pub mod exit {
    /// Done, or the plan was printed.
    pub const OK: u8 = 0;
    /// The deployment failed and was rolled back: the old version serves.
    pub const ROLLED_BACK: u8 = 1;
    /// Bad input or usage: nothing was changed.
    pub const USAGE: u8 = 2;
    /// Failed and not fully rolled back: needs attention.
    pub const NEEDS_ATTENTION: u8 = 3;
    /// Another deploy holds the lock.
    pub const LOCKED: u8 = 4;
    /// The Swarm manager or the KV store could not be reached: nothing was changed.
    pub const UNAVAILABLE: u8 = 5;
    /// A `pre_deploy` hook failed: the deploy did not start, nothing was changed.
    pub const HOOK_FAILED: u8 = 6;
    /// `status --wait` ran out of time before every service settled.
    pub const NOT_SETTLED: u8 = 7;
    /// Interrupted at a safe point; resumable.
    pub const INTERRUPTED: u8 = 130;
}

/// A problem with something the user wrote: a file, a flag, an environment variable.
///
/// Rendered by miette with the offending snippet, its file, line and column.
#[derive(Debug, Clone)]
pub struct InputError {
    pub message: String,
    pub span: Option<Span>,
    pub label: Option<String>,
    pub help: Option<String>,
}

impl InputError {
    pub fn new(message: impl Into<String>, span: Span) -> InputError {
        InputError {
            message: message.into(),
            span: Some(span),
            label: None,
            help: None,
        }
    }

    /// An input error with no file behind it (a flag, an environment variable).
    pub fn plain(message: impl Into<String>) -> InputError {
        InputError {
            message: message.into(),
            span: None,
            label: None,
            help: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> InputError {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> InputError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

impl Diagnostic for InputError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("shipctl::input"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        // Spans without text (flags, defaults) have nothing to show.
        self.span
            .as_ref()
            .filter(|s| !s.file.text.is_empty())
            .map(|s| &s.file.named as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.as_ref().filter(|s| !s.file.text.is_empty())?;
        let label = self
            .label
            .clone()
            .unwrap_or_else(|| format!("at {}", span.location()));
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(Some(label), span.source_span()),
        )))
    }
}

/// Every way a shipctl command can fail. Each kind maps to one exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the user wrote is wrong. Nothing was changed.
    #[error(transparent)]
    Input(Box<InputError>),
    /// Several input problems found at once (all are reported).
    #[error("{} problems in the input", .0.len())]
    Inputs(Vec<InputError>),
    /// The command cannot run here yet or with these flags.
    #[error("{message}")]
    Usage {
        message: String,
        help: Option<String>,
    },
    /// The deploy failed and was rolled back; the old version still serves.
    #[error("{message}")]
    RolledBack {
        message: String,
        help: Option<String>,
    },
    /// Could not reach a service we need before anything changed (nothing was changed).
    #[error("{message}")]
    Unavailable {
        message: String,
        help: Option<String>,
    },
    /// Failed and could not fully roll back.
    #[error("{message}")]
    NeedsAttention {
        message: String,
        help: Option<String>,
    },
    /// Another deploy holds the lock.
    #[error("{message}")]
    Locked {
        message: String,
        help: Option<String>,
    },
    /// Interrupted at a safe point.
    #[error("{message}")]
    Interrupted {
        message: String,
        help: Option<String>,
    },
    /// A `pre_deploy` hook failed: the deploy did not start, nothing was changed.
    #[error("{message}")]
    HookFailed {
        message: String,
        help: Option<String>,
    },
    /// `status --wait` ran out of time before every service settled.
    #[error("{message}")]
    NotSettled {
        message: String,
        help: Option<String>,
    },
}

impl Error {
    /// The same outcome of a run with `note` added to its message (what became of the other
    /// services); other errors are returned as they are.
    pub fn with_note(self, note: &str) -> Error {
        match self {
            Error::RolledBack { message, help } => Error::RolledBack {
                message: message + note,
                help,
            },
            Error::NeedsAttention { message, help } => Error::NeedsAttention {
                message: message + note,
                help,
            },
            Error::Interrupted { message, help } => Error::Interrupted {
                message: message + note,
                help,
            },
            other => other,
        }
    }

    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) | Error::Inputs(_) | Error::Usage { .. } => exit::USAGE,
            Error::RolledBack { .. } => exit::ROLLED_BACK,
            Error::Unavailable { .. } => exit::UNAVAILABLE,
            Error::HookFailed { .. } => exit::HOOK_FAILED,
            Error::NotSettled { .. } => exit::NOT_SETTLED,
            Error::NeedsAttention { .. } => exit::NEEDS_ATTENTION,
            Error::Locked { .. } => exit::LOCKED,
            Error::Interrupted { .. } => exit::INTERRUPTED,
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Error {
        Error::Input(Box::new(e))
    }
}

impl Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self {
            Error::Input(e) => return e.code(),
            Error::Inputs(_) => "shipctl::input",
            Error::Usage { .. } => "shipctl::usage",
            Error::RolledBack { .. } => "shipctl::rolled_back",
            Error::Unavailable { .. } => "shipctl::unavailable",
            Error::NeedsAttention { .. } => "shipctl::needs_attention",
            Error::Locked { .. } => "shipctl::locked",
            Error::Interrupted { .. } => "shipctl::interrupted",
            Error::HookFailed { .. } => "shipctl::hook_failed",
            Error::NotSettled { .. } => "shipctl::not_settled",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            Error::Input(e) => e.help(),
            Error::Inputs(_) => None,
            Error::Usage { help, .. }
            | Error::RolledBack { help, .. }
            | Error::Unavailable { help, .. }
            | Error::NeedsAttention { help, .. }
            | Error::Locked { help, .. }
            | Error::Interrupted { help, .. }
            | Error::HookFailed { help, .. }
            | Error::NotSettled { help, .. } => {
                help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
            }
        }
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self {
            Error::Input(e) => e.source_code(),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self {
            Error::Input(e) => e.labels(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            Error::Inputs(list) => Some(Box::new(list.iter().map(|e| e as &dyn Diagnostic))),
            _ => None,
        }
    }
}
