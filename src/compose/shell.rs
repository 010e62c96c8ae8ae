//! Splitting a `command:` / `entrypoint:` string into words, as Compose does (go-shellwords
//! without environment or backtick expansion): whitespace separates words, single quotes are
//! literal, double quotes group, a backslash escapes the next character outside single quotes.

/// Splits `text` into words; `Err` when a quote is not closed.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut single = false;
    let mut double = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            word.push(c);
            escaped = false;
            in_word = true;
            continue;
        }
        match c {
            '\\' if !single => escaped = true,
            '\'' if !double => {
                single = !single;
                in_word = true;
            }
            '"' if !single => {
                double = !double;
                in_word = true;
            }
            c if c.is_whitespace() && !single && !double => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if single || double {
        return Err(format!(
            "unclosed {} quote",
            if single { "single" } else { "double" }
        ));
    }
    if escaped {
        word.push('\\');
        in_word = true;
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split("npm run start").unwrap(), ["npm", "run", "start"]);
        assert_eq!(
            split(r#"sh -c "echo 'hi there' && sleep 1""#).unwrap(),
            ["sh", "-c", "echo 'hi there' && sleep 1"]
        );
        assert_eq!(split("a  'b c'   d\\ e").unwrap(), ["a", "b c", "d e"]);
        assert_eq!(split("x '' y").unwrap(), ["x", "", "y"]);
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split(r#""a\"b""#).unwrap(), ["a\"b"]);
    }

    #[test]
    fn unclosed_quotes_are_errors() {
        assert!(split("echo 'oops").is_err());
        assert!(split("echo \"oops").is_err());
    }
}
