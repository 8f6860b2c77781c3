//! One module per page.

mod account;
mod admin;
mod home;
mod journal;
mod login;
mod not_found;
mod station;
mod stations;
mod topup;

pub use account::Account;
pub use admin::Admin;
pub use home::Home;
pub use journal::Journal;
pub use login::Login;
pub use not_found::NotFound;
pub use station::Station;
pub use stations::Stations;
pub use topup::TopUp;

use domain::journal::TxStatus;

use crate::i18n::*;

/// A status in the person's language.
pub(crate) fn status_label(i18n: leptos_i18n::I18nContext<Locale>, status: TxStatus) -> String {
    match status {
        TxStatus::Queued => t_string!(i18n, status_queued),
        TxStatus::Sent => t_string!(i18n, status_sent),
        TxStatus::Confirmed => t_string!(i18n, status_confirmed),
        TxStatus::Reloaded => t_string!(i18n, status_reloaded),
        TxStatus::Failed => t_string!(i18n, status_failed),
        TxStatus::Cancelling => t_string!(i18n, status_cancelling),
        TxStatus::Cancelled => t_string!(i18n, status_cancelled),
    }
    .to_string()
}

/// A failure reason code in the person's language.
pub(crate) fn reason_label(i18n: leptos_i18n::I18nContext<Locale>, reason: &str) -> String {
    match reason {
        "no_answer" => t_string!(i18n, reason_no_answer),
        "sim_credit" => t_string!(i18n, reason_sim_credit),
        "modem_refused" => t_string!(i18n, reason_modem_refused),
        "station_limit" => t_string!(i18n, reason_station_limit),
        "station_amount" => t_string!(i18n, reason_station_amount),
        "station_full" => t_string!(i18n, reason_station_full),
        "station_expired" => t_string!(i18n, reason_station_expired),
        "cancelled" => t_string!(i18n, reason_cancelled),
        "invalid_phone" => t_string!(i18n, reason_invalid_phone),
        _ => t_string!(i18n, reason_other),
    }
    .to_string()
}
