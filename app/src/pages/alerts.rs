//! *Alertes*: what needs attention before a tenant notices — the open alerts (newest first, each with
//! what to do, since when, who saw it, and a link to the page concerned), those cleared in the last
//! seven days, one's own choice of mails, and for an administrator the gérance's thresholds.
//! Server-rendered; its forms post to `server::http::alerts`, which redirects back with a notice.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{AlertView, AlertsData, ThresholdsView, alerts_page};
use crate::i18n::*;
use crate::pages::page_locale;
use crate::words::fill;

#[component]
pub fn Alerts() -> impl IntoView {
    let locale = page_locale();
    let query = use_query_map();
    let notice = query.with_untracked(|q| notice_view(locale, q.get("done"), q.get("error")));
    let page = AsyncDerived::new(move || alerts_page(locale.as_str().to_owned()));
    view! {
        {super::page_title(td_string!(locale, nav_alerts))}<h1>{td_string!(locale, nav_alerts)}</h1>
        <p class="muted">{td_string!(locale, alerts_hint)}</p>
        {notice}
        <Suspense fallback=|| ()>
            {move || page.get().map(|p| match p {
                Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                Ok(page) => view! { <AlertsBody locale page /> }.into_any(),
            })}
        </Suspense>
    }
}

fn notice_view(locale: Locale, done: Option<String>, error: Option<String>) -> Option<impl IntoView + use<>> {
    let (text, error) = match (done.as_deref(), error.as_deref()) {
        (Some("ack"), _) => (td_string!(locale, alerts_done_ack), false),
        (Some("mails"), _) => (td_string!(locale, alerts_done_mails), false),
        (Some("thresholds"), _) => (td_string!(locale, alerts_done_thresholds), false),
        (_, Some("gone")) => (td_string!(locale, alerts_error_gone), true),
        (_, Some("credit")) => (td_string!(locale, alerts_error_credit), true),
        (_, Some("duration")) => (td_string!(locale, alerts_error_duration), true),
        (_, Some("signal")) => (td_string!(locale, alerts_error_signal), true),
        (_, Some("forbidden")) => (td_string!(locale, alerts_error_forbidden), true),
        (_, Some(_)) => (td_string!(locale, error_generic), true),
        _ => return None,
    };
    let class = if error { "notice error" } else { "notice info" };
    Some(view! { <p class=class role="alert" data-testid="alerts-notice">{text}</p> })
}

#[component]
fn AlertsBody(locale: Locale, page: AlertsData) -> impl IntoView {
    let unseen = page.open.iter().filter(|a| a.acknowledged.is_none()).count();
    let open = if page.open.is_empty() {
        view! { <p class="muted" data-testid="alerts-none">{td_string!(locale, alerts_none)}</p> }.into_any()
    } else {
        let items = page.open.into_iter().map(|a| view! { <AlertItem locale a /> }).collect_view();
        view! { <ul class="payments" data-testid="alerts-open">{items}</ul> }.into_any()
    };
    let ack_all = (unseen > 1).then(|| {
        view! {
            <form method="post" action="/alerts/ack">
                <input type="hidden" name="all" value="1" />
                <button type="submit" class="button plain">{td_string!(locale, alerts_ack_all)}</button>
            </form>
        }
    });
    let cleared = (!page.cleared.is_empty()).then(|| {
        let items = page.cleared.into_iter().map(|a| view! { <AlertItem locale a /> }).collect_view();
        view! {
            <h2>{td_string!(locale, alerts_cleared)}</h2>
            <ul class="payments" data-testid="alerts-cleared">{items}</ul>
        }
    });
    let mail_note = (!page.mail_configured)
        .then(|| view! { <p class="muted">{td_string!(locale, alerts_no_mail_server)}</p> });
    let thresholds = match page.thresholds {
        Some(t) => view! { <ThresholdsForm locale t /> }.into_any(),
        None => view! {
            <section class="card">
                <h2>{td_string!(locale, alerts_thresholds_title)}</h2>
                <p class="muted">{td_string!(locale, alerts_thresholds_operator)}</p>
            </section>
        }
        .into_any(),
    };
    view! {
        {ack_all}
        {open}
        {cleared}
        <section class="card">
            <h2>{td_string!(locale, alerts_mails_title)}</h2>
            {mail_note}
            <form method="post" action="/alerts/mails" class="stack" data-testid="alerts-mails">
                <label class="check">
                    <input type="checkbox" name="mails" checked=page.mails />
                    {td_string!(locale, alerts_mails_on)}
                </label>
                <label class="check">
                    <input type="checkbox" name="digest" checked=page.digest />
                    {td_string!(locale, alerts_digest_on)}
                </label>
                <button type="submit" class="primary">{td_string!(locale, alerts_save)}</button>
            </form>
        </section>
        {thresholds}
    }
}

#[component]
fn AlertItem(locale: Locale, a: AlertView) -> impl IntoView {
    let when = match &a.cleared {
        Some(at) => format!(
            "{} {} · {} {at}",
            td_string!(locale, alerts_since),
            a.opened,
            td_string!(locale, alerts_cleared_at)
        ),
        None => format!("{} {}", td_string!(locale, alerts_since), a.opened),
    };
    let whose = a.gerance.clone().map(|g| view! { <p class="muted">{g}</p> });
    let seen = match (&a.acknowledged, &a.cleared) {
        (Some((who, at)), _) => Some(
            view! { <p class="muted" data-testid="alert-seen">{fill(td_string!(locale, alerts_seen_by), &[("who", who as &dyn std::fmt::Display), ("when", at)])}</p> }
                .into_any(),
        ),
        (None, None) => Some(
            view! {
                <form method="post" action="/alerts/ack">
                    <input type="hidden" name="id" value=a.id.to_string() />
                    <button type="submit" class="button plain" data-testid="alert-ack">{td_string!(locale, alerts_ack)}</button>
                </form>
            }
            .into_any(),
        ),
        (None, Some(_)) => None,
    };
    let problem = a.mail_problem.clone().map(|p| {
        view! { <p class="notice error">{fill(td_string!(locale, alerts_mail_problem), &[("problem", &p)])}</p> }
    });
    view! {
        <li class="card payment" data-testid="alert" data-kind=a.kind.clone()>
            <p class="payment-head"><strong>{a.title.clone()}</strong></p>
            {whose}
            <p>{a.detail.clone()}</p>
            <p class="muted">{when}</p>
            {problem}
            <p><a class="status-note" href=a.link.clone()>{td_string!(locale, alerts_see)}</a></p>
            {seen}
        </li>
    }
}

#[component]
fn ThresholdsForm(locale: Locale, t: ThresholdsView) -> impl IntoView {
    let hint =
        (!t.own).then(|| view! { <p class="muted">{td_string!(locale, alerts_thresholds_default)}</p> });
    view! {
        <section class="card">
            <h2>{td_string!(locale, alerts_thresholds_title)}</h2>
            {hint}
            <form method="post" action="/alerts/thresholds" class="stack" data-testid="alerts-thresholds">
                <label for="th-credit">{td_string!(locale, alerts_th_credit)}</label>
                <input id="th-credit" name="station_credit" value=t.station_credit inputmode="decimal" required maxlength="10" />
                <label for="th-silent">{td_string!(locale, alerts_th_silent)}</label>
                <input id="th-silent" name="silent_hours" value=t.silent_hours inputmode="decimal" required maxlength="8" />
                <label for="th-weak">{td_string!(locale, alerts_th_weak)}</label>
                <input id="th-weak" name="weak_signal_dbm" value=t.weak_signal_dbm inputmode="numeric" required maxlength="5" />
                <label for="th-cancel">{td_string!(locale, alerts_th_cancel)}</label>
                <input id="th-cancel" name="cancel_hours" value=t.cancel_hours inputmode="decimal" required maxlength="8" />
                <label for="th-payments">{td_string!(locale, alerts_th_payments)}</label>
                <input id="th-payments" name="payments_hours" value=t.payments_hours inputmode="decimal" required maxlength="8" />
                <button type="submit" class="primary">{td_string!(locale, alerts_save)}</button>
            </form>
        </section>
    }
}
