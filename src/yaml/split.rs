//! Where a big compose file can be parsed in parts at once: between the entries of its
//! `services:` mapping. Parsing is most of what `shipctl plan` spends on a file of a thousand
//! services, and one YAML parser runs on one core.
//!
//! Only a file whose shape makes every cut safe is split; anything unusual is parsed whole,
//! and so is any file whose parts do not parse (the whole parse then gives the error, as
//! always). See [`parts`].

use std::ops::Range;

/// Files smaller than this are parsed whole: a thread costs more than it saves.
pub const MIN_SPLIT_LEN: usize = 64 * 1024;

/// How a file is cut: the `head` (everything up to the first cut, with the `services:` line
/// and its first entries), the `services` parts after it (each a block mapping of whole
/// entries, indented as they were), and the `tail` (the top-level keys after `services`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub head: Range<usize>,
    pub services: Vec<Range<usize>>,
    pub tail: Range<usize>,
}

/// The parts `text` can be parsed in, about `count` of them, or `None` to parse it whole.
///
/// A cut is made only before a line that starts a `services:` entry: as indented as the first
/// entry, starting with a letter, a digit or `_`. The file must be ASCII (parser positions are
/// then byte offsets), `services:` a block mapping written at column 0, and nothing may be
/// shared or change the document's shape across parts: no anchors (`&name`), no merge keys at
/// the top or in `services`, no tabs, and no document markers or directives after `services:`.
pub fn parts(text: &str, count: usize) -> Option<Parts> {
    if count < 2 || text.len() < MIN_SPLIT_LEN || !text.is_ascii() || has_anchor(text) {
        return None;
    }
    let mut lines = Lines::new(text);
    // The `services:` line.
    let services_line = lines.by_ref().find(|l| is_services_key(l.text))?;
    let block_start = services_line.end;
    let mut indent = None;
    let mut candidates = Vec::new();
    let mut block_end = text.len();
    for line in lines {
        let t = line.text;
        if t.starts_with("---")
            || t.starts_with("...")
            || t.starts_with('%')
            || memchr::memchr(b'\t', t.as_bytes()).is_some()
        {
            return None;
        }
        let trimmed = t.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let level = t.len() - trimmed.len();
        if level == 0 {
            if block_end == text.len() {
                block_end = line.start;
            }
            if trimmed.starts_with("<<") {
                return None;
            }
            continue;
        }
        if block_end != text.len() {
            continue;
        }
        let n = *indent.get_or_insert(level);
        if level == n {
            if trimmed.starts_with("<<") {
                return None;
            }
            if trimmed
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                candidates.push(line.start);
            }
        }
    }
    // The first entry stays in the head: the cuts come after it.
    let candidates = candidates.get(1..)?;
    let span = block_end.checked_sub(block_start)?;
    let mut cuts: Vec<usize> = Vec::with_capacity(count - 1);
    for i in 1..count {
        let target = block_start + span * i / count;
        let at = candidates.partition_point(|&c| c < target);
        if let Some(&cut) = candidates.get(at)
            && cuts.last().is_none_or(|&last| cut > last)
        {
            cuts.push(cut);
        }
    }
    let first = *cuts.first()?;
    let mut services = Vec::with_capacity(cuts.len());
    for (i, &cut) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(block_end);
        services.push(cut..end);
    }
    Some(Parts {
        head: 0..first,
        services,
        tail: block_end..text.len(),
    })
}

/// `services:` at column 0, alone on its line but for a comment.
fn is_services_key(line: &str) -> bool {
    line.strip_prefix("services:").is_some_and(|rest| {
        let rest = rest.trim_start_matches(' ');
        rest.is_empty() || rest.starts_with('#')
    })
}

/// Whether `text` may define an anchor (`&name` after a space, a `[`, `{`, `,` or at a line's
/// start). Shell commands' `&&` do not count; a false alarm only means a whole parse.
fn has_anchor(text: &str) -> bool {
    let bytes = text.as_bytes();
    // `match_indices` of one byte searches with memchr: the file is read at memory speed.
    text.match_indices('&').any(|(i, _)| {
        bytes
            .get(i + 1)
            .is_some_and(|n| n.is_ascii_alphanumeric() || matches!(n, b'_' | b'-' | b'.'))
            && (i == 0
                || matches!(
                    bytes[i - 1],
                    b' ' | b'\n' | b'[' | b'{' | b',' | b'-' | b':'
                ))
    })
}

struct Line<'a> {
    start: usize,
    end: usize,
    /// Without its line break.
    text: &'a str,
}

struct Lines<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines { text, at: 0 }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.at >= self.text.len() {
            return None;
        }
        let start = self.at;
        // memchr, as in `has_anchor`: every line of a big file is found here, on one thread.
        let end = memchr::memchr(b'\n', &self.text.as_bytes()[start..])
            .map_or(self.text.len(), |i| start + i + 1);
        self.at = end;
        let text = self.text[start..end].trim_end_matches(['\n', '\r']);
        Some(Line { start, end, text })
    }
}

/// A compose file of `services` entries in the shapes users write: comments, quotes,
/// block and flow collections, block scalars, keys that look like cuts inside them.
#[cfg(test)]
pub(super) fn big_compose(services: usize) -> String {
    let mut text = String::from("name: shop\nx-note: plain\nservices:\n");
    for i in 0..services {
        text.push_str(&format!(
            "  # service {i}\n  svc{i}:\n    image: \"app:1.{i}\"\n    command: [\"sh\", \"-c\", \"a && b\"]\n    environment:\n      N: '{i}'\n      MULTI: >\n        folded\n        text\n    labels: {{team: a, tier: \"{i}\"}}\n    healthcheck:\n      test: |\n        wget -q\n          -O- x\n\n"
        ));
    }
    text.push_str("# networks\nnetworks:\n  back: {driver: overlay}\nvolumes:\n  data:\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_file_is_cut_between_services_and_keeps_its_head_and_tail() {
        let text = big_compose(2_000);
        let parts = parts(&text, 2).expect("split");
        assert_eq!(parts.services.len(), 1);
        assert!(text[parts.head.clone()].starts_with("name: shop\n"));
        let second = &text[parts.services[0].clone()];
        assert!(second.starts_with("  svc"), "{}", &second[..20]);
        assert_eq!(
            &text[parts.tail.clone()],
            "networks:\n  back: {driver: overlay}\nvolumes:\n  data:\n"
        );
        assert_eq!(parts.head.end, parts.services[0].start);
        assert_eq!(parts.services[0].end, parts.tail.start);
        let four = super::parts(&text, 4).expect("split");
        assert_eq!(four.services.len(), 3);
    }

    #[test]
    fn unusual_files_are_parsed_whole() {
        let text = big_compose(2_000);
        assert_eq!(parts(&big_compose(10), 2), None, "small");
        assert_eq!(parts(&text, 1), None, "one part");
        let anchored = text.replace("name: shop\n", "x-base: &base {a: 1}\n");
        assert_eq!(parts(&anchored, 2), None, "an anchor");
        let merged = text.replace("  svc7:\n", "  <<: {}\n  svc7:\n");
        assert_eq!(parts(&merged, 2), None, "a merge key in services");
        let documents = format!("{text}---\na: 1\n");
        assert_eq!(parts(&documents, 2), None, "a second document");
        let tabs = text.replace("  svc9:\n    image", "  svc9:\n\timage");
        assert_eq!(parts(&tabs, 2), None, "a tab");
        let flow = text.replace("services:\n", "services: # all\n");
        assert!(parts(&flow, 2).is_some(), "a comment after `services:`");
        let quoted = text.replace("services:\n", "\"services\":\n");
        assert_eq!(parts(&quoted, 2), None, "no `services:` line");
        let accented = text.replace("name: shop", "name: café");
        assert_eq!(parts(&accented, 2), None, "not ASCII");
    }
}
