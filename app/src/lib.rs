//! Recharge's user interface: the pages, the server functions they call and the types both sides share.
//!
//! The server (feature `ssr`) renders every page; in the browser (feature `hydrate`) only the islands run,
//! the interactive parts of a page (`#[island]`), each page's in its own WebAssembly file when built
//! with `--split` (`make build`).
//! Authentication itself (login, logout, sessions) is plain HTTP in the `server` crate, so that it works
//! before any WebAssembly has loaded; this crate only reads the verified account.

#![recursion_limit = "256"]

/// The translations, generated at compile time from `app/locales/*.json` (a missing key fails the build).
// `load_locales!` is deprecated in favour of a build script with `leptos_i18n_build`, whose ICU data
// exporter would add minutes to every clean build for no gain here (no plurals or ICU formatting used).
#[allow(deprecated)]
mod translations {
    leptos_i18n::load_locales!();
}
pub use translations::i18n;

pub mod api;
pub mod form;
mod layout;
mod live;
mod pages;
pub use pages::status_label;
#[cfg(feature = "ssr")]
pub mod security;
mod session;
mod words;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::i18n::*;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="theme-color" content="#0b5d4b" />
                <meta name="color-scheme" content="light" />
                <link rel="manifest" href="/manifest.webmanifest" />
                <link rel="icon" type="image/png" sizes="192x192" href="/icons/icon-192.png" />
                <link rel="apple-touch-icon" href="/icons/apple-touch-icon.png" />
                <DeferredHydration options />
                <script type="module" src="/pwa.js"></script>
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Loads the WebAssembly once the page has loaded and the browser is idle, without preloading anything,
/// then brings the page's islands to life (the interactive parts: everything else is server-rendered
/// HTML whose links and forms work without WebAssembly). On a slow link the page comes first, and the
/// WebAssembly does not compete with its stylesheet. Leptos's `HydrationScripts` preloads both files,
/// which starts them before the first paint; this is its island walk, started later.
#[component]
fn DeferredHydration(options: LeptosOptions) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    let pkg = options.site_pkg_dir.to_string();
    let js = options.output_name.to_string();
    // cargo-leptos names the WebAssembly after the output name; a plain wasm-bindgen build adds `_bg`.
    let wasm = if option_env!("LEPTOS_OUTPUT_NAME").is_some() { js.clone() } else { format!("{js}_bg") };
    let script = format!("({ISLANDS_SCRIPT})(\"/{pkg}/{js}.js\", \"/{pkg}/{wasm}.wasm\");");
    view! { <script type="module" nonce=nonce>{script}</script> }
}

/// Walks the page for `<leptos-island>` elements and hydrates each with its function from the module,
/// outer islands first, so that an inner island (inside `<leptos-children>`) sees the context its outer
/// island provides (the language).
const ISLANDS_SCRIPT: &str = "(js, wasm) => { \
    const children = []; \
    const walk = async (node, m) => { \
        for (const el of node.children) { \
            const tag = el.tagName.toLowerCase(); \
            if (tag === \"leptos-island\") { \
                const f = m[el.dataset.component]; \
                if (f) { const cb = children[children.length - 1]; if (cb) cb(); await f(el); } \
                await walk(el, m); \
            } else if (tag === \"leptos-children\") { \
                children.push(el.$$on_hydrate); await walk(el, m); children.pop(); \
            } else { await walk(el, m); } \
        } \
    }; \
    const start = () => import(js).then((m) => m.default({ module_or_path: wasm }) \
        .then(() => { m.hydrate(); return walk(document.body, m); })); \
    const idle = () => \"requestIdleCallback\" in window ? requestIdleCallback(start, { timeout: 1000 }) \
        : setTimeout(start, 0); \
    document.readyState === \"complete\" ? idle() : addEventListener(\"load\", idle); \
}";

/// The application: language context, styles and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/recharge.css" />
        <I18nContextProvider>
            <Title text="Recharge" />
            <Router>
                // Every address but the login needs a session (the server sends the others to the login
                // first): an unknown one is shown inside the app's frame.
                <Routes fallback=|| view! { <layout::Frame><pages::NotFound /></layout::Frame> }>
                    // Whole pages at once: only islands hydrate, so streaming parts of a page out of order
                    // would only add the scripts that move them into place (and shift the layout).
                    <Route path=path!("/login") view=pages::Login ssr=SsrMode::Async />
                    <ParentRoute path=path!("") view=layout::Layout ssr=SsrMode::Async>
                        <Route path=path!("/") view=pages::Home />
                        <Route path=path!("/recharge") view=pages::TopUp />
                        <Route path=path!("/transactions") view=pages::Journal />
                        <Route path=path!("/station") view=pages::Station />
                        <Route path=path!("/stations") view=pages::Stations />
                        <Route path=path!("/admin") view=pages::Admin />
                        <Route path=path!("/account") view=pages::Account />
                        <Route path=path!("/payments") view=pages::Payments />
                        <Route path=path!("/keys") view=pages::Keys />
                        <Route path=path!("/alerts") view=pages::Alerts />
                        <Route path=path!("/payments/audit") view=pages::Audit />
                        <Route path=path!("/payments/account") view=pages::PaymentsAccount />
                    </ParentRoute>
                </Routes>
            </Router>
        </I18nContextProvider>
    }
}

/// The locales the UI speaks, by code.
pub fn locale_from_code(code: &str) -> Option<Locale> {
    match code {
        "fr" => Some(Locale::fr),
        "de" => Some(Locale::de),
        "en" => Some(Locale::en),
        "it" => Some(Locale::it),
        _ => None,
    }
}

/// The code of `locale` (`fr`, `de`, `it`, `en`), as `lang` attributes and cookies write it.
pub fn locale_code(locale: Locale) -> &'static str {
    use leptos_i18n::Locale as _;
    locale.as_str()
}

/// When the database is away for a moment, how many seconds a client is told to wait before it tries
/// again (`Retry-After`).
pub const RETRY_AFTER_SECS: &str = "5";

/// What a request is answered when the database is away for a moment, in `locale`.
pub fn unavailable_text(locale: Locale) -> String {
    td_string!(locale, login_error_unavailable).to_string()
}

/// The journal export's column names and file name (without `.csv`) in `locale`: the server writes the
/// file, the translations live here.
pub fn export_texts(locale: Locale) -> ([String; 9], String) {
    let columns = [
        td_string!(locale, journal_col_number).to_string(),
        td_string!(locale, journal_col_date).to_string(),
        td_string!(locale, journal_col_station).to_string(),
        td_string!(locale, journal_col_key).to_string(),
        td_string!(locale, csv_amount).to_string(),
        td_string!(locale, journal_col_status).to_string(),
        td_string!(locale, csv_balance).to_string(),
        td_string!(locale, csv_reloaded_at).to_string(),
        td_string!(locale, csv_entered_by).to_string(),
    ];
    (columns, td_string!(locale, csv_filename).to_string())
}

/// The name of the cookie that carries the chosen language (leptos_i18n's default).
pub const LOCALE_COOKIE: &str = "i18n_pref_locale";
