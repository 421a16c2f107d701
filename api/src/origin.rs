//! Where a browser says a request comes from.

use axum::http::{HeaderMap, header};

/// Whether the request's `Origin` names this host (`Host`): `None` when it sends no `Origin`
/// (not a browser, or a browser's same-origin GET).
pub fn is_this_host(headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    Some(matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b)))
}
