//! Browser-facing pages (the UI at `/app/`, the API docs at `/docs`) carry a content
//! security policy and the headers that keep them out of other sites' frames: a framed
//! "confirm purchase" could be clicked by a page the buyer never meant to trust.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The docs: Swagger UI's own files, its icons as `data:` images and style attributes.
pub const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The UI: its own files, plus the PortOne browser SDK. The sandbox's SDK is served by this
/// service; the real one comes from PortOne's CDN and opens the PGs' windows (frames) on
/// their own https origins. Style attributes are allowed: the SDK places its overlay with one.
pub fn ui_policy(iamport_js: &str) -> String {
    let (script, frames) = match web_origin(iamport_js) {
        Some(origin) => (format!("'self' {origin}"), "'self' https:"),
        None => ("'self'".to_string(), "'self'"),
    };
    format!(
        "default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; frame-src {frames}; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `https://host[:port]` of an absolute http(s) address; `None` for a path on this origin.
fn web_origin(address: &str) -> Option<&str> {
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin_len = address.len() - rest.len() + host_end;
    address.get(..origin_len).filter(|_| host_end > 0)
}

/// Adds the policy (the layer's state) and the headers every page gets.
pub async fn add_security_headers(
    State(policy): State<HeaderValue>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdks_origin_is_allowed_only_when_it_is_elsewhere() {
        for (address, origin) in [
            (
                "https://cdn.iamport.kr/v1/iamport.js",
                Some("https://cdn.iamport.kr"),
            ),
            ("http://127.0.0.1:9/x.js?v=1", Some("http://127.0.0.1:9")),
            ("https://cdn.example", Some("https://cdn.example")),
            ("/sandbox/portone/iamport.js", None),
            ("https:///x.js", None),
            ("javascript:alert(1)", None),
        ] {
            assert_eq!(web_origin(address), origin, "{address}");
        }
        assert!(ui_policy("/sandbox/portone/iamport.js").contains("script-src 'self';"));
        assert!(ui_policy("https://cdn.iamport.kr/v1/iamport.js")
            .contains("script-src 'self' https://cdn.iamport.kr;"));
    }
}
