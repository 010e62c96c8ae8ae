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
///
/// Every YAML value carries one, so it is kept small (24 bytes): positions are `u32`, which
/// covers any file shipctl can be asked to read (a 4 GB compose file is not one).
#[derive(Debug, Clone)]
pub struct Span {
    pub file: Arc<SourceFile>,
    pub offset: u32,
    pub len: u32,
    pub line: u32,
    pub column: u32,
}

impl Span {
    pub fn new(
        file: Arc<SourceFile>,
        offset: usize,
        len: usize,
        line: usize,
        column: usize,
    ) -> Span {
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            file,
            offset: small(offset),
            len: small(len),
            line: small(line),
            column: small(column),
        }
    }

    /// A span for values that have no file (built-in defaults, CLI flags).
    pub fn synthetic(name: &str) -> Span {
        Span::new(SourceFile::new(name, ""), 0, 0, 1, 1)
    }

    /// The byte range of the value in its file's text.
    pub fn range(&self) -> std::ops::Range<usize> {
        let start = self.offset as usize;
        start..start + self.len as usize
    }

    pub fn source_span(&self) -> miette::SourceSpan {
        (self.offset as usize, self.len as usize).into()
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
