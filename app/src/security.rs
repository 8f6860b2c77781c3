//! The Content-Security-Policy of the HTML pages and its nonce, the one of the inline script Leptos needs
//! to start hydration.
//!
//! The nonce is chosen by the server for each request before the page renders (`server::http::guard`
//! puts it in the request's extensions and writes the policy on the response); rendering only reads it.
//! A policy set while rendering (through `ResponseOptions`) is taken with the page's first chunk, and
//! under concurrent requests it went out on another response or not at all, leaving a page whose
//! hydration the browser blocked.

use axum::http::request::Parts;
use leptos::nonce::Nonce;
use leptos::prelude::*;

/// A page's nonce, chosen before it renders; in the request's extensions.
#[derive(Clone, Debug)]
pub struct PageNonce(pub Nonce);

impl PageNonce {
    pub fn new() -> Self {
        Self(Nonce::new())
    }
}

impl Default for PageNonce {
    fn default() -> Self {
        Self::new()
    }
}

/// The policy of a page whose inline script carries `nonce`.
///
/// Scripts: our own files, the nonce'd hydration bootstrap, and WebAssembly compilation. Styles, images,
/// fonts, the manifest, the service worker and requests: our own origin only. Nobody may frame the app.
pub fn page_policy(nonce: &PageNonce) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        nonce.0
    )
}

/// Makes the request's nonce the one the page's scripts carry (in place of the one Leptos made up).
/// Called in the context of every rendered page.
pub fn provide_page_nonce() {
    let nonce = use_context::<Parts>().and_then(|parts| parts.extensions.get::<PageNonce>().cloned());
    if let Some(PageNonce(nonce)) = nonce {
        provide_context(nonce);
    }
}
