//! Where output goes. Every line shipctl writes for the user passes through one [`Printer`]:
//! results and NDJSON on stdout, messages and progress on stderr. Tests give it buffers.

use std::io::Write;
use std::sync::{Arc, Mutex};

use super::{OutputFormat, Terminal};

type Shared = Arc<Mutex<Box<dyn Write + Send>>>;

/// The terminal we talk to and the two streams we write to.
#[derive(Clone)]
pub struct Printer {
    pub terminal: Terminal,
    stdout: Shared,
    stderr: Shared,
    /// `--events FILE`: every event of a run as NDJSON, whatever `--output` says.
    events: Option<Shared>,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

impl Printer {
    /// Writes to the process's stdout and stderr.
    pub fn new(terminal: Terminal) -> Printer {
        Printer::with_streams(
            terminal,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )
    }

    pub fn with_streams(
        terminal: Terminal,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Printer {
        Printer {
            terminal,
            stdout: Arc::new(Mutex::new(stdout)),
            stderr: Arc::new(Mutex::new(stderr)),
            events: None,
        }
    }

    /// Also writes the events of a run to `events` (`--events FILE`), one JSON object a line.
    pub fn with_events(mut self, events: Box<dyn Write + Send>) -> Printer {
        self.events = Some(Arc::new(Mutex::new(events)));
        self
    }

    /// A writer into the events file, when there is one.
    pub fn events_writer(&self) -> Option<SharedWriter> {
        self.events.clone().map(SharedWriter)
    }

    pub fn format(&self) -> OutputFormat {
        self.terminal.format
    }

    pub fn is_json(&self) -> bool {
        self.terminal.format == OutputFormat::Json
    }

    /// Writes `text` to stdout as it is. A closed pipe is not an error worth stopping for.
    pub fn out(&self, text: &str) {
        write_all(&self.stdout, text);
    }

    /// Writes `text` to stderr as it is.
    pub fn err(&self, text: &str) {
        write_all(&self.stderr, text);
    }

    /// A writer into stdout, for sinks that own one.
    pub fn stdout_writer(&self) -> SharedWriter {
        SharedWriter(self.stdout.clone())
    }

    /// A writer into stderr, for sinks that own one.
    pub fn stderr_writer(&self) -> SharedWriter {
        SharedWriter(self.stderr.clone())
    }
}

fn write_all(stream: &Shared, text: &str) {
    let mut out = stream
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// One of the printer's streams, as an owned `Write`.
pub struct SharedWriter(Shared);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .flush()
    }
}
