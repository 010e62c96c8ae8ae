//! Image references: reading the version from a tag and putting a new version in.

use crate::compose::model::Service;

/// The parts of `[host[:port]/]path[:tag][@digest]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Everything before the tag: registry host (with port) and repository path.
    pub name: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> ImageRef<'a> {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (image, None),
        };
        // A `:` after the last `/` starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[last_slash..].rfind(':') {
            Some(i) => ImageRef {
                name: &rest[..last_slash + i],
                tag: Some(&rest[last_slash + i + 1..]),
                digest,
            },
            None => ImageRef {
                name: rest,
                tag: None,
                digest,
            },
        }
    }
}

/// The version an image stands for: its tag, else its digest, else `latest` (Docker's default).
pub fn version_of(image: &str) -> String {
    let r = ImageRef::parse(image);
    match (r.tag, r.digest) {
        (Some(tag), _) if !tag.is_empty() => tag.to_string(),
        (_, Some(digest)) if !digest.is_empty() => digest.to_string(),
        _ => "latest".to_string(),
    }
}

/// The image with its tag set to `version`. A digest is dropped: it would pin the old content
/// and Docker would ignore the new tag.
pub fn with_version(image: &str, version: &str) -> String {
    let r = ImageRef::parse(image);
    format!("{}:{version}", r.name)
}

/// True when the raw compose image took its version from a variable the CLI sets for `zone`
/// (`IMAGE_VERSION`, or `BLUE_IMAGE_VERSION` when deploying `blue`): the loader already put the
/// new version in, so the tag must be left alone.
pub fn uses_version_variable(service: &Service, zone: &str) -> bool {
    let zone_var = format!("{}_IMAGE_VERSION", zone_env_name(zone));
    service
        .image_variables
        .iter()
        .any(|v| v == "IMAGE_VERSION" || *v == zone_var)
}

/// A zone name as it appears in an environment variable name (`blue-2` -> `BLUE_2`).
pub fn zone_env_name(zone: &str) -> String {
    zone.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_port_is_not_a_tag() {
        let r = ImageRef::parse("repo:5000/app:1.0");
        assert_eq!(
            (r.name, r.tag, r.digest),
            ("repo:5000/app", Some("1.0"), None)
        );
        assert_eq!(
            with_version("repo:5000/app:1.0", "1.4.2"),
            "repo:5000/app:1.4.2"
        );
        assert_eq!(
            with_version("repo:5000/app", "1.4.2"),
            "repo:5000/app:1.4.2"
        );
        assert_eq!(version_of("repo:5000/app"), "latest");
    }

    #[test]
    fn digests_are_replaced_by_the_tag() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let image = format!("app@{digest}");
        assert_eq!(version_of(&image), digest);
        assert_eq!(with_version(&image, "2.0"), "app:2.0");
        let tagged = format!("registry.example.com/team/app:1.0@{digest}");
        assert_eq!(version_of(&tagged), "1.0");
        assert_eq!(
            with_version(&tagged, "2.0"),
            "registry.example.com/team/app:2.0"
        );
    }

    #[test]
    fn bare_names_get_a_tag() {
        assert_eq!(version_of("app"), "latest");
        assert_eq!(with_version("app", "1.4.2"), "app:1.4.2");
        assert_eq!(version_of("nginx:1.27-alpine"), "1.27-alpine");
        assert_eq!(
            with_version("localhost:5000/app", "3"),
            "localhost:5000/app:3"
        );
    }

    #[test]
    fn version_variables_are_matched_per_zone() {
        let mut s = Service {
            image_variables: vec!["GREEN_IMAGE_VERSION".into()],
            ..Service::default()
        };
        assert!(uses_version_variable(&s, "green"));
        assert!(!uses_version_variable(&s, "blue"));
        s.image_variables = vec!["IMAGE_VERSION".into()];
        assert!(uses_version_variable(&s, "blue"));
        assert_eq!(zone_env_name("eu-west.1"), "EU_WEST_1");
    }
}
