//! `${NAME}` in a webhook URL or a metrics address: read from the environment when the request
//! is made, so that a token kept in a CI secret never lands in the spec file, a plan, saved or
//! printed, or a message.

/// What is wrong with the `${NAME}` references of `text`, if anything: a `${` without its `}`,
/// or a name that is not an environment variable's (letters, digits, `_`, not starting with a
/// digit). Checked when the spec is read, so that the mistake is found before a deploy starts.
pub fn problem(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Some("`${` without its closing `}`".to_string());
        };
        let name = &after[..end];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Some(format!(
                "`{name}` is not an environment variable name (letters, digits and `_`, \
                 not starting with a digit)"
            ));
        }
        rest = &after[end + 1..];
    }
    None
}

/// Reports the mistake in the `${NAME}` references of `text` (the value of `node`, at `path`)
/// to `r`, with `example` as the name to show; `None` when there was one.
pub fn check(
    r: &mut crate::yaml::Reader,
    text: &str,
    node: &crate::yaml::Node,
    path: &str,
    example: &str,
) -> Option<()> {
    let Some(problem) = problem(text) else {
        return Some(());
    };
    r.error(
        crate::error::InputError::new(format!("`{path}`: {problem}"), node.span.clone())
            .with_label("not a variable reference")
            .with_help(format!(
                "refer to an environment variable as `${{NAME}}`, e.g. `{example}`"
            )),
    );
    None
}

/// Whether `text` refers to the environment at all.
pub fn has_refs(text: &str) -> bool {
    text.contains("${")
}

/// `text` with each `${NAME}` replaced by `lookup(NAME)`. The error names the variable that is
/// not set, never the text (it may hold a token once partly filled).
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without its closing `}`".to_string());
        };
        let name = &after[..end];
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(format!(
                    "the environment variable {name} is not set: set it where shipctl runs"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`expand`] from this process's environment.
pub fn expand_from_process(text: &str) -> Result<String, String> {
    expand(text, |name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_filled_or_name_what_is_missing() {
        let env = |name: &str| (name == "TOKEN").then(|| "s3cret".to_string());
        assert_eq!(
            expand("https://h/x/${TOKEN}?a=${TOKEN}", env).as_deref(),
            Ok("https://h/x/s3cret?a=s3cret")
        );
        let missing = expand("https://h/${HOOK_PATH}", env).expect_err("unset");
        assert!(missing.contains("HOOK_PATH is not set"), "{missing}");
        assert!(expand("x${oops", env).is_err());
        assert_eq!(expand("plain", env).as_deref(), Ok("plain"));
        assert_eq!(
            expand_from_process("a${PATH}b").ok(),
            std::env::var("PATH").ok().map(|p| format!("a{p}b"))
        );
    }

    #[test]
    fn mistakes_are_found_before_anything_is_sent() {
        assert_eq!(problem("https://h/${TOKEN}/${_X1}"), None);
        assert_eq!(problem("https://h/plain"), None);
        assert!(problem("https://h/${TOKEN").is_some_and(|p| p.contains("closing")));
        assert!(problem("https://h/${}").is_some());
        assert!(problem("https://h/${1X}").is_some());
        assert!(problem("https://h/${SLACK-URL}").is_some_and(|p| p.contains("SLACK-URL")));
    }
}
