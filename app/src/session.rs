//! A session that ends while a page is open (it expired, or the person logged out elsewhere).
//!
//! Pages are rendered on the server, which sends a request without a session to the login page; but an
//! island on a page already open calls server functions, which then answer 401 (everything under
//! `/api/` does without a session), and the island could only say that something went wrong.

/// After a server function failed in an island: when the session has ended, go to the login page,
/// which says so and comes back to this page once logged in. A server that cannot be reached at all
/// (offline) leaves the island's own message.
pub fn check() {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async {
        use leptos::server_fn::error::ServerFnError;
        if let Err(ServerFnError::Request(_)) | Ok(_) = crate::api::current_account().await {
            return;
        }
        let Some(window) = leptos::web_sys::window() else { return };
        let location = window.location();
        let here =
            format!("{}{}", location.pathname().unwrap_or_default(), location.search().unwrap_or_default());
        let next = String::from(leptos::web_sys::js_sys::encode_uri_component(&here));
        let _ = location.set_href(&format!("/login?reason=expired&next={next}"));
    });
}
