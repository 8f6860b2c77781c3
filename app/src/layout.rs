//! The frame around every page after login: who is logged in, the two main options, language, logout.

use domain::{Account, Role};
use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use crate::api::{alert_count, current_account, save_locale};
use crate::i18n::*;
use crate::locale_from_code;

/// The header: on a phone one row of the person's controls (the stations, account, language, logout,
/// and the operator's administration as icons of 44 px) above the three main options (top up, the
/// journal, payments); on a desktop one row with the stations among the options.
#[component]
pub fn Layout() -> impl IntoView {
    view! { <Frame><Outlet /></Frame> }
}

/// The frame itself around `children`: also around the page of an unknown address.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let i18n = use_i18n();
    let account = AsyncDerived::new(current_account);
    let operator = move || account.get().and_then(Result::ok).is_some_and(|a| a.role == Role::Operator);
    let alerts = AsyncDerived::new(alert_count);
    view! {
        <a class="skip" href="#main">{t!(i18n, skip_to_content)}</a>
        <header class="topbar">
            <A href="/" attr:class="brand">
                <img src="/icons/icon-192.png" alt="" width="28" height="28" />
                <span class="brand-name">{t!(i18n, app_name)}</span>
            </A>
            <nav class="mainnav" aria-label=move || t_string!(i18n, nav_home)>
                // The full name for every reader; a phone shows its short form.
                <A href="/recharge" attr:aria-label=move || t_string!(i18n, nav_topup)>
                    <span class="long">{t!(i18n, nav_topup)}</span>
                    <span class="short" aria-hidden="true">{t!(i18n, nav_topup_short)}</span>
                </A>
                <A href="/transactions">{t!(i18n, nav_journal)}</A>
                <A href="/payments">{t!(i18n, nav_payments)}</A>
                // On a phone the three main options are tabs; the stations are an icon in the row above.
                <A href="/stations" attr:class="wide-only">{t!(i18n, nav_stations)}</A>
                <Transition fallback=|| ()>
                    {move || operator().then(|| view! {
                        <A href="/admin" attr:class="wide-only">{t!(i18n, nav_admin)}</A>
                    })}
                </Transition>
            </nav>
            <div class="session">
                <Transition fallback=|| ()>
                    {move || alerts.get().and_then(Result::ok).map(|count| view! {
                        <AlertBell count label=t_string!(i18n, nav_alerts).to_owned() />
                    })}
                </Transition>
                <A href="/stations" attr:class="icon-button phone-only" attr:data-testid="stations-icon"
                    attr:aria-label=move || t_string!(i18n, nav_stations) attr:title=move || t_string!(i18n, nav_stations)>
                    <svg class="icon" aria-hidden="true" viewBox="0 0 24 24" width="22" height="22" fill="none"
                        stroke="currentColor" stroke-width="2" stroke-linecap="round">
                        <circle cx="12" cy="10" r="2" /><path d="M12 12v9M8.5 6.5a5 5 0 0 0 0 7M15.5 6.5a5 5 0 0 1 0 7M5.5 3.5a9 9 0 0 0 0 13M18.5 3.5a9 9 0 0 1 0 13" />
                    </svg>
                </A>
                <Transition fallback=|| ()>
                    {move || operator().then(|| view! {
                        <A href="/admin" attr:class="icon-button phone-only" attr:data-testid="admin-icon"
                            attr:aria-label=move || t_string!(i18n, nav_admin) attr:title=move || t_string!(i18n, nav_admin)>
                            <svg class="icon" aria-hidden="true" viewBox="0 0 24 24" width="22" height="22" fill="none"
                                stroke="currentColor" stroke-width="2" stroke-linecap="round">
                                <path d="M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0" />
                                <circle cx="16" cy="6" r="2" /><circle cx="10" cy="12" r="2" /><circle cx="18" cy="18" r="2" />
                            </svg>
                        </A>
                    })}
                </Transition>
                <Transition fallback=|| ()>
                    {move || account.get().map(|a| match a {
                        Ok(a) => view! { <Who account=a /> }.into_any(),
                        // The server sends no page without a session: only a session ended meanwhile lands here.
                        Err(_) => ().into_any(),
                    })}
                </Transition>
                <LanguageSwitch locale=i18n.get_locale_untracked() logged_in=true />
                <form method="post" action="/logout" class="logout">
                    <button type="submit" class="link icon-button" aria-label=move || t_string!(i18n, logout)
                        title=move || t_string!(i18n, logout)>
                        <svg class="icon phone-only" aria-hidden="true" viewBox="0 0 24 24" width="22" height="22" fill="none"
                            stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
                            <path d="M10 4H5v16h5M15 8l4 4-4 4M19 12H9" />
                        </svg>
                        <span class="wide-only">{t!(i18n, logout)}</span>
                    </button>
                </form>
            </div>
        </header>
        <main id="main" class="content">
            {children()}
        </main>
    }
}

/// The alerts' bell with the count of open alerts nobody has seen yet, kept live: each change of the
/// account's alerts reads the count again.
#[island]
pub fn AlertBell(count: i64, label: String) -> impl IntoView {
    let count = RwSignal::new(count);
    crate::live::on_alerts(move || {
        leptos::task::spawn_local(async move {
            if let Ok(n) = alert_count().await {
                count.set(n);
            }
        })
    });
    let class = move || {
        if count.get() > 0 { "icon-button alerts-link has-alerts" } else { "icon-button alerts-link" }
    };
    // Its name is the word and the count as shown ("Alertes 2"): what is seen is what is read.
    let title = label.clone();
    view! {
        <a href="/alerts" data-testid="alerts-link" title=title class=class>
            <svg class="icon" aria-hidden="true" viewBox="0 0 24 24" width="22" height="22" fill="none"
                stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
                <path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0" />
            </svg>
            <span class="visually-hidden">{label}</span>
            <span class="badge" data-testid="alert-count" hidden=move || count.get() == 0>
                {move || count.get()}
            </span>
        </a>
    }
}

/// The person's e-mail and what they act as; on a phone, the e-mail's first letter in a circle (the
/// words stay for screen readers).
#[component]
fn Who(account: Account) -> impl IntoView {
    let i18n = use_i18n();
    let role = match account.role {
        Role::Operator => t_string!(i18n, role_operator).to_string(),
        Role::Admin => t_string!(i18n, role_admin).to_string(),
    };
    let scope = account.gerance.map(|g| format!(" · {}", g.name)).unwrap_or_default();
    let email = account.email.to_string();
    let initial = email.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default();
    view! {
        <A href="/account" attr:class="who" attr:data-testid="who" attr:title=move || t_string!(i18n, nav_account)>
            <span class="initial" aria-hidden="true">{initial}</span>
            <span class="visually-hidden">{t!(i18n, logged_in_as)}" "</span>
            <span class="email">{email}</span>
            " "
            <span class="role">{role}{scope}</span>
        </A>
    }
}

/// A language menu; the choice is kept in a cookie and, once logged in, in the account, and the page is
/// rendered again in the new language.
///
/// An island: it gets its language from the page (`locale`) rather than from a context, so that the
/// browser needs none of the language machinery (cookie reading, negotiation) the server runs.
#[island]
pub fn LanguageSwitch(locale: Locale, logged_in: bool) -> impl IntoView {
    let on_change = move |ev: leptos::ev::Event| {
        let code = event_target_value(&ev);
        if locale_from_code(&code).is_some() {
            leptos::task::spawn_local(async move {
                remember_locale(&code);
                if logged_in {
                    // Kept in the cookie even if this fails: the next page is in the chosen language.
                    let _ = save_locale(code).await;
                }
                reload();
            });
        }
    };
    let selected = move |code: &'static str| locale.as_str() == code;
    view! {
        <label class="lang">
            <span class="visually-hidden">{td_string!(locale, language)}</span>
            <select on:change=on_change data-testid="language">
                <option value="fr" selected=selected("fr")>"Français"</option>
                <option value="de" selected=selected("de")>"Deutsch"</option>
                <option value="en" selected=selected("en")>"English"</option>
                <option value="it" selected=selected("it")>"Italiano"</option>
            </select>
        </label>
    }
}

/// Keeps the language in the cookie the server reads (a year; every page of the site), `Secure` when
/// the page came over HTTPS (as every cookie of the site is then).
fn remember_locale(code: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = leptos::web_sys::window()
        && let Some(document) = window.document()
    {
        let https = window.location().protocol().is_ok_and(|p| p == "https:");
        let secure = if https { "; secure" } else { "" };
        let cookie =
            format!("{}={code}; path=/; max-age=31536000; samesite=lax{secure}", crate::LOCALE_COOKIE);
        let _ = leptos::web_sys::js_sys::Reflect::set(&document, &"cookie".into(), &cookie.into());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = code;
}

/// Loads the page again (the server renders it in the chosen language).
fn reload() {
    #[cfg(feature = "hydrate")]
    if let Some(w) = leptos::web_sys::window() {
        let _ = w.location().reload();
    }
}
