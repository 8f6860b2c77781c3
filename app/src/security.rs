//! The Content-Security-Policy of the HTML pages, which only the renderer can write: it carries the nonce
//! of the one inline script Leptos needs to start hydration.

use axum::http::HeaderValue;
use axum::http::header::CONTENT_SECURITY_POLICY;
use leptos::nonce::{provide_nonce, use_nonce};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// Provides a fresh nonce for this response and sets the page's policy with it.
///
/// Scripts: our own files, the nonce'd hydration bootstrap, and WebAssembly compilation. Styles, images,
/// fonts, the manifest, the service worker and requests: our own origin only. Nobody may frame the app.
pub fn provide_nonce_and_policy() {
    provide_nonce();
    let Some(nonce) = use_nonce() else { return };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let (Some(response), Ok(value)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(&policy)) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}
