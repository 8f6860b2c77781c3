//! A session that ends while a page is open (it expired, or the person logged out elsewhere).
//!
//! Pages are rendered on the server, which sends a request without a session to the login page; but an
//! island on a page already open calls server functions, which then answer 401 (everything under
//! `/api/` does without a session), and the island could only say that something went wrong.

/// After a server function failed in an island: when the session has ended (`GET /api/session` is
/// refused), go to the login page, which says so and comes back to this page once logged in. A server
/// that cannot be reached at all (offline) leaves the island's own message.
///
/// Several islands and streams of one page may find the session gone at once: the page goes to the
/// login once (a second navigation would cancel the first and load the login page twice, losing what
/// was typed into it meanwhile). Not for ever: a page brought back by the browser's Back button keeps
/// its memory, and its session may end again later.
pub fn check() {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async {
        use std::sync::atomic::{AtomicU64, Ordering};
        /// When this page last went to the login, in milliseconds since 1970.
        static LEFT_AT: AtomicU64 = AtomicU64::new(0);
        const ONCE_WITHIN_MS: u64 = 10_000;
        let now = leptos::web_sys::js_sys::Date::now() as u64;
        let recently = |left: u64| now.saturating_sub(left) < ONCE_WITHIN_MS;
        if recently(LEFT_AT.load(Ordering::Relaxed)) {
            return;
        }
        use leptos::wasm_bindgen::JsCast;
        let Some(window) = leptos::web_sys::window() else { return };
        let Ok(answer) = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str("/api/session")).await
        else {
            return;
        };
        let Ok(answer) = answer.dyn_into::<leptos::web_sys::Response>() else { return };
        if answer.status() != 401 || recently(LEFT_AT.swap(now, Ordering::Relaxed)) {
            return;
        }
        let location = window.location();
        // Without `format!`, which would bring the formatting code into the main WebAssembly module (13 KB
        // brotli).
        let mut here = location.pathname().unwrap_or_default();
        here.push_str(&location.search().unwrap_or_default());
        use domain::notice::QueryNotice;
        let (name, value) = domain::notice::LoginNotice::Expired.param();
        let mut login = String::from("/login?");
        login.push_str(name);
        login.push('=');
        login.push_str(value);
        login.push_str("&next=");
        login.push_str(&String::from(leptos::web_sys::js_sys::encode_uri_component(&here)));
        let _ = location.set_href(&login);
    });
}
