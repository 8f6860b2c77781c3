//! *Recharger une clé*: choose the station, the key and the amount, send, and watch the top-up go
//! Sent → Confirmed → Reloaded live.

use domain::Amount;
use domain::journal::{TxStatus, TxView};
use leptos::prelude::*;

use crate::api::{CancelTopUp, Problem, TopUp as TopUpAction, TopUpResult, topup_form};
use crate::i18n::*;

#[component]
pub fn TopUp() -> impl IntoView {
    let i18n = use_i18n();
    let form = Resource::new(|| (), |_| topup_form());
    let action = ServerAction::<TopUpAction>::new();
    let result = action.value();
    // A new token for the next top-up once this one is recorded.
    Effect::new(move |_| {
        if let Some(Ok(TopUpResult::Created(_))) = result.get() {
            form.refetch();
        }
    });
    let problem = move |wanted: fn(&Problem) -> bool| {
        move || {
            result.get().and_then(|r| match r {
                Ok(TopUpResult::Invalid(problems)) => problems.into_iter().find(wanted),
                _ => None,
            })
        }
    };
    let message = move |p: Problem| match p {
        Problem::NoStation => t!(i18n, topup_error_station).into_any(),
        Problem::Key => t!(i18n, topup_error_key).into_any(),
        Problem::Amount => t!(i18n, topup_error_amount).into_any(),
        Problem::AboveMaximum(max) => {
            let max = Amount::from_rappen(max).map(|a| a.to_string()).unwrap_or_default();
            t!(i18n, topup_error_maximum, max = move || max.clone()).into_any()
        }
        Problem::AlreadySent => t!(i18n, topup_error_twice).into_any(),
    };
    let field_error = move |wanted: fn(&Problem) -> bool, id: &'static str| {
        let found = problem(wanted);
        move || found().map(|p| view! { <p class="field-error" id=id role="alert">{message(p)}</p> })
    };
    view! {
        <div class="narrow">
            <h1>{t!(i18n, topup_title)}</h1>
            <Transition fallback=|| ()>
                {move || form.get().map(|f| match f {
                    Ok(f) if f.stations.is_empty() => view! { <p class="empty">{t!(i18n, topup_empty)}</p> }.into_any(),
                    Ok(f) => view! {
                        <ActionForm action=action attr:class="stack card" attr:data-testid="topup-form">
                            <input type="hidden" name="token" value=f.token.clone() />
                            <label for="station">{t!(i18n, topup_station)}</label>
                            <select id="station" name="station" required aria-describedby="station-error">
                                {f.stations.iter().map(|s| view! {
                                    <option value=s.id.to_string()>{s.label.clone()}</option>
                                }).collect_view()}
                            </select>
                            {field_error(|p| matches!(p, Problem::NoStation), "station-error")}
                            <label for="key">{t!(i18n, topup_key)}</label>
                            <input id="key" name="key" inputmode="numeric" autocomplete="off" required
                                pattern="[0-9]{1,5}" maxlength="5" aria-describedby="key-error" />
                            {field_error(|p| matches!(p, Problem::Key), "key-error")}
                            <label for="amount">{t!(i18n, topup_amount)}</label>
                            <input id="amount" name="amount" inputmode="decimal" autocomplete="off" required
                                pattern="[0-9]{1,9}([.,][0-9]{1,2})?" aria-describedby="amount-error" />
                            {field_error(|p| matches!(p, Problem::Amount | Problem::AboveMaximum(_)), "amount-error")}
                            {field_error(|p| matches!(p, Problem::AlreadySent), "form-error")}
                            <button type="submit" class="primary" disabled=move || action.pending().get()>
                                {t!(i18n, topup_send)}
                            </button>
                        </ActionForm>
                    }.into_any(),
                    Err(_) => view! { <p class="notice error" role="alert">{t!(i18n, error_generic)}</p> }.into_any(),
                })}
            </Transition>
            {move || match result.get() {
                Some(Ok(TopUpResult::Created(tx))) => Some(view! { <Progress tx=*tx /> }.into_any()),
                Some(Err(_)) => Some(view! { <p class="notice error" role="alert">{t!(i18n, error_generic)}</p> }.into_any()),
                _ => None,
            }}
        </div>
    }
}

/// A top-up's steps, each with its time, updated live from the journal's event stream.
#[component]
pub fn Progress(tx: TxView) -> impl IntoView {
    let i18n = use_i18n();
    let id = tx.id;
    let since = tx.version;
    let tx = RwSignal::new(tx);
    crate::live::subscribe(Some(since), move |update: TxView| {
        if update.id == id && update.version > tx.get_untracked().version {
            tx.set(update);
        }
    });
    let step = move |label: String, at: Option<String>, testid: &'static str| {
        let done = at.is_some();
        view! {
            <li class:done=done data-testid=testid>
                <span class="step-name">{label}</span>
                <span class="muted">{at.unwrap_or_default()}</span>
            </li>
        }
    };
    view! {
        <section class="card progress" data-testid="progress" aria-live="polite">
            <h2>{t!(i18n, topup_number, id = move || id)}</h2>
            <p>
                {move || tx.with(|t| format!("{} · {:05} · {}", t.station, t.key,
                    Amount::from_rappen(t.amount_rappen).map(|a| a.to_string()).unwrap_or_default()))}
            </p>
            <ol class="steps">
                {move || {
                    let t = tx.get();
                    view! {
                        {step(t_string!(i18n, status_queued).to_string(), t.shown_times[0].clone(), "step-queued")}
                        {step(t_string!(i18n, status_sent).to_string(), t.shown_times[1].clone(), "step-sent")}
                        {step(t_string!(i18n, status_confirmed).to_string(), t.shown_times[2].clone(), "step-confirmed")}
                        {step(t_string!(i18n, status_reloaded).to_string(), t.shown_times[3].clone(), "step-reloaded")}
                    }
                }}
            </ol>
            {move || tx.with(|t| t.status.cancellable()).then(|| {
                let cancel = ServerAction::<CancelTopUp>::new();
                view! {
                    <ActionForm action=cancel>
                        <input type="hidden" name="id" value=id.to_string() />
                        <button type="submit" class="secondary" data-testid="cancel">{t!(i18n, topup_cancel)}</button>
                    </ActionForm>
                }
            })}
            {move || {
                let t = tx.get();
                match t.status {
                    TxStatus::Reloaded => t.balance_rappen.and_then(|b| Amount::from_rappen(b).ok()).map(|b| {
                        let balance = b.to_string();
                        view! { <p class="notice info" data-testid="balance">{t!(i18n, topup_balance, balance = move || balance.clone())}</p> }.into_any()
                    }),
                    TxStatus::Failed | TxStatus::Cancelled | TxStatus::Cancelling => Some(view! {
                        <p class="notice error" role="alert" data-testid="failure">
                            {crate::pages::status_label(i18n, t.status)}
                            {t.reason.map(|r| format!(" — {}", crate::pages::reason_label(i18n, &r)))}
                        </p>
                    }.into_any()),
                    _ => t.reason.map(|r| view! {
                        <p class="notice" data-testid="reason">{crate::pages::reason_label(i18n, &r)}</p>
                    }.into_any()),
                }
            }}
        </section>
    }
}
