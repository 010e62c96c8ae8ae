//! The short port syntax: `[ip:][published[-range]:]target[-range][/protocol]`.

use super::convert::Ctx;
use super::model::{Port, Protocol, PublishMode};
use crate::error::InputError;
use crate::yaml::{Node, Value, child_path};

const PORT_KEYS: &[&str] = &[
    "target",
    "published",
    "host_ip",
    "protocol",
    "mode",
    "name",
    "app_protocol",
];

/// `ports:` (short and long syntax) -> ports.
pub fn convert(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Vec<Port> {
    let items = ctx.list(
        node,
        path,
        "write `- \"8080:80\"` items, or `- target: 80` mappings",
    );
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &item.value {
            Value::Int(_) | Value::String { .. } => {
                let text = item.scalar_text().unwrap_or_default();
                match parse_short(&text) {
                    Ok(ports) => out.extend(ports),
                    Err(e) => ctx.error(
                        InputError::new(format!("invalid port in `{path}`: {e}"), item.span.clone())
                            .with_label("not a port")
                            .with_help("write `\"published:target\"` like `\"8080:80\"`, optionally with `/udp`"),
                    ),
                }
            }
            Value::Map(map) => {
                if let Some(port) = long(ctx, map, item, &p) {
                    out.push(port);
                }
            }
            _ => ctx.type_error(
                item,
                &p,
                "a port",
                "write `- \"8080:80\"` or `- target: 80`",
            ),
        }
    }
    out
}

fn long(ctx: &mut Ctx<'_>, map: &crate::yaml::Mapping, item: &Node, path: &str) -> Option<Port> {
    ctx.check_keys(map, PORT_KEYS, path);
    let number = |ctx: &mut Ctx<'_>, n: &Node, p: &str| -> Option<u16> {
        let v = ctx.uint(n, p)?;
        match u16::try_from(v) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                ctx.error(
                    InputError::new(
                        format!("`{p}` must be a port number (1-65535)"),
                        n.span.clone(),
                    )
                    .with_label("out of range")
                    .with_help("write a port between 1 and 65535"),
                );
                None
            }
        }
    };
    let Some(target) = map.get("target") else {
        ctx.error(
            InputError::new(format!("`{path}` has no `target`"), item.span.clone())
                .with_label("target missing")
                .with_help("add the container port: `target: 80`"),
        );
        return None;
    };
    let target = number(ctx, target, &format!("{path}.target"))?;
    let mut port = Port {
        target,
        published: None,
        protocol: Protocol::Tcp,
        mode: PublishMode::Ingress,
        host_ip: None,
    };
    let mut p = String::with_capacity(path.len() + 32);
    for (k, v) in map.iter() {
        child_path(&mut p, path, k.as_str().unwrap_or_default());
        match k.as_str() {
            Some("published") => {
                port.published = match &v.value {
                    Value::Null => None,
                    Value::String { text, .. } if text.is_empty() => None,
                    _ => number(ctx, v, &p),
                }
            }
            Some("protocol") => {
                if let Some(text) = ctx.string(v, &p) {
                    match parse_protocol(&text) {
                        Ok(proto) => port.protocol = proto,
                        Err(e) => ctx.error(
                            InputError::new(format!("`{p}`: {e}"), v.span.clone())
                                .with_label("unknown protocol")
                                .with_help("use `tcp`, `udp` or `sctp`"),
                        ),
                    }
                }
            }
            Some("mode") => match ctx.string(v, &p).as_deref() {
                Some("ingress") => port.mode = PublishMode::Ingress,
                Some("host") => port.mode = PublishMode::Host,
                Some(other) => ctx.error(
                    InputError::new(format!("invalid value `{other}` for `{p}`"), v.span.clone())
                        .with_label("unknown mode")
                        .with_help("use `ingress` (routing mesh) or `host`"),
                ),
                None => {}
            },
            Some("host_ip") => port.host_ip = ctx.string(v, &p),
            _ => {}
        }
    }
    Some(port)
}

/// Parses one short-syntax port; a range becomes one port per number.
pub fn parse_short(text: &str) -> Result<Vec<Port>, String> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((spec, proto)) => (spec, parse_protocol(proto)?),
        None => (text, Protocol::Tcp),
    };
    // IPv6 addresses may be written in brackets (`[::1]:8080:80`) or bare (`::1:8080:80`):
    // the last part is the target, the one before it the published port, the rest the address.
    let mut parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    parts.reverse();
    let (host_ip, published, target) = match parts.as_slice() {
        [target] => (None, None, *target),
        [published, target] => (None, Some(*published), *target),
        [ip, published, target] => (Some(*ip), Some(*published), *target),
        _ => return Err(format!("invalid port `{text}`")),
    };
    let host_ip = host_ip
        .map(|ip| ip.trim_start_matches('[').trim_end_matches(']'))
        .filter(|ip| !ip.is_empty())
        .map(str::to_string);
    let targets = parse_range(target, text)?;
    let published = match published.filter(|p| !p.is_empty()) {
        Some(p) => Some(parse_range(p, text)?),
        None => None,
    };
    let port = |target: u16, published: Option<u16>| Port {
        target,
        published,
        protocol,
        mode: PublishMode::Ingress,
        host_ip: host_ip.clone(),
    };
    match published {
        None => Ok(targets.map(|t| port(t, None)).collect()),
        Some(published) => {
            if published.len() != targets.len() {
                return Err(format!(
                    "port `{text}` maps {} published port(s) to {} target port(s); Swarm needs \
                     the same number on both sides",
                    published.len(),
                    targets.len()
                ));
            }
            Ok(targets
                .zip(published)
                .map(|(t, p)| port(t, Some(p)))
                .collect())
        }
    }
}

pub fn parse_protocol(text: &str) -> Result<Protocol, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        other => Err(format!("unknown protocol `{other}` (use tcp, udp or sctp)")),
    }
}

/// `80` or `8000-8010` (inclusive).
pub fn parse_range(text: &str, whole: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (start, end) = match text.split_once('-') {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let number = |s: &str| -> Result<u16, String> {
        match s.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!(
                "invalid port number `{s}` in `{whole}` (ports are 1-65535)"
            )),
            Ok(n) => Ok(n),
        }
    };
    let (start, end) = (number(start)?, number(end)?);
    if end < start {
        return Err(format!("invalid port range `{text}` in `{whole}`"));
    }
    Ok(start..=end)
}

/// A key identifying a port for `-f` merging (the same port written twice is kept once).
pub fn merge_key(port: &Port) -> String {
    format!(
        "{}:{}:{}/{:?}",
        port.host_ip.as_deref().unwrap_or(""),
        port.published.map(|p| p.to_string()).unwrap_or_default(),
        port.target,
        port.protocol
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Port {
        let mut ports = parse_short(text).unwrap();
        assert_eq!(ports.len(), 1);
        ports.remove(0)
    }

    #[test]
    fn target_only() {
        let p = one("80");
        assert_eq!(
            (p.target, p.published, p.protocol),
            (80, None, Protocol::Tcp)
        );
    }

    #[test]
    fn published_and_target_and_protocol() {
        let p = one("8080:80/udp");
        assert_eq!(
            (p.target, p.published, p.protocol),
            (80, Some(8080), Protocol::Udp)
        );
    }

    #[test]
    fn host_ip() {
        let p = one("127.0.0.1:8080:80");
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        let p = one("127.0.0.1::80");
        assert_eq!(
            (p.published, p.host_ip.as_deref()),
            (None, Some("127.0.0.1"))
        );
        let p = one("[::1]:8080:80");
        assert_eq!(
            (p.published, p.host_ip.as_deref()),
            (Some(8080), Some("::1"))
        );
    }

    #[test]
    fn ranges() {
        let ports = parse_short("8000-8001:80-81").unwrap();
        assert_eq!(
            ports
                .iter()
                .map(|p| (p.published, p.target))
                .collect::<Vec<_>>(),
            [(Some(8000), 80), (Some(8001), 81)]
        );
        assert_eq!(parse_short("3000-3002").unwrap().len(), 3);
        assert!(parse_short("8000-8010:80").is_err());
        assert!(parse_short("81-80").is_err());
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "http", "0", "70000", "80/icmp", "a:b", "1:2:3:x"] {
            assert!(parse_short(bad).is_err(), "{bad}");
        }
    }
}
