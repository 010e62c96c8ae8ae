//! A quick reader for the plain shape most compose and spec files are written in: block
//! mappings and sequences indented with spaces, one-line scalars (plain, or quoted without
//! escapes), comments, and one-line flow collections (`[a, "b"]`, `{cpus: "0.5"}`).
//!
//! It hands out the same events, with the same positions, as the full YAML parser; on anything
//! else (anchors, tags, block scalars, multi-line values, escapes, directives, a syntax error)
//! it gives up, and the full parser reads the text from the start. It only ever decides
//! whether a text is this plain; every error is worded by the full parser.
//!
//! Why: on a big file the full parser takes about 200 instructions per byte, close to half of
//! what `plan` runs for a thousand services; this reader takes about a fifth of that.

use std::borrow::Cow;

use saphyr_parser::{Event, Parser, ScalarStyle};

/// The start of the next line that holds something (not blank, not only a comment) and its
/// indentation; `None` at the end of the text.
type Next = Option<(usize, usize)>;

/// Reads `text`, handing each event and its character range to `emit` (which returns false to
/// stop). `None` when the text is not of the plain shape or `emit` stopped: the caller then
/// parses it with the full parser. A text without content yields no event.
pub(super) fn read<'a, F>(text: &'a str, emit: F) -> Option<()>
where
    F: FnMut(Event<'a>, usize, usize) -> bool,
{
    // ASCII only (character index == byte offset), no control characters: tabs, carriage
    // returns and the like each have rules of their own.
    if !text
        .bytes()
        .all(|c| c == b'\n' || (b' '..0x7f).contains(&c))
    {
        return None;
    }
    let mut reader = Reader {
        text,
        b: text.as_bytes(),
        emit,
        depth: 0,
    };
    let Some((line, indent)) = reader.next_content(0)? else {
        return Some(());
    };
    let at = line + indent;
    reader.send(Event::DocumentStart(false), at, at)?;
    if reader.block_node(at, indent)?.is_some() {
        // Something less indented than the root after it.
        return None;
    }
    let end = text.len();
    reader.send(Event::DocumentEnd, end, end)
}

/// How deep collections may nest here. Each level is a call on the stack (parts of a big
/// file are read on threads with small stacks), and real files nest a few levels; deeper text
/// (`[[[[...`) goes to the full parser, which keeps its levels on the heap.
const MAX_DEPTH: usize = 64;

struct Reader<'a, F> {
    text: &'a str,
    b: &'a [u8],
    emit: F,
    depth: usize,
}

/// A scalar as read: its text and style, its range, and where its text ends (after the closing
/// quote, or after the last character that is not a space).
struct Scalar<'a> {
    text: Cow<'a, str>,
    style: ScalarStyle,
    start: usize,
    after: usize,
}

impl<'a, F> Reader<'a, F>
where
    F: FnMut(Event<'a>, usize, usize) -> bool,
{
    fn send(&mut self, event: Event<'a>, start: usize, end: usize) -> Option<()> {
        (self.emit)(event, start, end).then_some(())
    }

    /// A scalar's event. The full parser ends a quoted scalar's range after the blanks (and
    /// a comment) that follow it on its line.
    fn scalar_event(&mut self, scalar: Scalar<'a>, after: usize) -> Option<()> {
        let end = if scalar.style == ScalarStyle::Plain {
            after
        } else {
            self.token_or_eol(after)
        };
        self.send(
            Event::Scalar(scalar.text, scalar.style, 0, None),
            scalar.start,
            end,
        )
    }

    fn is_eol(&self, i: usize) -> bool {
        matches!(self.b.get(i), None | Some(b'\n'))
    }

    fn blank_or_eol(&self, i: usize) -> bool {
        matches!(self.b.get(i), None | Some(b' ' | b'\n'))
    }

    /// The end of the line `i` is on (its `\n`, or the end of the text).
    fn eol(&self, i: usize) -> usize {
        self.b
            .get(i..)
            .and_then(|rest| rest.iter().position(|&c| c == b'\n'))
            .map_or(self.b.len(), |k| i + k)
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while self.b.get(i) == Some(&b' ') {
            i += 1;
        }
        i
    }

    /// The column of `i` on its line.
    fn column(&self, i: usize) -> usize {
        i - self.b[..i]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |k| k + 1)
    }

    /// The next line from `i` (a line start) that holds something. `None` (give up) at a
    /// document marker or a directive.
    fn next_content(&self, mut i: usize) -> Option<Next> {
        while i < self.b.len() {
            let end = self.eol(i);
            let first = self.skip_spaces(i);
            if first < end && self.b[first] != b'#' {
                if first == i
                    && (self.b[i..].starts_with(b"---")
                        || self.b[i..].starts_with(b"...")
                        || self.b[i] == b'%')
                {
                    return None;
                }
                return Some(Some((i, first - i)));
            }
            i = end + 1;
        }
        Some(None)
    }

    /// Whether a block sequence entry (`-` then a space or the line's end) starts at `i`.
    fn is_dash(&self, i: usize) -> bool {
        self.b.get(i) == Some(&b'-') && self.blank_or_eol(i + 1)
    }

    /// A block node whose first line starts at `at`, indented by `indent`.
    fn block_node(&mut self, at: usize, indent: usize) -> Option<Next> {
        if self.is_dash(at) {
            self.block_seq(at, indent, false)
        } else if self.key(at).is_some() {
            self.block_map(at, indent)
        } else {
            None
        }
    }

    /// A key at `at`: the scalar and the position of its `:`.
    fn key(&self, at: usize) -> Option<(Scalar<'a>, usize)> {
        let scalar = self.scalar(at, false)?;
        let colon = if scalar.style == ScalarStyle::Plain {
            self.skip_spaces(scalar.after)
        } else {
            scalar.after
        };
        // The full parser refuses implicit keys of 1,024 characters or more.
        (self.b.get(colon) == Some(&b':') && self.blank_or_eol(colon + 1) && colon - at < 1000)
            .then_some((scalar, colon))
    }

    /// `read` one level deeper, or `None` past [`MAX_DEPTH`].
    fn nested<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let out = read(self);
        self.depth -= 1;
        out
    }

    fn block_map(&mut self, first: usize, indent: usize) -> Option<Next> {
        self.nested(|r| r.block_map_entries(first, indent))
    }

    fn block_map_entries(&mut self, first: usize, indent: usize) -> Option<Next> {
        self.send(Event::MappingStart(0, None), first, first)?;
        let mut at = first;
        loop {
            let (key, colon) = self.key(at)?;
            let end = key.after;
            self.scalar_event(key, end)?;
            match self.value(colon, indent, true)? {
                Some((line, ind)) if ind == indent => {
                    at = line + ind;
                    if self.is_dash(at) {
                        return None;
                    }
                }
                Some((_, ind)) if ind > indent => return None,
                next => {
                    self.send(Event::MappingEnd, first, first)?;
                    return Some(next);
                }
            }
        }
    }

    /// A block sequence whose first `-` is at `first`. One as indented as the key it is the
    /// value of (`indentless`) starts, for the full parser, at what follows that `-`: the
    /// entry, or the end of its line.
    fn block_seq(&mut self, first: usize, indent: usize, indentless: bool) -> Option<Next> {
        self.nested(|r| r.block_seq_entries(first, indent, indentless))
    }

    fn block_seq_entries(&mut self, first: usize, indent: usize, indentless: bool) -> Option<Next> {
        let start = if indentless {
            self.token_or_eol(first + 1)
        } else {
            first
        };
        self.send(Event::SequenceStart(0, None), start, start)?;
        let mut dash = first;
        loop {
            match self.value(dash, indent, false)? {
                Some((line, ind)) if ind == indent && self.is_dash(line + ind) => dash = line + ind,
                Some((_, ind)) if ind > indent => return None,
                next => {
                    self.send(Event::SequenceEnd, first, first)?;
                    return Some(next);
                }
            }
        }
    }

    /// Where the next token after `i` on its line starts, or the end of the line when only
    /// blanks and a comment follow.
    fn token_or_eol(&self, i: usize) -> usize {
        let first = self.skip_spaces(i);
        if self.b.get(first) == Some(&b'#') {
            self.eol(first)
        } else {
            first
        }
    }

    /// The value after a mapping's `:` or a sequence's `-` (at `indicator`). `indent` is the
    /// indentation of the mapping or sequence.
    fn value(&mut self, indicator: usize, indent: usize, in_map: bool) -> Option<Next> {
        let first = self.skip_spaces(indicator + 1);
        if self.is_eol(first) || self.b[first] == b'#' {
            // An empty value is placed at the `:`, or at the end of the `-`'s line.
            let empty_at = if in_map { indicator } else { self.eol(first) };
            let next = self.next_content(self.eol(first) + 1)?;
            return match next {
                Some((line, ind)) if ind > indent => self.block_node(line + ind, ind),
                // A sequence as a mapping's value may be as indented as its key.
                Some((line, ind)) if in_map && ind == indent && self.is_dash(line + ind) => {
                    self.block_seq(line + ind, ind, true)
                }
                next => {
                    self.send(
                        Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
                        empty_at,
                        empty_at,
                    )?;
                    Some(next)
                }
            };
        }
        if !in_map {
            if self.is_dash(first) {
                return None;
            }
            // `- key: value`: a mapping that starts on the entry's line.
            if self.key(first).is_some() {
                return self.block_map(first, self.column(first));
            }
        }
        let after = match self.b[first] {
            b'[' | b'{' => self.flow(first)?,
            _ => {
                let scalar = self.scalar(first, false)?;
                let after = scalar.after;
                self.scalar_event(scalar, after)?;
                after
            }
        };
        let rest = self.skip_spaces(after);
        if !(self.is_eol(rest) || (self.b[rest] == b'#' && rest > after)) {
            return None;
        }
        self.next_content(self.eol(rest) + 1)
    }

    /// A one-line flow collection at `at` (its `[` or `{`); where it ends.
    fn flow(&mut self, at: usize) -> Option<usize> {
        self.nested(|r| r.flow_entries(at))
    }

    fn flow_entries(&mut self, at: usize) -> Option<usize> {
        let map = self.b[at] == b'{';
        let (start, end_event, close) = if map {
            (Event::MappingStart(0, None), Event::MappingEnd, b'}')
        } else {
            (Event::SequenceStart(0, None), Event::SequenceEnd, b']')
        };
        // The full parser's range of a `[` or `{` runs over the spaces after it.
        let end = self.skip_spaces(at + 1);
        self.send(start, at, end)?;
        let mut i = end;
        loop {
            match self.b.get(i) {
                Some(&c) if c == close => {
                    self.send(end_event, i, i + 1)?;
                    return Some(i + 1);
                }
                None | Some(b'\n' | b',' | b'#') => return None,
                _ => {}
            }
            i = if map {
                self.flow_entry(i)?
            } else {
                self.flow_node(i)?
            };
            i = self.skip_spaces(i);
            match self.b.get(i) {
                Some(b',') => i = self.skip_spaces(i + 1),
                Some(&c) if c == close => {}
                _ => return None,
            }
        }
    }

    /// A `key: value` (or `key:`) of a flow mapping at `at`; where it ends.
    fn flow_entry(&mut self, at: usize) -> Option<usize> {
        let key = self.scalar(at, true)?;
        let colon = key.after;
        if self.b.get(colon) != Some(&b':')
            || !matches!(self.b.get(colon + 1), Some(b' ' | b',' | b'}'))
        {
            return None;
        }
        self.scalar_event(key, colon)?;
        let i = self.skip_spaces(colon + 1);
        match self.b.get(i) {
            Some(b',' | b'}') => {
                self.send(
                    Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
                    colon,
                    colon,
                )?;
                Some(i)
            }
            None | Some(b'\n' | b'#') => None,
            _ => self.flow_node(i),
        }
    }

    /// A node inside a flow collection; where it ends.
    fn flow_node(&mut self, at: usize) -> Option<usize> {
        match self.b.get(at) {
            Some(b'[' | b'{') => self.flow(at),
            _ => {
                let scalar = self.scalar(at, true)?;
                let after = scalar.after;
                self.scalar_event(scalar, after)?;
                Some(after)
            }
        }
    }

    /// A one-line scalar at `at`: quoted (without escapes), or plain. In a flow collection
    /// (`flow`) a plain scalar ends at a space, any `:` and any flow indicator.
    fn scalar(&self, at: usize, flow: bool) -> Option<Scalar<'a>> {
        let b = self.b;
        match *b.get(at)? {
            b'"' => {
                let mut i = at + 1;
                loop {
                    match *b.get(i)? {
                        b'"' => break,
                        b'\\' | b'\n' => return None,
                        _ => i += 1,
                    }
                }
                Some(Scalar {
                    text: Cow::Borrowed(&self.text[at + 1..i]),
                    style: ScalarStyle::DoubleQuoted,
                    start: at,
                    after: i + 1,
                })
            }
            b'\'' => {
                let mut i = at + 1;
                let mut doubled = false;
                loop {
                    match *b.get(i)? {
                        b'\'' if b.get(i + 1) == Some(&b'\'') => {
                            doubled = true;
                            i += 2;
                        }
                        b'\'' => break,
                        b'\n' => return None,
                        _ => i += 1,
                    }
                }
                let inner = &self.text[at + 1..i];
                Some(Scalar {
                    text: if doubled {
                        Cow::Owned(inner.replace("''", "'"))
                    } else {
                        Cow::Borrowed(inner)
                    },
                    style: ScalarStyle::SingleQuoted,
                    start: at,
                    after: i + 1,
                })
            }
            b'[' | b']' | b'{' | b'}' | b',' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
            | b'@' | b'`' | b'?' | b' ' | b'\n' => None,
            c @ (b'-' | b':') => {
                let next = b.get(at + 1).copied();
                if c == b':' && flow
                    || matches!(next, None | Some(b' ' | b'\n'))
                    || flow && matches!(next, Some(b',' | b'[' | b']' | b'{' | b'}'))
                {
                    return None;
                }
                Some(self.plain(at, flow))
            }
            _ => Some(self.plain(at, flow)),
        }
    }

    fn plain(&self, at: usize, flow: bool) -> Scalar<'a> {
        let b = self.b;
        let mut i = at;
        let mut after = at;
        while let Some(&c) = b.get(i) {
            match c {
                b'\n' => break,
                // In a flow collection a plain scalar is one word here: the full parser has
                // rules of its own for what may follow a space there (`[6 -]` is refused).
                b' ' if flow => break,
                b' ' => {
                    i += 1;
                    continue;
                }
                b'#' if b[i - 1] == b' ' => break,
                b':' if flow || self.blank_or_eol(i + 1) => break,
                b',' | b'[' | b']' | b'{' | b'}' if flow => break,
                _ => {}
            }
            i += 1;
            after = i;
        }
        Scalar {
            text: Cow::Borrowed(&self.text[at..after]),
            style: ScalarStyle::Plain,
            start: at,
            after,
        }
    }
}

// What the tests and the fuzz target compare.

/// An event with its range (the ends of collections without: the builder never reads it).
#[derive(Debug, PartialEq)]
enum Seen {
    Scalar(String, ScalarStyle, usize, usize),
    MapStart(usize, usize),
    SeqStart(usize, usize),
    MapEnd,
    SeqEnd,
}

fn seen(event: Event<'_>, start: usize, end: usize) -> Option<Seen> {
    match event {
        Event::Scalar(text, style, _, _) => Some(Seen::Scalar(text.into(), style, start, end)),
        Event::MappingStart(..) => Some(Seen::MapStart(start, end)),
        Event::SequenceStart(..) => Some(Seen::SeqStart(start, end)),
        Event::MappingEnd => Some(Seen::MapEnd),
        Event::SequenceEnd => Some(Seen::SeqEnd),
        _ => None,
    }
}

/// The full parser's events, `None` on a syntax error.
fn full(text: &str) -> Option<Vec<Seen>> {
    let mut out = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        out.extend(seen(event, span.start.index(), span.end.index()));
    }
    Some(out)
}

/// The quick reader's events, `None` when it gave up.
fn quick(text: &str) -> Option<Vec<Seen>> {
    let mut out = Vec::new();
    read(text, |event, start, end| {
        out.extend(seen(event, start, end));
        true
    })?;
    Some(out)
}

/// Compares the quick reader with the full parser on `text`: `Ok(false)` when the quick reader
/// gave up, `Ok(true)` when it read the same events at the same places, `Err` (what differs)
/// when it read them otherwise or read what the full parser refuses. For the tests and the
/// `yaml_reader` fuzz target.
pub fn compare(text: &str) -> Result<bool, String> {
    let Some(quick) = quick(text) else {
        return Ok(false);
    };
    match full(text) {
        Some(full) if full == quick => Ok(true),
        Some(full) => Err(format!(
            "the quick reader read {text:?} otherwise:\n  quick: {quick:?}\n  full:  {full:?}"
        )),
        None => Err(format!(
            "the quick reader read {text:?}, which the full parser refuses"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the quick reader read `text`; panics when it read it otherwise than the full
    /// parser (or read what the full parser refuses).
    fn check(text: &str, what: &str) -> bool {
        compare(text).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    #[test]
    fn reads_the_plain_shape_with_the_full_parsers_positions() {
        let text = "\
# a comment
name: shop   # trailing
services:
  web:
    image: \"reg:5000/web:${V:-1}\"   # quoted, then a comment
    command: [\"serve\", '--port', 8080, it''s]
    environment:
      A: 'it''s'
      B:
      C: -1
      D: a:b
    ports:
    - \"80:80\"
    -
    - target: 8080
      mode: host
    deploy: {limits: {cpus: \"0.5\", memory: 256M}, e: , f: [a, [b], {}], g: []}
  db:
    - a
    - - b
";
        // The last service's nested sequence on one line (`- - b`) is not the plain shape.
        assert!(!check(text, "sample"));
        let plain = text.replace("    - - b\n", "    - b\n");
        assert!(check(&plain, "sample"));
        assert!(check("", "empty"));
        assert!(check("# only a comment\n\n", "comments"));
        assert!(check(
            "a:\n- x\n- y\nb: 1",
            "a sequence as indented as its key"
        ));
        assert!(check(
            "- a: 1\n  b: 2\n- c:\n  - d\n",
            "mappings in a sequence"
        ));
    }

    #[test]
    fn gives_up_on_what_it_does_not_read() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  text\n",
            "a: >\n  text\n",
            "a: b\n  c\n",
            "a: \"x\\ty\"\n",
            "a: [1,\n  2]\n",
            "---\na: 1\n",
            "a:\tb\n",
            "a: 1\r\n",
            "a: caf\u{e9}\n",
            "? a\n: b\n",
            "a: b: c\n",
            "a:\n  b: 1\n c: 2\n",
            "just a scalar\n",
            "{a: 1}\n",
            "- {nw: 6   -}\n",
            "a: [b c]\n",
        ] {
            assert!(!check(text, "unsupported"), "read: {text:?}");
        }
        // Nested deeper than the reader goes: the full parser reads it.
        let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(!check(&deep, "deep"));
        let shallow = format!("a: {}{}\n", "[".repeat(60), "]".repeat(60));
        assert!(check(&shallow, "shallow"));
    }

    /// Every YAML file of the project (fixtures, the fuzz corpora of the compose and spec
    /// parsers, which hold many odd files) reads the same through both, where the quick reader
    /// reads it; and so do a few thousand damaged copies of them.
    const ROUNDS: usize = 10_000;

    #[test]
    fn reads_every_corpus_file_as_the_full_parser_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut todo = vec![
            root.join("fixtures"),
            root.join("tests"),
            root.join("fuzz/corpus/compose"),
            root.join("fuzz/corpus/spec"),
        ];
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    todo.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    files.push((path.display().to_string(), text));
                }
            }
        }
        files.sort();
        // Every file is checked; most of the project's own YAML files are of the plain shape.
        let unread: Vec<&str> = files
            .iter()
            .filter(|(path, text)| !check(text, path))
            .map(|(path, _)| path.as_str())
            .collect();
        let is_fixture = |path: &str| path.contains("/fixtures/") && path.ends_with(".yaml");
        let fixtures = files.iter().filter(|(path, _)| is_fixture(path)).count();
        let unread_fixtures: Vec<_> = unread.iter().filter(|path| is_fixture(path)).collect();
        assert!(
            unread_fixtures.len() * 2 < fixtures,
            "of {fixtures} fixtures, these are not read: {unread_fixtures:#?}"
        );

        // Damaged copies: a character removed, one of YAML's indicators inserted, a line
        // indented by one more space or one less.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        let inserts = [
            " ", "\n", ":", "-", "#", "'", "\"", "[", "]", "{", "}", ",", "a", "- ", ": ", " #",
            "''",
        ];
        let yaml: Vec<_> = files
            .iter()
            .filter(|(path, _)| {
                path.ends_with(".yaml") || path.ends_with(".yml") || path.contains("/corpus/")
            })
            .collect();
        let mut damaged_read = 0;
        for round in 0..ROUNDS {
            let (path, text) = yaml[random(yaml.len())];
            if text.is_empty() || !text.is_ascii() {
                continue;
            }
            let at = random(text.len());
            let mut copy = text.clone();
            let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
            match round % 4 {
                0 => {
                    copy.remove(at);
                }
                1 => copy.insert_str(at, inserts[random(inserts.len())]),
                2 => copy.insert(line, ' '),
                _ => {
                    if copy[line..].starts_with(' ') {
                        copy.remove(line);
                    }
                }
            }
            if check(&copy, &format!("{path}, damaged at {at}")) {
                damaged_read += 1;
            }
        }
        assert!(damaged_read > 300, "{damaged_read} damaged copies read");
    }

    /// The shape `bench/gen-compose.sh` writes, the one `plan` is measured on: read quickly,
    /// whole and in the parts a big file is parsed in at once.
    #[test]
    fn reads_the_benchmarks_compose_file_whole_and_in_parts() {
        let mut text = String::from("name: bench\nservices:\n");
        for i in 1..=200 {
            text.push_str(&format!(
                "  svc{i}:\n    image: registry.example.com:5000/team/svc{i}:${{IMAGE_VERSION:-1.0.{i}}}\n    command: [\"serve\", \"--port\", \"8080\"]\n    environment:\n      SERVICE_ID: \"{i}\"\n      LOG_LEVEL: info\n    labels:\n      team: platform\n    networks: [backend]\n    healthcheck:\n      test: [\"CMD\", \"wget\", \"-q\", \"-O-\", \"http://localhost:8080/health\"]\n      interval: 5s\n    deploy:\n      replicas: 3\n      resources:\n        limits: {{cpus: \"0.5\", memory: 256M}}\n      update_config: {{parallelism: 1, order: start-first}}\n"
            ));
        }
        text.push_str("networks:\n  backend:\n    driver: overlay\n");
        assert!(check(&text, "benchmark compose"));
        let parts = super::super::split::parts(&text, 4).expect("a big file is cut");
        assert_eq!(parts.services.len(), 3);
        for part in [parts.head, parts.tail].into_iter().chain(parts.services) {
            assert!(check(&text[part.clone()], &format!("part {part:?}")));
        }
    }
}
