//! HTTP plumbing: responses, query strings, Go durations.

use std::collections::HashMap;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

pub(super) type Resp = Response<Full<Bytes>>;

pub(super) fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert("Content-Type", v);
    }
    r
}

pub(super) fn text(status: StatusCode, body: &str) -> Resp {
    reply(status, "text/plain; charset=utf-8", body.to_string())
}

pub(super) fn json_reply(v: &Value) -> Resp {
    reply(StatusCode::OK, "application/json", v.to_string())
}

pub(super) fn bool_reply(b: bool) -> Resp {
    reply(
        StatusCode::OK,
        "application/json",
        if b { "true" } else { "false" },
    )
}

/// Adds the headers of a read: the index (never 0) and leader information.
pub(super) fn with_meta(mut r: Resp, index: u64) -> Resp {
    let h = r.headers_mut();
    h.insert("X-Consul-Index", index.max(1).into());
    h.insert("X-Consul-KnownLeader", "true".parse().expect("header"));
    h.insert("X-Consul-LastContact", "0".parse().expect("header"));
    r
}

/// Query parameters; a flag without `=` maps to None.
pub(super) fn query(req: &Request<Incoming>) -> HashMap<String, Option<String>> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), Some(percent_decode(v))),
            None => (percent_decode(p), None),
        })
        .collect()
}

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = if b[i] == b'%' && i + 2 < b.len() {
            u8::from_str_radix(&s[i + 1..i + 3], 16).ok()
        } else {
            None
        };
        if let Some(v) = hex {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `time.ParseDuration` for the units Consul clients send.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

pub(super) fn uuid() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut a = RandomState::new().build_hasher();
    a.write_u64(1);
    let mut b = RandomState::new().build_hasher();
    b.write_u64(2);
    let hex = format!("{:016x}{:016x}", a.finish(), b.finish());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
