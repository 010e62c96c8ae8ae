//! `{name}` placeholders in the spec's templates (service names, KV keys).

/// `template` with every `{name}` that `values` names replaced by its value, in one pass:
/// a value is never searched for placeholders itself, and a `{...}` that `values` does not
/// name stays as it is. Planning fills a dozen templates per service, so this avoids one
/// search of the whole string per placeholder.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let named = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (*value, close))
        });
        match named {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
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
