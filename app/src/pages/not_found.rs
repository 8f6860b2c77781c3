//! What an unknown address shows, with a real 404 status: inside the app's frame (its header and its
//! main options) once logged in.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::i18n::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    let i18n = use_i18n();
    view! {
        <div class="narrow" data-testid="not-found">
            {super::page_title(t_string!(i18n, not_found_title))}<h1>{t!(i18n, not_found_title)}</h1>
            <p>{t!(i18n, not_found_text)}</p>
            <A href="/" attr:class="button">{t!(i18n, back_home)}</A>
        </div>
    }
}
