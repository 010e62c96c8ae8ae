//! `{name}` placeholders in the spec's templates (service names, KV keys).

/// `template` with every `{name}` that `values` names replaced by its value, in one pass:
/// a value is never searched for placeholders itself, and a `{...}` that `values` does not
/// name stays as it is. Planning fills a dozen templates per service, so this avoids one
/// search of the whole string per placeholder.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let bytes = template.as_bytes();
    // Bytes, not chars: `{` and `}` are ASCII, so every index found is a char boundary. A
    // char search per placeholder took most of the time of planning a service's keys.
    let mut copied = 0;
    let mut i = 0;
    while let Some(open) = bytes[i..].iter().position(|&b| b == b'{').map(|at| i + at) {
        let named = bytes[open + 1..]
            .iter()
            .position(|&b| b == b'}')
            .and_then(|len| {
                let name = &template[open + 1..open + 1 + len];
                values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, value)| (*value, open + 1 + len))
            });
        match named {
            Some((value, close)) => {
                out.push_str(&template[copied..open]);
                out.push_str(value);
                copied = close + 1;
                i = close + 1;
            }
            None => i = open + 1,
        }
    }
    out.push_str(&template[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn named_placeholders_are_filled_once_and_others_kept() {
        let values = [("project", "shop"), ("service", "web")];
        assert_eq!(
            fill("{project}/{service}-active-zone", &values),
            "shop/web-active-zone"
        );
        assert_eq!(fill("{service}-{service}", &values), "web-web");
        assert_eq!(fill("{zone} {other} {", &values), "{zone} {other} {");
        assert_eq!(fill("{{service}}", &values), "{web}");
        assert_eq!(fill("plain", &values), "plain");
        // A value is not searched for placeholders.
        assert_eq!(
            fill("{project}", &[("project", "{service}"), ("service", "x")]),
            "{service}"
        );
    }
}
