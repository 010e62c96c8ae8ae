//! What kind of terminal we talk to, decided once from the environment and the flags.

use std::collections::HashMap;
use std::io::IsTerminal;

/// How results are written: `--output text|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Readable text; progress bars on a terminal
    Text,
    /// JSON (NDJSON events while running, then a summary object)
    Json,
}

/// How output should look and whether we may ask questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    pub format: OutputFormat,
    /// ANSI colours and progress bars on stderr.
    pub color: bool,
    /// stderr is a terminal: progress bars may be drawn.
    pub progress: bool,
    /// We may prompt: stdin and stderr are terminals, not CI, not `--non-interactive`.
    pub interactive: bool,
    /// stdout is a terminal: a live view may redraw the screen.
    pub stdout_tty: bool,
}

impl Terminal {
    pub fn detect(
        format: OutputFormat,
        non_interactive: bool,
        env: &HashMap<String, String>,
    ) -> Terminal {
        let stderr_tty = std::io::stderr().is_terminal();
        let stdin_tty = std::io::stdin().is_terminal();
        let ci = env.get("CI").is_some_and(|v| !v.is_empty() && v != "false");
        let no_color = env.get("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = env.get("TERM").is_some_and(|t| t == "dumb");
        Terminal {
            format,
            color: stderr_tty && !no_color && !dumb,
            progress: stderr_tty && !dumb && format == OutputFormat::Text,
            interactive: stdin_tty && stderr_tty && !ci && !non_interactive,
            stdout_tty: std::io::stdout().is_terminal(),
        }
    }
}

impl Terminal {
    /// No colours, no bars, no questions: for errors met before the terminal was looked at.
    pub fn plain(format: OutputFormat) -> Terminal {
        Terminal {
            format,
            color: false,
            progress: false,
            interactive: false,
            stdout_tty: false,
        }
    }
}
