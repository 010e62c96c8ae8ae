//! An instant query against Prometheus' HTTP API (`GET /api/v1/query`).

use serde_json::Value;

/// How long one query may take: an analysis interval is at least this long in practice.
const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The one number `query` answers now. A vector must hold exactly one sample: more would
/// judge several zones at once, none means no data yet (inconclusive).
pub(super) async fn query(
    client: &reqwest::Client,
    address: &str,
    query: &str,
) -> Result<f64, String> {
    let url = format!(
        "{}/api/v1/query?query={}",
        address.trim_end_matches('/'),
        encode(query)
    );
    let response = client
        .get(&url)
        .timeout(QUERY_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("Prometheus at {address}: {e}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("Prometheus at {address}: reading the answer: {e}"))?;
    parse_answer(&body).map_err(|why| {
        if status.is_success() {
            format!("Prometheus at {address}, query `{query}`: {why}")
        } else {
            format!("Prometheus at {address} answered {status} to `{query}`: {why}")
        }
    })
}

/// `text` percent-encoded for a query string (RFC 3986: unreserved characters stay).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of an instant query's answer.
pub(super) fn parse_answer(body: &str) -> Result<f64, String> {
    let v: Value = serde_json::from_str(body).map_err(|_| {
        let start: String = body.chars().take(120).collect();
        format!("not a Prometheus answer: {start}")
    })?;
    if v["status"] != "success" {
        let error = v["error"].as_str().unwrap_or("no reason given");
        return Err(format!("query failed: {error}"));
    }
    let data = &v["data"];
    let sample = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => {
            let result = data["result"].as_array().map_or(&[][..], Vec::as_slice);
            match result {
                [] => return Err("no data (the query matched no series)".into()),
                [one] => &one["value"],
                many => {
                    return Err(format!(
                        "{} series answered; the query must give one number (wrap it in `sum(...)`)",
                        many.len()
                    ));
                }
            }
        }
        other => {
            return Err(format!(
                "a {} answer; the query must give one number",
                other.unwrap_or("malformed")
            ));
        }
    };
    let text = sample[1]
        .as_str()
        .ok_or_else(|| "the answer holds no value".to_string())?;
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if value.is_nan() {
        // 0/0: a rate over a window without requests.
        return Err("NaN (no requests in the window?)".into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::{encode, parse_answer};

    #[test]
    fn queries_are_encoded_for_the_url() {
        assert_eq!(
            encode(r#"sum(rate(x{zone="blue"}[1m]))"#),
            "sum%28rate%28x%7Bzone%3D%22blue%22%7D%5B1m%5D%29%29"
        );
    }

    #[test]
    fn one_sample_is_the_value() {
        let v = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.052"]}]}}"#;
        assert_eq!(parse_answer(v), Ok(0.052));
        let s =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"3"]}}"#;
        assert_eq!(parse_answer(s), Ok(3.0));
    }

    #[test]
    fn no_data_several_series_and_errors_are_said() {
        let none = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse_answer(none).unwrap_err().contains("no data"));
        let two = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}"#;
        assert!(parse_answer(two).unwrap_err().contains("2 series"));
        let bad = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert!(
            parse_answer(bad)
                .unwrap_err()
                .contains("parse error at char 5")
        );
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert!(parse_answer(nan).unwrap_err().contains("NaN"));
        assert!(
            parse_answer("<html>")
                .unwrap_err()
                .contains("not a Prometheus answer")
        );
    }
}
