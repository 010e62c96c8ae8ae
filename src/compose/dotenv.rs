//! `.env` files with Compose's rules (`compose-go/dotenv`).
//!
//! - blank lines and lines starting with `#` are skipped; `export ` before a name is ignored;
//! - `KEY=value` or `KEY: value`; a bare `KEY` takes its value from the environment (and is left
//!   out when the environment does not have it);
//! - single quotes: literal text, may span lines;
//! - double quotes: Go escapes (`\n`, `\t`, `\"`, `\\`, `\$`...), then interpolation;
//! - unquoted: up to the end of the line, an inline comment ` #...` cut off, trailing spaces
//!   trimmed, then interpolation.
//!
//! Interpolation looks a name up in the given environment first, then in the variables defined
//! earlier in the same file, as compose-go does.

use std::collections::HashMap;
use std::sync::Arc;

use super::interpolate::{self, InterpolateError};
use crate::error::InputError;
use crate::yaml::{SourceFile, Span};

/// Parses a `.env` file into its variables, in the order they are defined (a later definition
/// of the same name replaces the earlier one).
pub fn parse<F>(file: &Arc<SourceFile>, lookup: &F) -> Result<Vec<(String, String)>, InputError>
where
    F: Fn(&str) -> Option<String> + ?Sized,
{
    let text: &str = &file.text;
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut pos = 0;
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        // Skip whitespace and comment lines.
        let c = bytes[pos];
        if c.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        if c == b'#' {
            pos = line_end(text, pos);
            continue;
        }
        let statement_start = pos;
        let mut rest = &text[pos..];
        if let Some(after) = rest.strip_prefix("export")
            && after.starts_with([' ', '\t'])
        {
            let trimmed = after.trim_start_matches([' ', '\t']);
            pos += rest.len() - trimmed.len();
            rest = trimmed;
        }
        let key_len = rest
            .find(['=', ':', '\n', '\r', ' ', '\t'])
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        if let Some(bad) = key
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')))
        {
            return Err(InputError::new(
                format!("unexpected character `{bad}` in variable name `{key}`"),
                span(file, pos, key_len),
            )
            .with_label("invalid name")
            .with_help("write `NAME=value`; names use letters, digits, `_`, `.` and `-`"));
        }
        pos += key_len;
        // Spaces may separate the name from `=`.
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t') {
            pos += 1;
        }
        let value = match bytes.get(pos) {
            None | Some(b'\n' | b'\r' | b'#') => {
                pos = line_end(text, pos);
                // `KEY` alone: inherited from the environment.
                if let Some(v) = lookup(key) {
                    set(&mut vars, &mut index, key, v);
                }
                continue;
            }
            Some(b'=' | b':') => {
                pos += 1;
                while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t') {
                    pos += 1;
                }
                let (value, next) = read_value(file, pos, statement_start, lookup, &vars)?;
                pos = next;
                value
            }
            Some(_) => {
                return Err(InputError::new(
                    format!("expected `=` after the variable name `{key}`"),
                    span(file, pos, 1),
                )
                .with_label("here")
                .with_help("write `NAME=value`"));
            }
        };
        set(&mut vars, &mut index, key, value);
    }
    Ok(vars)
}

fn set(vars: &mut Vec<(String, String)>, index: &mut HashMap<String, usize>, key: &str, v: String) {
    match index.get(key) {
        Some(&i) => vars[i].1 = v,
        None => {
            index.insert(key.to_string(), vars.len());
            vars.push((key.to_string(), v));
        }
    }
}

/// Reads the value starting at `pos`; returns it and the position after its line.
fn read_value<F>(
    file: &Arc<SourceFile>,
    pos: usize,
    statement_start: usize,
    lookup: &F,
    vars: &[(String, String)],
) -> Result<(String, usize), InputError>
where
    F: Fn(&str) -> Option<String> + ?Sized,
{
    let text: &str = &file.text;
    let bytes = text.as_bytes();
    let expand = |raw: &str, at: usize, len: usize| -> Result<String, InputError> {
        let both = |name: &str| {
            lookup(name).or_else(|| {
                vars.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        interpolate::interpolate(raw, &both).map_err(|e| {
            let help = match e {
                InterpolateError::Required { .. } => "set the variable before this line",
                InterpolateError::Invalid { .. } => "write `${NAME}`; use `$$` for a literal `$`",
            };
            InputError::new(e.to_string(), span(file, at, len)).with_help(help)
        })
    };
    match bytes.get(pos) {
        Some(&quote @ (b'\'' | b'"')) => {
            let mut i = pos + 1;
            while i < bytes.len() {
                if bytes[i] == quote && bytes[i - 1] != b'\\' {
                    break;
                }
                i += 1;
            }
            if i >= bytes.len() {
                let end = line_end(text, statement_start);
                return Err(InputError::new(
                    "unterminated quoted value",
                    span(file, statement_start, end - statement_start),
                )
                .with_label("the closing quote is missing")
                .with_help(format!("close the value with {}", quote as char)));
            }
            let inner = &text[pos + 1..i];
            let after = &text[i + 1..line_end(text, i + 1)];
            let after_trimmed = after.trim_start();
            if !after_trimmed.is_empty() && !after_trimmed.starts_with('#') {
                return Err(InputError::new(
                    "unexpected text after the closing quote",
                    span(file, i + 1, after.len()),
                )
                .with_label("here")
                .with_help("put a comment after ` #`, or move the text inside the quotes"));
            }
            let value = if quote == b'"' {
                expand(&expand_escapes(inner), pos, i + 1 - pos)?
            } else {
                inner.to_string()
            };
            Ok((value, line_end(text, i + 1)))
        }
        _ => {
            let end = line_end(text, pos);
            let line = &text[pos..end];
            let value = match line.find(" #") {
                Some(i) => &line[..i],
                None => line,
            };
            let value = value.trim_end();
            Ok((expand(value, pos, value.len())?, end))
        }
    }
}

/// Go's escapes inside double quotes; `\$` becomes `$$` so interpolation keeps a literal `$`.
fn expand_escapes(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The offset of the end of the line containing `pos` (the `\n` or the end of the text).
fn line_end(text: &str, pos: usize) -> usize {
    text[pos.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| pos + i)
}

fn span(file: &Arc<SourceFile>, offset: usize, len: usize) -> Span {
    let before = &file.text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    Span::new(Arc::clone(file), offset, len, line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Vec<(String, String)>, InputError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&SourceFile::new(".env", text), &|n: &str| {
            env.get(n).cloned()
        })
    }

    fn get(vars: &[(String, String)], key: &str) -> Option<String> {
        vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn simple_pairs_comments_and_blank_lines() {
        let vars = parse_with("# comment\n\nA=1\n  B=two\nC: yaml-style\n", &[]).unwrap();
        assert_eq!(
            vars,
            [("A", "1"), ("B", "two"), ("C", "yaml-style")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn export_prefix_is_ignored() {
        let vars = parse_with("export TAG=1.2\nexported=yes\n", &[]).unwrap();
        assert_eq!(get(&vars, "TAG").as_deref(), Some("1.2"));
        assert_eq!(get(&vars, "exported").as_deref(), Some("yes"));
    }

    #[test]
    fn empty_values() {
        let vars = parse_with("A=\nB=''\nC=\"\"\nD= # just a comment\n", &[]).unwrap();
        for k in ["A", "B", "C"] {
            assert_eq!(get(&vars, k).as_deref(), Some(""), "{k}");
        }
        assert_eq!(get(&vars, "D").as_deref(), Some("# just a comment"));
    }

    #[test]
    fn unquoted_inline_comments_and_trailing_spaces() {
        let vars = parse_with("A=value # comment\nB=a#b\nC=x   \n", &[]).unwrap();
        assert_eq!(get(&vars, "A").as_deref(), Some("value"));
        assert_eq!(get(&vars, "B").as_deref(), Some("a#b"));
        assert_eq!(get(&vars, "C").as_deref(), Some("x"));
    }

    #[test]
    fn single_quotes_are_literal() {
        let vars = parse_with("A='${HOME} \\n # not a comment'\nB='multi\nline'\n", &[]).unwrap();
        assert_eq!(
            get(&vars, "A").as_deref(),
            Some("${HOME} \\n # not a comment")
        );
        assert_eq!(get(&vars, "B").as_deref(), Some("multi\nline"));
    }

    #[test]
    fn double_quotes_have_escapes_and_interpolation() {
        let vars = parse_with(
            "USER=me\nA=\"hi\\n${USER} \\\"q\\\" \\$HOME\" # c\nB=\"x # y\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(get(&vars, "A").as_deref(), Some("hi\nme \"q\" $HOME"));
        assert_eq!(get(&vars, "B").as_deref(), Some("x # y"));
    }

    #[test]
    fn interpolation_sees_earlier_vars_and_the_environment_first() {
        let vars = parse_with(
            "BASE=/srv\nDATA=$BASE/data\nWHO=${USER:-nobody}\nTAG=${TAG}\n",
            &[("TAG", "from-env")],
        )
        .unwrap();
        assert_eq!(get(&vars, "DATA").as_deref(), Some("/srv/data"));
        assert_eq!(get(&vars, "WHO").as_deref(), Some("nobody"));
        assert_eq!(get(&vars, "TAG").as_deref(), Some("from-env"));
    }

    #[test]
    fn bare_name_is_inherited_or_skipped() {
        let vars = parse_with("HOME\nMISSING\nA=1\n", &[("HOME", "/root")]).unwrap();
        assert_eq!(get(&vars, "HOME").as_deref(), Some("/root"));
        assert_eq!(get(&vars, "MISSING"), None);
        assert_eq!(get(&vars, "A").as_deref(), Some("1"));
    }

    #[test]
    fn later_definitions_win() {
        let vars = parse_with("A=1\nB=2\nA=3\n", &[]).unwrap();
        assert_eq!(get(&vars, "A").as_deref(), Some("3"));
        assert_eq!(vars.len(), 2);
    }

    #[test]
    fn crlf_line_endings() {
        let vars = parse_with("A=1\r\nB=\"two\"\r\n", &[]).unwrap();
        assert_eq!(get(&vars, "A").as_deref(), Some("1"));
        assert_eq!(get(&vars, "B").as_deref(), Some("two"));
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse_with("A=1\nB='open\n", &[]).unwrap_err();
        assert!(err.message.contains("unterminated"), "{}", err.message);
        assert_eq!(err.span.as_ref().map(|s| s.line), Some(2));

        let err = parse_with("A=1\nBAD NAME=x\n", &[]).unwrap_err();
        assert_eq!(err.span.as_ref().map(|s| (s.line, s.column)), Some((2, 5)));

        let err = parse_with("B@D=1\n", &[]).unwrap_err();
        assert!(
            err.message.contains("unexpected character"),
            "{}",
            err.message
        );

        let err = parse_with("A=${NOPE:?is required}\n", &[]).unwrap_err();
        assert!(err.message.contains("is required"), "{}", err.message);
    }
}
