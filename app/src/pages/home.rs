//! The home page with the original's two main options, and those options' pages.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::i18n::*;

#[component]
pub fn Home() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <h1>{t!(i18n, home_title)}</h1>
        <div class="tiles">
            <A href="/recharge" attr:class="tile">
                <span class="tile-icon" aria-hidden="true">"⚡"</span>
                <strong>{t!(i18n, nav_topup)}</strong>
                <span class="muted">{t!(i18n, home_topup_desc)}</span>
            </A>
            <A href="/transactions" attr:class="tile">
                <span class="tile-icon" aria-hidden="true">"☰"</span>
                <strong>{t!(i18n, nav_journal)}</strong>
                <span class="muted">{t!(i18n, home_journal_desc)}</span>
            </A>
            <A href="/payments" attr:class="tile">
                <span class="tile-icon" aria-hidden="true">"₣"</span>
                <strong>{t!(i18n, nav_payments)}</strong>
                <span class="muted">{t!(i18n, home_payments_desc)}</span>
            </A>
            <A href="/stations" attr:class="tile">
                <span class="tile-icon" aria-hidden="true">"◉"</span>
                <strong>{t!(i18n, nav_stations)}</strong>
                <span class="muted">{t!(i18n, home_stations_desc)}</span>
            </A>
            <A href="/station" attr:class="tile">
                <span class="tile-icon" aria-hidden="true">"▤"</span>
                <strong>{t!(i18n, nav_station)}</strong>
                <span class="muted">{t!(i18n, home_station_desc)}</span>
            </A>
        </div>
    }
}
