//! Keeping secrets out of messages.

/// `scheme://user:secret@host/...` -> `scheme://user:***@host/...`; anything else unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // The last '@' ends the user info: passwords may contain '@' themselves.
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let user = match userinfo.find(':') {
        Some(colon) => format!("{}:***", &userinfo[..colon]),
        None => "***".to_string(),
    };
    format!(
        "{}{}@{}{}",
        &url[..rest_start],
        user,
        &authority[at + 1..],
        &rest[authority_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords() {
        assert_eq!(
            redact_url("etcd://root:s3cr@t@h:2379"),
            "etcd://root:***@h:2379"
        );
        assert_eq!(redact_url("etcd://tok@h:2379/x"), "etcd://***@h:2379/x");
        assert_eq!(redact_url("consul://h:8500"), "consul://h:8500");
        assert_eq!(redact_url("swarm://"), "swarm://");
    }
}
