//! The shape of the source tree: no import cycle between files of `src/`, no module importing a
//! module above it, and no test file that the runner does not compile.
//!
//! Imports are read from the text: `use` trees and inline `crate::`/`super::` paths, resolved
//! through the `pub use` re-exports of `mod.rs` files to the file that defines the item.
//! Comments and `#[cfg(test)]` code are left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lower layers never import higher ones. Modules of one layer import each other only where
/// listed in [`SAME_LAYER`].
const LAYERS: &[(&str, u8)] = &[
    ("yaml", 0),
    ("error", 0),
    // Work over many services shared between the cores; it imports nothing of shipctl.
    ("parallel", 0),
    ("spec", 1),
    ("compose", 1),
    ("ports", 2),
    ("plan", 3),
    ("exec", 4),
    ("kv", 4),
    ("swarm", 4),
    ("route", 4),
    ("metrics", 4),
    ("ui", 5),
    ("session", 6),
    ("cli", 7),
    // The entry points of the fuzz targets reach the parsers of every layer; nothing uses them.
    ("fuzzing", 8),
];

/// The error type shows YAML spans, and the YAML reader reports input errors; compose files
/// name the spec's durations. File cycles between them are still refused.
const SAME_LAYER: &[(&str, &str)] = &[("yaml", "error"), ("error", "yaml"), ("compose", "spec")];

type ModPath = Vec<String>;

struct Tree {
    /// Module path -> its source, with comments and test code removed.
    files: BTreeMap<ModPath, String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn module_path(rel: &Path) -> ModPath {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Drops `//` comments (string contents with `//` in them are rare enough in `use` lines and
/// paths not to matter) and everything from the first `#[cfg(test)]` item on.
fn strip(text: &str) -> (String, BTreeSet<String>) {
    let mut out = String::new();
    let mut test_mods = BTreeSet::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // `#[cfg(test)] mod fake;` (or `pub(crate) mod fake;`) declares a test-only file;
            // `mod tests { .. }` ends the production code of this file.
            let declared = lines.peek().map(|l| {
                let l = l.trim();
                ["pub(crate) ", "pub(super) ", "pub "]
                    .iter()
                    .find_map(|vis| l.strip_prefix(vis))
                    .unwrap_or(l)
            });
            match declared {
                Some(next) if next.starts_with("mod ") && next.ends_with(';') => {
                    let name = next.trim_start_matches("mod ").trim_end_matches(';');
                    test_mods.insert(name.to_string());
                    lines.next();
                    continue;
                }
                _ => break,
            }
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    (out, test_mods)
}

impl Tree {
    fn load() -> Tree {
        let src = root().join("src");
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        let mut files = BTreeMap::new();
        let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
        for path in paths {
            let rel = path.strip_prefix(&src).expect("under src");
            if rel == Path::new("main.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable source");
            let (code, test_mods) = strip(&text);
            let module = module_path(rel);
            for name in test_mods {
                let mut child = module.clone();
                child.push(name);
                test_only.insert(child);
            }
            files.insert(module, code);
        }
        files.retain(|m, _| !test_only.iter().any(|t| m.starts_with(t)));
        Tree { files }
    }

    /// Follows `path` (absolute, from the crate root) to the file that defines its item.
    fn resolve(&self, path: &[String], depth: usize) -> Option<ModPath> {
        let mut current: ModPath = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let mut child = current.clone();
            child.push(segment.clone());
            if self.files.contains_key(&child) {
                current = child;
                continue;
            }
            // A name re-exported by this module: follow the `pub use` to where it lives.
            if depth < 8
                && let Some(target) = self.reexport(&current, segment)
            {
                let mut rest = target;
                rest.extend(path[i + 1..].iter().cloned());
                return self.resolve(&rest, depth + 1).or(Some(current));
            }
            break;
        }
        self.files.contains_key(&current).then_some(current)
    }

    /// The absolute path that module `module` re-exports as `name`, if it does.
    fn reexport(&self, module: &ModPath, name: &str) -> Option<Vec<String>> {
        let code = self.files.get(module)?;
        for item in use_items(code) {
            if !item.public {
                continue;
            }
            for path in expand(&item.tree) {
                let (path, alias) = split_alias(&path);
                let last = alias.or_else(|| path.last().cloned())?;
                if last == name {
                    return Some(absolute(self, module, &path));
                }
            }
        }
        None
    }

    /// `mod.rs` and `lib.rs` re-export their children: a table of contents, not a dependency.
    fn has_children(&self, module: &ModPath) -> bool {
        self.files
            .keys()
            .any(|k| k.len() > module.len() && k.starts_with(module))
    }

    /// Every file `module` imports (not counting the `pub use` re-exports of a `mod.rs`).
    fn imports(&self, module: &ModPath) -> BTreeSet<ModPath> {
        let code = &self.files[module];
        let mut out = BTreeSet::new();
        let mut add = |path: Vec<String>| {
            if let Some(target) = self.resolve(&path, 0)
                && target != *module
                && !target.is_empty()
            {
                out.insert(target);
            }
        };
        for item in use_items(code) {
            if item.public && self.has_children(module) {
                continue;
            }
            for path in expand(&item.tree) {
                let (path, _) = split_alias(&path);
                add(absolute(self, module, &path));
            }
        }
        for path in inline_paths(code) {
            add(absolute(self, module, &path));
        }
        out
    }
}

fn split_alias(path: &[String]) -> (Vec<String>, Option<String>) {
    match path.last().and_then(|l| l.split_once(" as ")) {
        Some((name, alias)) => {
            let mut p = path[..path.len() - 1].to_vec();
            p.push(name.trim().to_string());
            (p, Some(alias.trim().to_string()))
        }
        None => (path.to_vec(), None),
    }
}

/// Makes `path` (as written in `module`) absolute from the crate root.
fn absolute(tree: &Tree, module: &ModPath, path: &[String]) -> Vec<String> {
    let Some(first) = path.first() else {
        return Vec::new();
    };
    match first.as_str() {
        "crate" => path[1..].to_vec(),
        "self" => {
            let mut p = module.clone();
            p.extend(path[1..].iter().cloned());
            p
        }
        "super" => {
            let mut base = module.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            base
        }
        _ => {
            // `use child::Item` inside a module refers to its own child module.
            let mut child = module.clone();
            child.push(first.clone());
            if tree.files.contains_key(&child) {
                let mut p = module.clone();
                p.extend(path.iter().cloned());
                p
            } else {
                Vec::new()
            }
        }
    }
}

struct UseItem {
    public: bool,
    tree: String,
}

/// The `use` declarations of a file, each as its tree text (`crate::a::{b, c::D}`).
fn use_items(code: &str) -> Vec<UseItem> {
    let mut items = Vec::new();
    let mut rest = code;
    while let Some(i) = find_keyword(rest, "use ") {
        let before = rest[..i].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')');
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        items.push(UseItem {
            public,
            tree: after[..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        });
        rest = &after[end..];
    }
    items
}

/// Finds `word` where it starts a statement (after a newline, `;`, `{` or `pub`/`pub(crate)`).
fn find_keyword(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before = text[..at].trim_end();
        let starts = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with("pub(crate)")
            || before.ends_with("pub(super)");
        let word_start =
            at == 0 || !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if starts && word_start {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Expands a use tree into its paths: `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let parts: Vec<String> = tree
            .split("::")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        return if parts.is_empty() {
            vec![]
        } else {
            vec![parts]
        };
    };
    let prefix: Vec<String> = tree[..open]
        .split("::")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let bytes: Vec<char> = inner.chars().collect();
    let mut pieces = Vec::new();
    for (i, c) in bytes.iter().enumerate() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(bytes[start..i].iter().collect::<String>());
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(bytes[start..].iter().collect::<String>());
    for piece in pieces {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        if piece == "self" {
            out.push(prefix.clone());
            continue;
        }
        for sub in expand(piece) {
            let mut p = prefix.clone();
            p.extend(sub);
            out.push(p);
        }
    }
    out
}

/// `crate::a::b` and `super::x::Y` written inside code (not in `use` lines).
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in code.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("use ") || trimmed.starts_with("pub use ") {
            continue;
        }
        for start in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(i) = line[from..].find(start) {
                let at = from + i;
                let preceded = line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
                let end = line[at..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .map_or(line.len(), |e| at + e);
                if !preceded {
                    let path: Vec<String> = line[at..end]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    out.push(path);
                }
                from = end.max(at + start.len());
            }
        }
    }
    out
}

fn name(module: &ModPath) -> String {
    if module.is_empty() {
        "lib".into()
    } else {
        module.join("::")
    }
}

fn graph() -> (Tree, BTreeMap<ModPath, BTreeSet<ModPath>>) {
    let tree = Tree::load();
    let edges = tree
        .files
        .keys()
        .map(|m| (m.clone(), tree.imports(m)))
        .collect();
    (tree, edges)
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets {
                let Some((w, _)) = s.edges.get_key_value(w) else {
                    continue;
                };
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(name(w));
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_import_cycle_between_files_of_src() {
    let (_, edges) = graph();
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "files that import each other (directly or around a loop):\n{}",
        found
            .iter()
            .map(|c| format!("  {}", c.join(" <-> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn no_module_imports_a_module_above_it() {
    let (_, edges) = graph();
    let layer = |m: &ModPath| {
        let top = m.first()?;
        LAYERS.iter().find(|(n, _)| n == top).map(|(_, l)| *l)
    };
    let mut wrong = BTreeSet::new();
    for (from, targets) in &edges {
        let (Some(from_top), Some(from_layer)) = (from.first(), layer(from)) else {
            continue;
        };
        for to in targets {
            let (Some(to_top), Some(to_layer)) = (to.first(), layer(to)) else {
                continue;
            };
            if from_top == to_top {
                continue;
            }
            let allowed = to_layer < from_layer
                || (to_layer == from_layer
                    && SAME_LAYER.contains(&(from_top.as_str(), to_top.as_str())));
            if !allowed {
                wrong.insert(format!("{} -> {}", name(from), name(to)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering (cli -> session -> ui -> exec/kv/swarm/route -> plan -> \
         ports -> spec/compose -> yaml/error):\n  {}",
        wrong.into_iter().collect::<Vec<_>>().join("\n  ")
    );
    // Every top-level module has a layer, so a new one cannot slip past this check.
    let tree = Tree::load();
    let unlayered: BTreeSet<&String> = tree
        .files
        .keys()
        .filter_map(|m| m.first())
        .filter(|top| !LAYERS.iter().any(|(n, _)| n == top))
        .collect();
    assert!(
        unlayered.is_empty(),
        "modules without a layer in tests/structure.rs: {unlayered:?}"
    );
}

#[test]
fn the_checker_sees_imports_through_reexports() {
    let (_, edges) = graph();
    let executor = vec!["exec".to_string(), "executor".to_string()];
    let ports_kv = vec!["ports".to_string(), "kv".to_string()];
    assert!(
        edges.get(&executor).is_some_and(|t| t.contains(&ports_kv)),
        "exec/executor.rs uses the Kv trait of ports/kv.rs: the checker must see that import"
    );
    let found = cycles(&BTreeMap::from([
        (
            vec!["a".to_string()],
            BTreeSet::from([vec!["b".to_string()]]),
        ),
        (
            vec!["b".to_string()],
            BTreeSet::from([vec!["a".to_string()]]),
        ),
    ]));
    assert_eq!(found, vec![vec!["a".to_string(), "b".to_string()]]);
}

#[test]
fn every_test_file_is_a_module_of_the_runner() {
    let tests = root().join("tests");
    let runner = std::fs::read_to_string(tests.join("runner.rs")).expect("tests/runner.rs");
    let listed: BTreeSet<String> = runner
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let mut unlisted = Vec::new();
    for entry in std::fs::read_dir(&tests).expect("tests/").flatten() {
        let path = entry.path();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_module = (path.is_file() && path.extension().is_some_and(|e| e == "rs"))
            || (path.is_dir() && path.join("mod.rs").is_file());
        if is_module && stem != "runner" && !listed.contains(&stem) {
            unlisted.push(path.display().to_string());
        }
    }
    assert!(
        unlisted.is_empty(),
        "test files that no test binary compiles (add `mod NAME;` to tests/runner.rs): {unlisted:?}"
    );
}
