//! The login page: a real POST form to the server's `/login`, so it works before the WebAssembly loads.

use domain::notice::LoginNotice as Notice;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::i18n::*;
use crate::layout::LanguageSwitch;

#[component]
pub fn Login() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let notice = move || query.with(|q| Notice::from_query(|name| q.get_str(name)));
    // Only a path on this site is carried over; the server checks it again.
    let next = move || query.with(|q| q.get("next").filter(|n| n.starts_with('/')).unwrap_or_default());
    let message = move || {
        notice().map(|n| {
            let class = if n.is_error() { "notice error" } else { "notice info" };
            let text = match n {
                Notice::Credentials => t!(i18n, login_error_credentials).into_any(),
                Notice::Throttled { retry_secs } => {
                    crate::words::fill(t_string!(i18n, login_error_throttled), &[("seconds", &retry_secs)])
                        .into_any()
                }
                Notice::Invalid => t!(i18n, login_error_invalid).into_any(),
                Notice::Unavailable => t!(i18n, login_error_unavailable).into_any(),
                Notice::Expired => t!(i18n, login_expired).into_any(),
                Notice::LoggedOut => t!(i18n, login_logged_out).into_any(),
            };
            view! { <p class=class role="alert" data-testid="login-notice">{text}</p> }
        })
    };
    view! {
        <main class="login" id="main">
            <div class="login-card">
                <div class="login-head">
                    <img src="/icons/icon-192.png" alt="" width="56" height="56" />
                    <div>
                        {super::page_title(t_string!(i18n, login_title))}<h1>{t!(i18n, app_name)}</h1>
                        <p class="muted">{t!(i18n, login_intro)}</p>
                    </div>
                </div>
                <h2>{t!(i18n, login_title)}</h2>
                {message}
                <form method="post" action="/login" class="stack">
                    <input type="hidden" name="next" value=next />
                    <label for="email">{t!(i18n, login_email)}</label>
                    <input
                        id="email"
                        name="email"
                        type="email"
                        autocomplete="username"
                        inputmode="email"
                        autocapitalize="none"
                        spellcheck="false"
                        required
                        maxlength="254"
                    />
                    <label for="password">{t!(i18n, login_password)}</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                        maxlength="256"
                    />
                    <button type="submit" class="primary">{t!(i18n, login_submit)}</button>
                </form>
                <div class="login-foot">
                    <LanguageSwitch locale=i18n.get_locale_untracked() logged_in=false />
                </div>
            </div>
        </main>
    }
}
