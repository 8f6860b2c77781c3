//! *Recharger une clé*: choose the station, the key and the amount, send, and watch the top-up go
//! Sent → Confirmed → Reloaded live.

use domain::Amount;
use domain::journal::{TxStatus, TxView};
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;

use crate::api::{
    CancelTopUp, Problem, TopUp as TopUpAction, TopUpAnswer, TopUpForm, TopUpResult, topup_form, transaction,
};
use crate::i18n::*;
use crate::pages::page_locale;

#[component]
pub fn TopUp() -> impl IntoView {
    let locale = page_locale();
    // The answer to a form posted without script, if this page is one (see `api::top_up`).
    let query = leptos_router::hooks::use_query_map().get_untracked();
    let sent = query.get("sent").and_then(|id| id.parse::<domain::TxId>().ok());
    let answer = TopUpAnswer {
        sent: None,
        problems: query
            .get("problem")
            .map(|codes| codes.split(',').filter_map(Problem::from_query).collect())
            .unwrap_or_default(),
        failed: query.get("failed").is_some(),
        station: query.get("station").and_then(|id| id.parse().ok()),
        key: query.get("key").unwrap_or_default().chars().take(16).collect(),
        amount: query.get("amount").unwrap_or_default().chars().take(16).collect(),
    };
    let form = AsyncDerived::new(move || {
        let mut answer = answer.clone();
        async move {
            let form = topup_form().await?;
            if let Some(id) = sent {
                answer.sent = transaction(id).await?;
            }
            Ok::<_, ServerFnError>((form, answer))
        }
    });
    view! {
        <div class="narrow">
            <h1>{td_string!(locale, topup_title)}</h1>
            <Suspense fallback=|| ()>
                {move || form.get().map(|f| match f {
                    Ok((f, _)) if f.stations.is_empty() => view! { <p class="empty">{td_string!(locale, topup_empty)}</p> }.into_any(),
                    Ok((form, answer)) => view! { <TopUpPanel locale form answer /> }.into_any(),
                    Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                })}
            </Suspense>
        </div>
    }
}

/// The form and, once sent, the top-up's progress; first what `answer` says (a form posted without
/// script comes back here with its result).
#[island(lazy)]
fn TopUpPanel(locale: Locale, form: TopUpForm, answer: TopUpAnswer) -> impl IntoView {
    let TopUpAnswer { sent, problems: first_problems, failed, station: typed_station, key, amount } = answer;
    let first_problems = StoredValue::new(first_problems);
    let action = ServerAction::<TopUpAction>::new();
    let result = action.value();
    // A new token for the next top-up once this one is recorded.
    let token = RwSignal::new(form.token);
    Effect::new(move |_| {
        if let Some(Ok(TopUpResult::Created(_))) = result.get() {
            leptos::task::spawn_local(async move {
                if let Ok(f) = topup_form().await {
                    token.set(f.token);
                }
            });
        }
    });
    let problem = move |wanted: fn(&Problem) -> bool| {
        move || match result.get() {
            Some(Ok(TopUpResult::Invalid(problems))) => problems.into_iter().find(wanted),
            Some(_) => None,
            None => first_problems.with_value(|all| all.iter().copied().find(wanted)),
        }
    };
    let message = move |p: Problem| {
        use leptos::either::Either::{Left, Right};
        match p {
            Problem::NoStation => Left(td_string!(locale, topup_error_station)),
            Problem::Key => Left(td_string!(locale, topup_error_key)),
            Problem::Amount => Left(td_string!(locale, topup_error_amount)),
            Problem::AboveMaximum(max) => {
                let max = max.to_string();
                Right(td!(locale, topup_error_maximum, max = move || max.clone()))
            }
            Problem::AlreadySent => Left(td_string!(locale, topup_error_twice)),
        }
    };
    let field_error = move |wanted: fn(&Problem) -> bool, id: &'static str| {
        let found = problem(wanted);
        move || found().map(|p| view! { <p class="field-error" id=id role="alert">{message(p)}</p> })
    };
    view! {
        <form action=crate::form::url(action) method="post" class="stack card" data-testid="topup-form" on:submit=crate::form::submit(action)>
            <input type="hidden" name="token" value=token />
            <label for="station">{td_string!(locale, topup_station)}</label>
            <select id="station" name="station" required aria-describedby="station-error">
                {form.stations.into_iter().map(|s| view! {
                    <option value=s.id.to_string() selected=typed_station == Some(s.id)>{s.label}</option>
                }).collect_view()}
            </select>
            {field_error(|p| matches!(p, Problem::NoStation), "station-error")}
            <label for="key">{td_string!(locale, topup_key)}</label>
            <input id="key" name="key" value=key inputmode="numeric" autocomplete="off" required
                pattern="[0-9]{1,5}" maxlength="5" aria-describedby="key-error" />
            {field_error(|p| matches!(p, Problem::Key), "key-error")}
            <label for="amount">{td_string!(locale, topup_amount)}</label>
            <input id="amount" name="amount" value=amount inputmode="decimal" autocomplete="off" required
                pattern="[0-9]{1,9}([.,][0-9]{1,2})?" aria-describedby="amount-error" />
            {field_error(|p| matches!(p, Problem::Amount | Problem::AboveMaximum(_)), "amount-error")}
            {field_error(|p| matches!(p, Problem::AlreadySent), "form-error")}
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {td_string!(locale, topup_send)}
            </button>
        </form>
        {move || match result.get() {
            Some(Ok(TopUpResult::Created(tx))) => Some(Either::Left(view! { <Progress locale tx=*tx /> })),
            Some(Err(_)) => Some(Either::Right(view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> })),
            Some(Ok(TopUpResult::Invalid(_))) => None,
            None => match sent.clone() {
                Some(tx) => Some(Either::Left(view! { <Progress locale tx /> })),
                None => failed.then(|| Either::Right(view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> })),
            },
        }}
    }
}

/// A top-up's steps, each with its time, updated live from the journal's event stream.
#[component]
fn Progress(locale: Locale, tx: TxView) -> impl IntoView {
    let id = tx.id;
    let since = tx.version;
    let tx = RwSignal::new(tx);
    crate::live::subscribe(Some(since), move |event| {
        if let crate::live::LiveEvent::Tx(update) = event
            && update.id == id
            && update.version > tx.get_untracked().version
        {
            tx.set(*update);
        }
    });
    let step = move |label: String, at: Option<String>, testid: &'static str, note: Option<String>| {
        let done = at.is_some();
        view! {
            <li class:done=done data-testid=testid>
                <span class="step-name">{label}</span>
                <span class="muted">{at.unwrap_or_default()}</span>
                {note.map(|n| view! { <span class="step-note" data-testid="step-delivered">{n}</span> })}
            </li>
        }
    };
    view! {
        <section class="card progress" data-testid="progress" aria-live="polite">
            <h2>{td!(locale, topup_number, id = move || id.get())}</h2>
            <p>
                {move || tx.with(|t| format!("{} · {} · {}", t.station, t.key, t.amount))}
            </p>
            <ol class="steps">
                {move || {
                    let t = tx.get();
                    view! {
                        {step(td_string!(locale, status_queued).to_string(), t.shown_times[0].clone(), "step-queued", None)}
                        {step(td_string!(locale, status_sent).to_string(), t.shown_times[1].clone(), "step-sent",
                            t.shown_delivered.clone().map(|at| format!("{} ({at})", td_string!(locale, status_delivered))))}
                        {step(td_string!(locale, status_confirmed).to_string(), t.shown_times[2].clone(), "step-confirmed", None)}
                        {step(td_string!(locale, status_reloaded).to_string(), t.shown_times[3].clone(), "step-reloaded", None)}
                    }
                }}
            </ol>
            {move || tx.with(|t| t.status.cancellable()).then(|| {
                let cancel = ServerAction::<CancelTopUp>::new();
                view! {
                    <form action=crate::form::url(cancel) method="post" on:submit=crate::form::submit(cancel)>
                        <input type="hidden" name="id" value=id.to_string() />
                        <button type="submit" class="secondary" data-testid="cancel">{td_string!(locale, topup_cancel)}</button>
                    </form>
                }
            })}
            {move || {
                let t = tx.get();
                match t.status {
                    TxStatus::Reloaded => t.balance_rappen.and_then(|b| Amount::from_rappen(b).ok()).map(|b| {
                        let balance = b.to_string();
                        EitherOf3::A(view! { <p class="notice info" data-testid="balance">{td!(locale, topup_balance, balance = move || balance.clone())}</p> })
                    }),
                    TxStatus::Failed | TxStatus::Cancelled | TxStatus::Cancelling => Some(EitherOf3::B(view! {
                        <p class="notice error" role="alert" data-testid="failure">
                            {crate::pages::status_label(locale, t.status)}
                            {t.reason.map(|r| format!(" — {}", crate::pages::reason_label(locale, r)))}
                        </p>
                    })),
                    _ => t.reason.map(|r| EitherOf3::C(view! {
                        <p class="notice" data-testid="reason">{crate::pages::reason_label(locale, r)}</p>
                    })),
                }
            }}
        </section>
    }
}
