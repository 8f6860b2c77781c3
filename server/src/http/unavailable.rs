//! What a request is answered when the database server is away for a moment (down, restarting, the
//! network to it cut): `503 Service Unavailable` with `Retry-After`, and a sentence a person can read in
//! their language — a small page for a browser asking for one (it tries again by itself), a line
//! otherwise. Nothing about the request was wrong, and nothing was done.

use app::{RETRY_AFTER_SECS, locale_code, unavailable_text};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::export::request_locale;

pub fn unavailable(headers: &HeaderMap) -> Response {
    let locale = request_locale(headers, None);
    let text = unavailable_text(locale);
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let (kind, body) = if wants_page {
        let lang = locale_code(locale);
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta http-equiv=\"refresh\" content=\"{RETRY_AFTER_SECS}\"><title>Recharge</title></head>\
             <body><h1>Recharge</h1><p>{text}</p></body></html>\n"
        );
        ("text/html; charset=utf-8", page)
    } else {
        ("text/plain; charset=utf-8", format!("{text}\n"))
    };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
