use std::cell::Cell;
use std::ops::Range;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

use super::{Mapping, Node, SourceFile, Span, Text, Value, fast, split};
use crate::error::InputError;

/// How many values the aliases of one document may copy in all. Nested aliases multiply (ten
/// aliases of ten aliases of ...): a few hundred bytes would otherwise expand to billions of
/// values and exhaust memory. Real files copy a few thousand.
const MAX_ALIAS_VALUES: usize = 1_000_000;

/// Parses one YAML document into a [`Node`] tree.
///
/// Anchors and aliases are expanded and `<<` merge keys applied, as Compose does. An empty
/// document yields a null node. Duplicate keys are an error (Compose rejects them too), and so
/// are aliases that expand to more than [`MAX_ALIAS_VALUES`] values.
///
/// A big compose file is parsed in parts at once where its shape allows ([`split::parts`]);
/// the tree is the same as a whole parse's, and any trouble falls back to the whole parse.
pub fn parse(file: &Arc<SourceFile>) -> Result<Node, InputError> {
    let positions = Positions::new(&file.text);
    // Asked only for a file big enough to split: on Linux the answer reads cgroup files.
    if file.text.len() >= split::MIN_SPLIT_LEN {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        if let Some(parts) = split::parts(&file.text, threads)
            && let Some(node) = parse_in_parts(file, &positions, &parts)
        {
            return Ok(node);
        }
    }
    Ok(
        parse_range(file, &positions, 0..file.text.len())?.unwrap_or_else(|| Node {
            value: Value::Null,
            span: positions.span(file, 0, 0, &Cell::new(0)),
        }),
    )
}

/// The root of the document in `range` of the file, `None` when it holds none.
fn parse_range(
    file: &Arc<SourceFile>,
    positions: &Positions,
    range: Range<usize>,
) -> Result<Option<Node>, InputError> {
    let new_builder = || Builder {
        file,
        positions,
        base: range.start,
        last_line: Cell::new(0),
        stack: Vec::new(),
        items: Vec::new(),
        entries: Vec::new(),
        anchors: Vec::new(),
        aliased: 0,
        root: None,
        documents: 0,
    };
    let text = &file.text[range.clone()];
    // The quick reader first; the full parser reads what it gives up on, and words every
    // error (a duplicate key included, so that messages never depend on the reader).
    let mut builder = new_builder();
    if fast::read(text, |event, start, end| {
        builder
            .event(event, YamlSpan::new(marker(start), marker(end)))
            .is_ok()
    })
    .is_some()
    {
        return Ok(builder.root);
    }
    let mut builder = new_builder();
    for event in Parser::new_from_str(text) {
        builder.take(event)?;
    }
    Ok(builder.root)
}

/// A parser position; the builder reads only its character index.
fn marker(index: usize) -> saphyr_parser::Marker {
    saphyr_parser::Marker::new(index, 0, 0)
}

/// The parts of `parts` parsed at once and put together, or `None` when any of them does not
/// parse or does not fit (the whole parse then decides, and words any error).
fn parse_in_parts(
    file: &Arc<SourceFile>,
    positions: &Positions,
    parts: &split::Parts,
) -> Option<Node> {
    let (head, services, tail) = std::thread::scope(|scope| {
        let services: Vec<_> = parts
            .services
            .iter()
            .map(|range| {
                let range = range.clone();
                scope.spawn(move || parse_range(file, positions, range))
            })
            .collect();
        let tail = scope.spawn(|| parse_range(file, positions, parts.tail.clone()));
        let head = parse_range(file, positions, parts.head.clone());
        let services: Vec<_> = services.into_iter().map(|t| t.join().ok()).collect();
        (head, services, tail.join().ok())
    });
    let mut root = head.ok()??;
    let Value::Map(top) = &mut root.value else {
        return None;
    };
    let mut top_keys = string_keys(top)?;
    let (key, entries) = top.entries.last_mut()?;
    let Value::Map(entries) = &mut entries.value else {
        return None;
    };
    if key.as_str() != Some("services") {
        return None;
    }
    let mut names = string_keys(entries)?;
    for part in services {
        let Value::Map(part) = part?.ok()??.value else {
            return None;
        };
        for (name, service) in part.entries {
            // A name given twice: the whole parse says where.
            if !names.insert(name.as_str()?.to_string()) {
                return None;
            }
            entries.entries.push((name, service));
        }
    }
    match tail?.ok()? {
        None => {}
        Some(Node {
            value: Value::Map(rest),
            ..
        }) => {
            for (key, value) in rest.entries {
                if !top_keys.insert(key.as_str()?.to_string()) {
                    return None;
                }
                top.entries.push((key, value));
            }
        }
        Some(_) => return None,
    }
    Some(root)
}

/// The keys of `map`, when all are strings.
fn string_keys(map: &Mapping) -> Option<std::collections::HashSet<String>> {
    map.entries
        .iter()
        .map(|(k, _)| k.as_str().map(str::to_string))
        .collect()
}

type ParseResult<'input> = Result<(Event<'input>, YamlSpan), saphyr_parser::ScanError>;

/// Converts the parser's character indexes into byte offsets.
struct Positions {
    /// Byte offset of each character; empty when the text is ASCII (index == offset).
    offsets: Vec<usize>,
    /// Byte offset where each line starts, so that a span's line is a binary search rather
    /// than a scan of everything before it (which made big files quadratic).
    line_starts: Vec<usize>,
    len: usize,
}

impl Positions {
    fn new(text: &str) -> Positions {
        let offsets = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i).collect()
        };
        // memchr's vector search: this scan runs before a big file is parsed in parts, on
        // one thread (a char search per line took about 200 instructions a line).
        let line_starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
            .collect();
        Positions {
            offsets,
            line_starts,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.offsets.is_empty() {
            char_index.min(self.len)
        } else {
            self.offsets.get(char_index).copied().unwrap_or(self.len)
        }
    }

    /// The span of characters `start..end`; `last_line` is where the previous span of the
    /// same parse was, as events arrive mostly in file order.
    fn span(
        &self,
        file: &Arc<SourceFile>,
        start: usize,
        end: usize,
        last_line: &Cell<usize>,
    ) -> Span {
        let offset = self.byte(start);
        let end = self.byte(end).max(offset);
        // Step forward from the last line when possible.
        let last = last_line.get();
        let line_index = if self.line_starts.get(last).is_some_and(|&s| s <= offset) {
            let mut i = last;
            while self.line_starts.get(i + 1).is_some_and(|&s| s <= offset) {
                i += 1;
            }
            i
        } else {
            self.line_starts
                .partition_point(|&start| start <= offset)
                .saturating_sub(1)
        };
        last_line.set(line_index);
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0);
        let line = line_index + 1;
        let column = if self.offsets.is_empty() {
            offset - line_start + 1
        } else {
            file.text[line_start..offset].chars().count() + 1
        };
        Span::new(Arc::clone(file), offset, end - offset, line, column)
    }
}

/// A collection being read. Its items (entries) so far are at the end of the builder's
/// `items` (`entries`), from `start` on: one list shared by every level, from which each
/// collection takes its own at its end, in a list of its exact size. Growing a list per
/// collection copied every node several times and left a third of each list unused.
enum Frame {
    Seq {
        start: usize,
        span: Span,
        anchor: usize,
    },
    Map {
        start: usize,
        /// Position in `entries` of each scalar key, once the mapping is big enough for a
        /// linear duplicate check to cost more than the index (a `services:` mapping with
        /// 1,000 entries).
        index: Option<std::collections::HashMap<String, usize>>,
        pending_key: Option<Node>,
        span: Span,
        anchor: usize,
    },
}

struct Builder<'a> {
    file: &'a Arc<SourceFile>,
    positions: &'a Positions,
    /// Where the parsed text starts in the file (the parser counts from there).
    base: usize,
    last_line: Cell<usize>,
    stack: Vec<Frame>,
    /// The items of the sequences and the entries of the mappings being read (see [`Frame`]).
    items: Vec<Node>,
    entries: Vec<(Node, Node)>,
    /// Each anchor with its value and how many values that holds.
    anchors: Vec<(usize, Node, usize)>,
    /// Values copied by aliases so far.
    aliased: usize,
    root: Option<Node>,
    /// Documents started so far (a file may hold one).
    documents: usize,
}

impl Builder<'_> {
    /// One event (or the parser's error) of the document.
    fn take(&mut self, event: ParseResult<'_>) -> Result<(), InputError> {
        let (event, span) = event.map_err(|e| {
            let at = self.span_of(e.marker().index(), e.marker().index());
            InputError::new(format!("invalid YAML: {}", e.info()), at)
                .with_label("here")
                .with_help("fix the YAML syntax at this position (indentation, quotes, colons)")
        })?;
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(InputError::new(
                        "this file holds more than one YAML document",
                        self.span(span),
                    )
                    .with_help("keep one document per file; remove the extra `---`"));
                }
                Ok(())
            }
            other => self.event(other, span),
        }
    }

    fn span(&self, span: YamlSpan) -> Span {
        self.span_of(span.start.index(), span.end.index())
    }

    fn span_of(&self, start: usize, end: usize) -> Span {
        self.positions.span(
            self.file,
            self.base + start,
            self.base + end,
            &self.last_line,
        )
    }

    fn event(&mut self, event: Event<'_>, span: YamlSpan) -> Result<(), InputError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag
                    .as_ref()
                    .is_some_and(|t| t.suffix == "str" || t.suffix == "tag:yaml.org,2002:str");
                let value = if style == ScalarStyle::Plain && !forced_string {
                    match resolve_plain(&text) {
                        Value::String { quoted, .. } => Value::String {
                            text: exact(text),
                            quoted,
                        },
                        other => other,
                    }
                } else {
                    Value::String {
                        text: exact(text),
                        quoted: true,
                    }
                };
                let node = Node {
                    value,
                    span: self.span(span),
                };
                self.remember(anchor, &node);
                self.push_value(node)
            }
            Event::Alias(id) => {
                let at = self.span(span);
                let (target, size) = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _, _)| *a == id)
                    .map(|(_, n, size)| (n, *size))
                    .ok_or_else(|| {
                        InputError::new("alias to an unknown anchor", at.clone())
                            .with_help("define the anchor (`&name`) before using it (`*name`)")
                    })?;
                // Counted before copying: the copy is what would exhaust memory.
                self.aliased = self.aliased.saturating_add(size);
                if self.aliased > MAX_ALIAS_VALUES {
                    return Err(InputError::new(
                        format!(
                            "the aliases of this file expand to more than {MAX_ALIAS_VALUES} values"
                        ),
                        at,
                    )
                    .with_label("this alias goes over the limit")
                    .with_help(
                        "use fewer aliases of aliases; write the repeated values out once",
                    ));
                }
                let node = target.clone();
                // An alias keeps its target's value but points at the place it was used.
                self.push_value(Node { span: at, ..node })
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq {
                    start: self.items.len(),
                    span: self.span(span),
                    anchor,
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map {
                    start: self.entries.len(),
                    index: None,
                    pending_key: None,
                    span: self.span(span),
                    anchor,
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    start,
                    span,
                    anchor,
                }) => {
                    let items = self.items.drain(start..).collect();
                    let node = Node {
                        value: Value::Seq(items),
                        span,
                    };
                    self.remember(anchor, &node);
                    self.push_value(node)
                }
                _ => Ok(()),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map {
                    start,
                    span,
                    anchor,
                    ..
                }) => {
                    let entries = self.entries.drain(start..).collect();
                    let node = Node {
                        value: Value::Map(apply_merge_keys(entries)?),
                        span,
                    };
                    self.remember(anchor, &node);
                    self.push_value(node)
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone(), size(node)));
        }
    }

    fn push_value(&mut self, node: Node) -> Result<(), InputError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { .. }) => {
                self.items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                start,
                index,
                pending_key,
                ..
            }) => {
                match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => {
                        let start = *start;
                        let entries = &mut self.entries;
                        if index.is_none() && entries.len() - start >= 32 {
                            *index = Some(
                                entries
                                    .iter()
                                    .enumerate()
                                    .skip(start)
                                    .filter_map(|(i, (k, _))| {
                                        k.as_str().map(|t| (t.to_string(), i))
                                    })
                                    .collect(),
                            );
                        }
                        let earlier = match (index.as_ref(), key.as_str()) {
                            (_, Some("<<")) => None,
                            (Some(index), Some(text)) => index.get(text).map(|&i| &entries[i]),
                            _ => entries[start..].iter().find(|(k, _)| *k == key),
                        };
                        if let Some((first, _)) = earlier {
                            return Err(InputError::new(
                                format!(
                                    "the key `{}` is defined twice in this mapping",
                                    key.scalar_text().unwrap_or_default()
                                ),
                                key.span.clone(),
                            )
                            .with_label("defined again here")
                            .with_help(format!(
                                "keep one of the two; the first is at line {}",
                                first.span.line
                            )));
                        }
                        if let (Some(index), Some(text)) = (index.as_mut(), key.as_str()) {
                            index.insert(text.to_string(), entries.len());
                        }
                        entries.push((key, node));
                    }
                }
                Ok(())
            }
        }
    }
}

/// The scalar's text in a string of its own size: held in the node when short, else in an
/// allocation of its length. The parser hands out strings with about a hundred bytes of spare
/// room each; kept in the tree, a 1,000-service file's scalars held 4.7 MB for 0.35 MB of text,
/// and touching that memory cost more than the copy.
fn exact(text: std::borrow::Cow<'_, str>) -> Text {
    Text::new(&text)
}

/// How many values `node` holds, itself included (without recursion: nesting may be deep).
fn size(node: &Node) -> usize {
    let mut count = 0usize;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.value {
            Value::Seq(items) => todo.extend(items),
            Value::Map(map) => {
                for (k, v) in &map.entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
            _ => {}
        }
    }
    count
}

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`): keys written in the mapping win,
/// then the merged mappings in order.
fn apply_merge_keys(entries: Vec<(Node, Node)>) -> Result<Mapping, InputError> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(Mapping { entries });
    }
    let explicit: Vec<Node> = entries
        .iter()
        .filter(|(k, _)| !is_merge_key(k))
        .map(|(k, _)| k.clone())
        .collect();
    let mut out: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if !is_merge_key(&key) {
            out.push((key, value));
            continue;
        }
        let sources: Vec<Node> = match value.value {
            Value::Map(_) => vec![value],
            Value::Seq(items) => items,
            _ => {
                return Err(InputError::new(
                    format!("a merge key `<<` needs a mapping, found {}", value.kind()),
                    value.span,
                )
                .with_help("merge an anchored mapping: `<<: *name`"));
            }
        };
        for source in sources {
            let Value::Map(map) = source.value else {
                return Err(InputError::new(
                    "a merge key `<<` list may hold only mappings",
                    source.span,
                )
                .with_help("merge anchored mappings: `<<: [*a, *b]`"));
            };
            for (k, v) in map.entries {
                let taken = explicit.contains(&k) || out.iter().any(|(existing, _)| *existing == k);
                if !taken {
                    out.push((k, v));
                }
            }
        }
    }
    Ok(Mapping { entries: out })
}

fn is_merge_key(node: &Node) -> bool {
    matches!(&node.value, Value::String { text, quoted: false } if text == "<<")
}

/// YAML 1.2 core schema resolution of a plain scalar (a string comes back empty: the caller
/// moves the text in).
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let int = if let Some(hex) = text.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = text.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if looks_decimal(text) {
        text.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Value::Int(i);
    }
    if looks_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::String {
        text: Text::default(),
        quoted: false,
    }
}

fn looks_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn looks_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.contains(['.', 'e', 'E'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Node, InputError> {
        parse(&SourceFile::new("t.yaml", text))
    }

    #[test]
    fn scalars_resolve_like_yaml_core_schema() {
        let node = load("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: web\ng: 0x1F\n").unwrap();
        let map = node.as_map().unwrap();
        assert_eq!(map.get("a").unwrap().value, Value::Int(1));
        assert_eq!(map.get("b").unwrap().as_str(), Some("1"));
        assert_eq!(map.get("c").unwrap().value, Value::Bool(true));
        assert!(map.get("d").unwrap().is_null());
        assert_eq!(map.get("e").unwrap().value, Value::Float(1.5));
        assert_eq!(map.get("f").unwrap().as_str(), Some("web"));
        assert_eq!(map.get("g").unwrap().value, Value::Int(31));
    }

    #[test]
    fn anchors_and_merge_keys_expand() {
        let text = "x-base: &base\n  a: 1\n  b: 2\nsvc:\n  <<: *base\n  b: 3\n";
        let node = load(text).unwrap();
        let svc = node.as_map().unwrap().get("svc").unwrap().as_map().unwrap();
        assert_eq!(svc.get("a").unwrap().value, Value::Int(1));
        assert_eq!(svc.get("b").unwrap().value, Value::Int(3));
        assert_eq!(svc.len(), 2);
    }

    #[test]
    fn spans_point_at_line_and_column() {
        let node = load("services:\n  web:\n    image: nginx\n").unwrap();
        let image = node
            .as_map()
            .unwrap()
            .get("services")
            .unwrap()
            .as_map()
            .unwrap()
            .get("web")
            .unwrap()
            .as_map()
            .unwrap()
            .get("image")
            .unwrap()
            .clone();
        assert_eq!((image.span.line, image.span.column), (3, 12));
        assert_eq!(&image.span.file.text[image.span.range()], "nginx");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = load("a: 1\na: 2\n").unwrap_err();
        assert!(err.message.contains("defined twice"), "{}", err.message);
        assert_eq!(err.span.as_ref().map(|s| s.line), Some(2));
    }

    #[test]
    fn duplicate_keys_are_rejected_in_big_mappings_too() {
        let mut text: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        assert_eq!(load(&text).unwrap().as_map().unwrap().len(), 100);
        text.push_str("k42: again\n");
        let err = load(&text).unwrap_err();
        assert!(
            err.message.contains("`k42` is defined twice"),
            "{}",
            err.message
        );
        assert_eq!(err.span.as_ref().map(|s| s.line), Some(101));
    }

    #[test]
    fn columns_count_characters_on_every_line() {
        let node = load("a: 1\nb: [x, y]\nc: é\nd: z\n").unwrap();
        let map = node.as_map().unwrap();
        let d = map.get("d").unwrap();
        assert_eq!((d.span.line, d.span.column), (4, 4));
        let c = map.get("c").unwrap();
        assert_eq!((c.span.line, c.span.column), (3, 4));
    }

    #[test]
    fn aliases_of_aliases_stop_at_the_limit() {
        // Nine levels of ten aliases: a billion values from a few hundred bytes.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = load(&text).unwrap_err();
        assert!(err.message.contains("aliases"), "{}", err.message);
        // Five levels (100,000 values) still load.
        let five: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
        assert_eq!(load(&five).unwrap().as_map().unwrap().len(), 5);
    }

    /// Every value of `node` with where it was written (`Span`s compare equal whatever they
    /// hold, so they are written out).
    fn dump(node: &Node, out: &mut String) {
        let s = &node.span;
        out.push_str(&format!("@{}+{}:{}:{} ", s.offset, s.len, s.line, s.column));
        match &node.value {
            Value::Seq(items) => {
                out.push('[');
                items.iter().for_each(|i| dump(i, out));
                out.push(']');
            }
            Value::Map(map) => {
                out.push('{');
                for (k, v) in &map.entries {
                    dump(k, out);
                    dump(v, out);
                }
                out.push('}');
            }
            other => out.push_str(&format!("{other:?}\n")),
        }
    }

    fn whole_and_split(text: &str) -> (Result<String, String>, Result<String, String>) {
        let file = SourceFile::new("compose.yaml", text);
        let positions = Positions::new(&file.text);
        let show = |r: Result<Option<Node>, InputError>| match r {
            Ok(node) => {
                let mut out = String::new();
                if let Some(node) = node {
                    dump(&node, &mut out);
                }
                Ok(out)
            }
            Err(e) => Err(format!(
                "{} at {:?}",
                e.message,
                e.span.map(|s| s.location())
            )),
        };
        let whole = show(parse_range(&file, &positions, 0..text.len()));
        let split = show(parse(&file).map(Some));
        (whole, split)
    }

    /// The tree of `text` parsed in two parts, `None` when it was not.
    fn in_parts(text: &str) -> Option<String> {
        let file = SourceFile::new("compose.yaml", text);
        let positions = Positions::new(&file.text);
        let parts = split::parts(text, 2)?;
        let node = parse_in_parts(&file, &positions, &parts)?;
        let mut out = String::new();
        dump(&node, &mut out);
        Some(out)
    }

    #[test]
    fn a_big_file_parsed_in_parts_gives_the_whole_parse_tree_with_its_positions() {
        let text = split::big_compose(600);
        assert!(
            split::parts(&text, 2).is_some(),
            "the file is big enough to split"
        );
        let (whole, _) = whole_and_split(&text);
        assert_eq!(Some(whole.expect("parses")), in_parts(&text));
        // Windows line ends, entries indented by four, a comment at column 0 between entries,
        // `services` first and not last.
        let variants = [
            text.replace('\n', "\r\n"),
            text.replace("\n  ", "\n    "),
            text.replace("  # service 300\n", "# service 300\n"),
            text.replace("name: shop\nx-note: plain\n", "") + "name: shop\n",
        ];
        for variant in variants {
            let (whole, _) = whole_and_split(&variant);
            assert_eq!(Some(whole.expect("parses")), in_parts(&variant));
        }
    }

    /// Lines removed, repeated or shifted in a big file: whatever the whole parse says (a tree
    /// or an error), the parse in parts says the same.
    #[test]
    fn a_damaged_big_file_parses_in_parts_as_it_does_whole() {
        let base = split::big_compose(400);
        let lines: Vec<&str> = base.lines().collect();
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut differing = Vec::new();
        let mut trees = 0;
        let mut split_trees = 0;
        for round in 0..60 {
            let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            for _ in 0..1 + round % 3 {
                let at = next(edited.len());
                match next(6) {
                    0 => {
                        edited.remove(at);
                    }
                    1 => {
                        let line = edited[at].clone();
                        edited.insert(at, line);
                    }
                    2 => edited[at] = format!(" {}", edited[at]),
                    3 => edited[at] = edited[at].trim_start().to_string(),
                    4 => edited[at] = format!("{}\"", edited[at]),
                    _ => edited[at] = format!("{}: [", edited[at]),
                }
            }
            let text = edited.join("\n") + "\n";
            let (whole, split) = whole_and_split(&text);
            trees += usize::from(whole.is_ok());
            split_trees += usize::from(in_parts(&text).is_some());
            if whole != split {
                differing.push((round, whole, split));
            }
        }
        assert!(differing.is_empty(), "{:?}", differing.first());
        // Both kinds were compared: trees, and errors.
        assert!((10..60).contains(&trees), "{trees} of 60 parsed");
        assert!(split_trees >= 5, "{split_trees} of 60 parsed in parts");
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = load("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.span.is_some());
    }
}
