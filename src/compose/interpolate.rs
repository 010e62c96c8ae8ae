//! Variable interpolation with the semantics of Compose (`compose-go/template`).
//!
//! Supported: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
//! `${VAR?error}`, `${VAR:+alternative}`, `${VAR+alternative}`, nesting inside the default /
//! alternative / error word, and `$$` for a literal `$`. A `$` not followed by a name or `{` is
//! kept as written, as Compose does.

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// `${VAR:?message}` / `${VAR?message}` and the variable is missing (or empty for `:?`).
    Required { name: String, message: String },
    /// A `${...}` that Compose would reject (unclosed, empty, bad name or operator).
    Invalid { template: String },
}

impl std::fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolateError::Required { name, message } if message.is_empty() => {
                write!(f, "required variable `{name}` is missing a value")
            }
            InterpolateError::Required { name, message } => {
                write!(
                    f,
                    "required variable `{name}` is missing a value: {message}"
                )
            }
            InterpolateError::Invalid { template } => {
                write!(f, "invalid interpolation format in `{template}`")
            }
        }
    }
}

impl std::error::Error for InterpolateError {}

/// Interpolates `text`, looking variables up with `lookup`. Unset variables without a default
/// become empty strings, as in Compose.
pub fn interpolate<F>(text: &str, lookup: &F) -> Result<String, InterpolateError>
where
    F: Fn(&str) -> Option<String> + ?Sized,
{
    interpolate_with(text, lookup, &mut |_| {})
}

/// Like [`interpolate`], calling `unset` with the name of each variable that was used without a
/// value and without a default (Compose warns about those).
pub fn interpolate_with<F>(
    text: &str,
    lookup: &F,
    unset: &mut dyn FnMut(&str),
) -> Result<String, InterpolateError>
where
    F: Fn(&str) -> Option<String> + ?Sized,
{
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut walker = Walker {
        template: text,
        lookup,
        unset,
    };
    walker.substitute(text, &mut out)?;
    Ok(out)
}

/// The names of the variables `text` refers to, in order of first appearance, including those
/// nested in defaults. Escaped `$$` and malformed parts are skipped.
pub fn variables(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    collect_variables(text, &mut names);
    names
}

fn collect_variables(text: &str, names: &mut Vec<String>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let Some(close) = closing_brace(text, i) else {
                    return;
                };
                let inner = &text[i + 2..close];
                let name_len = name_length(inner);
                if name_len > 0 {
                    push_unique(names, &inner[..name_len]);
                    let rest = &inner[name_len..];
                    let word = ["?", ":?", "-", ":-", "+", ":+"]
                        .iter()
                        .rev()
                        .find_map(|op| rest.strip_prefix(op));
                    if let Some(word) = word {
                        collect_variables(word, names);
                    }
                }
                i = close + 1;
            }
            Some(&c) if is_name_start(c) => {
                let len = name_length(&text[i + 1..]);
                push_unique(names, &text[i + 1..i + 1 + len]);
                i += 1 + len;
            }
            _ => i += 1,
        }
    }
}

fn push_unique(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

struct Walker<'a, F: ?Sized> {
    template: &'a str,
    lookup: &'a F,
    unset: &'a mut dyn FnMut(&str),
}

impl<F> Walker<'_, F>
where
    F: Fn(&str) -> Option<String> + ?Sized,
{
    fn substitute(&mut self, text: &str, out: &mut String) -> Result<(), InterpolateError> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut literal_from = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                i += 1;
                continue;
            }
            out.push_str(&text[literal_from..i]);
            match bytes.get(i + 1) {
                Some(b'$') => {
                    out.push('$');
                    i += 2;
                }
                Some(b'{') => {
                    let close = closing_brace(text, i).ok_or_else(|| self.invalid())?;
                    self.braced(&text[i + 2..close], out)?;
                    i = close + 1;
                }
                Some(&c) if is_name_start(c) => {
                    let len = name_length(&text[i + 1..]);
                    let name = &text[i + 1..i + 1 + len];
                    match (self.lookup)(name) {
                        Some(value) => out.push_str(&value),
                        None => (self.unset)(name),
                    }
                    i += 1 + len;
                }
                // A lone `$` (before a digit, a space, the end...) stays literal.
                _ => {
                    out.push('$');
                    i += 1;
                }
            }
            literal_from = i;
        }
        out.push_str(&text[literal_from..]);
        Ok(())
    }

    /// Evaluates the inside of `${...}`.
    fn braced(&mut self, inner: &str, out: &mut String) -> Result<(), InterpolateError> {
        let name_len = name_length(inner);
        if name_len == 0 {
            return Err(self.invalid());
        }
        let name = &inner[..name_len];
        let rest = &inner[name_len..];
        let value = (self.lookup)(name);
        if rest.is_empty() {
            match value {
                Some(v) => out.push_str(&v),
                None => (self.unset)(name),
            }
            return Ok(());
        }
        let (colon, rest) = match rest.strip_prefix(':') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let mut chars = rest.chars();
        let op = chars.next().ok_or_else(|| self.invalid())?;
        let word = chars.as_str();
        // With a colon, an empty value counts as missing.
        let present = match &value {
            Some(v) => !colon || !v.is_empty(),
            None => false,
        };
        match op {
            '-' => match value {
                Some(v) if present => out.push_str(&v),
                _ => self.substitute(word, out)?,
            },
            '?' => match value {
                Some(v) if present => out.push_str(&v),
                _ => {
                    let mut message = String::new();
                    self.substitute(word, &mut message)?;
                    return Err(InterpolateError::Required {
                        name: name.to_string(),
                        message,
                    });
                }
            },
            '+' => {
                if present {
                    self.substitute(word, out)?;
                }
            }
            _ => return Err(self.invalid()),
        }
        Ok(())
    }

    fn invalid(&self) -> InterpolateError {
        InterpolateError::Invalid {
            template: self.template.to_string(),
        }
    }
}

/// Index of the `}` closing the `${` at `start`, counting nested `${` as compose-go does (a
/// plain `{` does not open a level).
fn closing_brace(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

/// Length of the variable name (`[_A-Za-z][_A-Za-z0-9]*`) at the start of `text`.
fn name_length(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(&c) if is_name_start(c) => {
            1 + bytes[1..]
                .iter()
                .take_while(|c| **c == b'_' || c.is_ascii_alphanumeric())
                .count()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn env() -> HashMap<String, String> {
        [
            ("FOO", "foo"),
            ("EMPTY", ""),
            ("TAG", "1.4.2"),
            ("B", "bee"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn run(text: &str) -> Result<String, InterpolateError> {
        let env = env();
        interpolate(text, &|name: &str| env.get(name).cloned())
    }

    #[test]
    fn text_without_dollar_is_unchanged() {
        assert_eq!(run("nginx:alpine").unwrap(), "nginx:alpine");
    }

    #[test]
    fn plain_variable() {
        assert_eq!(run("$FOO").unwrap(), "foo");
        assert_eq!(run("a-$FOO-b").unwrap(), "a-foo-b");
        // The name ends at the first character that cannot be part of it.
        assert_eq!(run("$FOO.bar").unwrap(), "foo.bar");
        assert_eq!(run("$FOObar").unwrap(), "");
    }

    #[test]
    fn braced_variable() {
        assert_eq!(run("app:${TAG}").unwrap(), "app:1.4.2");
        assert_eq!(run("${FOO}bar").unwrap(), "foobar");
    }

    #[test]
    fn unset_variable_becomes_empty_and_is_reported() {
        let env = env();
        let mut unset = Vec::new();
        let out = interpolate_with("x${NOPE}y$NADA", &|n: &str| env.get(n).cloned(), &mut |n| {
            unset.push(n.to_string())
        })
        .unwrap();
        assert_eq!(out, "xy");
        assert_eq!(unset, ["NOPE", "NADA"]);
    }

    #[test]
    fn default_when_unset_or_empty() {
        assert_eq!(run("${NOPE:-def}").unwrap(), "def");
        assert_eq!(run("${EMPTY:-def}").unwrap(), "def");
        assert_eq!(run("${FOO:-def}").unwrap(), "foo");
        assert_eq!(run("${NOPE:-}").unwrap(), "");
    }

    #[test]
    fn default_when_unset_only() {
        assert_eq!(run("${NOPE-def}").unwrap(), "def");
        assert_eq!(run("${EMPTY-def}").unwrap(), "");
        assert_eq!(run("${FOO-def}").unwrap(), "foo");
    }

    #[test]
    fn required_when_unset_or_empty() {
        assert_eq!(
            run("${NOPE:?set NOPE please}"),
            Err(InterpolateError::Required {
                name: "NOPE".into(),
                message: "set NOPE please".into()
            })
        );
        assert!(run("${EMPTY:?x}").is_err());
        assert_eq!(run("${FOO:?x}").unwrap(), "foo");
    }

    #[test]
    fn required_when_unset_only() {
        assert!(run("${NOPE?x}").is_err());
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
        assert_eq!(run("${FOO?x}").unwrap(), "foo");
        let err = run("${NOPE?}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "required variable `NOPE` is missing a value"
        );
    }

    #[test]
    fn alternative_when_set_and_not_empty() {
        assert_eq!(run("${FOO:+alt}").unwrap(), "alt");
        assert_eq!(run("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(run("${NOPE:+alt}").unwrap(), "");
    }

    #[test]
    fn alternative_when_set() {
        assert_eq!(run("${FOO+alt}").unwrap(), "alt");
        assert_eq!(run("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(run("${NOPE+alt}").unwrap(), "");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(run("${NOPE:-${NADA:-x}}").unwrap(), "x");
        assert_eq!(run("${NOPE:-${B:-x}}").unwrap(), "bee");
        assert_eq!(run("${NOPE:-pre-${B}-post}").unwrap(), "pre-bee-post");
        assert_eq!(run("${FOO:+${B}}/${NOPE:-${TAG}}").unwrap(), "bee/1.4.2");
        // The message of a required variable is interpolated too.
        assert_eq!(
            run("${NOPE:?need ${FOO}}").unwrap_err().to_string(),
            "required variable `NOPE` is missing a value: need foo"
        );
    }

    #[test]
    fn defaults_are_only_evaluated_when_used() {
        assert_eq!(run("${FOO:-${NOPE:?never}}").unwrap(), "foo");
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(run("$$FOO").unwrap(), "$FOO");
        assert_eq!(run("a$$").unwrap(), "a$");
        assert_eq!(run("$${FOO}").unwrap(), "${FOO}");
        assert_eq!(run("echo $$$$").unwrap(), "echo $$");
    }

    #[test]
    fn lone_dollar_stays() {
        assert_eq!(run("costs 5$").unwrap(), "costs 5$");
        assert_eq!(run("$1 $ x").unwrap(), "$1 $ x");
    }

    #[test]
    fn invalid_templates_are_errors() {
        for bad in [
            "${",
            "${FOO",
            "${}",
            "${9x}",
            "${FOO.bar}",
            "${FOO:x}",
            "${FOO:}",
        ] {
            assert!(
                matches!(run(bad), Err(InterpolateError::Invalid { .. })),
                "{bad} should be invalid"
            );
        }
    }

    #[test]
    fn braces_in_literal_text_are_fine() {
        assert_eq!(run("{\"a\": \"${FOO}\"}").unwrap(), "{\"a\": \"foo\"}");
        assert_eq!(run("${NOPE:-{x}}").unwrap(), "{x}");
    }

    #[test]
    fn unicode_around_variables() {
        assert_eq!(run("é${FOO}ü$B€").unwrap(), "éfooübee€");
    }

    #[test]
    fn lists_referenced_variables() {
        assert_eq!(variables("nginx:1.25"), Vec::<String>::new());
        assert_eq!(variables("app:${IMAGE_VERSION}"), ["IMAGE_VERSION"]);
        assert_eq!(
            variables("${REG:-docker.io}/app:${BLUE_IMAGE_VERSION:-${IMAGE_VERSION}}"),
            ["REG", "BLUE_IMAGE_VERSION", "IMAGE_VERSION"]
        );
        assert_eq!(variables("$$NOT_ME:$TAG"), ["TAG"]);
    }

    proptest! {
        #[test]
        fn interpolation_never_panics(text in "\\PC{0,60}") {
            let _ = run(&text);
            let _ = variables(&text);
        }

        #[test]
        fn interpolation_of_template_soup_never_panics(
            text in "[\\$\\{\\}:\\-\\?\\+A-Z_a-z0-9 é]{0,40}"
        ) {
            let _ = run(&text);
            let _ = variables(&text);
        }

        #[test]
        fn escaped_text_round_trips(text in "\\PC{0,40}") {
            let escaped = text.replace('$', "$$");
            prop_assert_eq!(run(&escaped).unwrap(), text);
        }

        #[test]
        fn duration_parsing_never_panics(text in "\\PC{0,30}") {
            let _ = crate::yaml::duration::parse(&text);
        }

        #[test]
        fn duration_soup_never_panics(text in "[0-9\\.\\-\\+hmsuµn]{0,24}") {
            let _ = crate::yaml::duration::parse(&text);
        }
    }
}
