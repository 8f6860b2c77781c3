//! One module per page.

mod account;
mod admin;
mod alerts;
mod audit;
mod home;
mod journal;
mod keys;
mod login;
mod not_found;
mod payments;
mod station;
mod stations;
mod topup;

pub use account::Account;
pub use admin::Admin;
pub use alerts::Alerts;
pub use audit::Audit;
pub use home::Home;
pub use journal::Journal;
pub use keys::Keys;
pub use login::Login;
pub use not_found::NotFound;
pub use payments::{Payments, PaymentsAccount};
pub use station::Station;
pub use stations::Stations;
pub use topup::TopUp;

use domain::journal::{Reason, TxStatus};

use crate::i18n::*;

/// The browser tab's title (and the history's, and the installed app's window): the page, then the app.
/// Server-rendered components only.
pub(crate) fn page_title(name: &str) -> impl leptos::prelude::IntoView + use<> {
    use leptos::prelude::*;
    let text = format!("{name} — Recharge");
    view! { <leptos_meta::Title text=text /> }
}

/// The page's language, for server-rendered components (islands get it as a property).
pub(crate) fn page_locale() -> Locale {
    use_i18n().get_locale_untracked()
}

/// Whether the page goes to a phone, as the browser says (`Sec-CH-UA-Mobile: ?1`, or `Mobi` in its user
/// agent, as MDN advises): what a phone shows folded is open elsewhere. Server-rendered components only.
pub(crate) fn for_phone() -> bool {
    #[cfg(feature = "ssr")]
    {
        use leptos::prelude::use_context;
        use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
            header("sec-ch-ua-mobile") == Some("?1")
                || header("user-agent").is_some_and(|ua| ua.contains("Mobi"))
        })
    }
    #[cfg(not(feature = "ssr"))]
    false
}

/// A status in the person's language.
pub fn status_label(locale: Locale, status: TxStatus) -> String {
    match status {
        TxStatus::Queued => td_string!(locale, status_queued),
        TxStatus::Sent => td_string!(locale, status_sent),
        TxStatus::Confirmed => td_string!(locale, status_confirmed),
        TxStatus::Reloaded => td_string!(locale, status_reloaded),
        TxStatus::Failed => td_string!(locale, status_failed),
        TxStatus::Cancelling => td_string!(locale, status_cancelling),
        TxStatus::Cancelled => td_string!(locale, status_cancelled),
    }
    .to_string()
}

/// A failure reason code in the person's language.
pub(crate) fn reason_label(locale: Locale, reason: Reason) -> String {
    match reason {
        Reason::NoAnswer => td_string!(locale, reason_no_answer),
        Reason::SimCredit => td_string!(locale, reason_sim_credit),
        Reason::ModemRefused => td_string!(locale, reason_modem_refused),
        Reason::StationLimit => td_string!(locale, reason_station_limit),
        Reason::StationAmount => td_string!(locale, reason_station_amount),
        Reason::StationFull => td_string!(locale, reason_station_full),
        Reason::StationExpired => td_string!(locale, reason_station_expired),
        Reason::Cancelled => td_string!(locale, reason_cancelled),
        Reason::InvalidPhone => td_string!(locale, reason_invalid_phone),
    }
    .to_string()
}

/// The notice of a form that needs script and was posted without it (`api::ssr::refuse_without_script`).
pub(crate) fn script_notice(locale: Locale) -> Option<impl leptos::prelude::IntoView + use<>> {
    use leptos::prelude::*;
    let query = leptos_router::hooks::use_query_map().get_untracked();
    let notice = domain::notice::PageNotice::from_query(|name| query.get_str(name));
    (notice == Some(domain::notice::PageNotice::NeedsScript)).then(|| {
        view! { <p class="notice error" role="alert" data-testid="needs-script">{td_string!(locale, needs_script)}</p> }
    })
}
