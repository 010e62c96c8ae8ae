use std::sync::Arc;

/// The text of one input file, shared by every span that points into it.
#[derive(Debug)]
pub struct SourceFile {
    /// The name shown to the user (the path as given, or `<cli>` / `<env>`).
    pub name: String,
    pub text: Arc<str>,
    /// The same text under its name, as miette renders it.
    pub named: miette::NamedSource<Arc<str>>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<SourceFile> {
        let name = name.into();
        let text = text.into();
        let named = miette::NamedSource::new(name.clone(), Arc::clone(&text));
        Arc::new(SourceFile { name, text, named })
    }
}

/// Where a value was written: byte range plus 1-based line and column.
#[derive(Debug, Clone)]
pub struct Span {
    pub file: Arc<SourceFile>,
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

impl Span {
    /// A span for values that have no file (built-in defaults, CLI flags).
    pub fn synthetic(name: &str) -> Span {
        Span {
            file: SourceFile::new(name, ""),
            offset: 0,
            len: 0,
            line: 1,
            column: 1,
        }
    }

    pub fn source_span(&self) -> miette::SourceSpan {
        (self.offset, self.len).into()
    }

    /// `file:line:column`, for messages that are not rendered with a snippet.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.name, self.line, self.column)
    }
}

// Two nodes are equal when their values are; where they were written does not matter.
impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}
