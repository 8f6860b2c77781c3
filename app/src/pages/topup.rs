//! *Recharger une clé*: choose the station, the key and the amount, check them, send, and watch the
//! top-up go Sent → Confirmed → Reloaded live, on a receipt above a fresh form.

use domain::journal::{TxStatus, TxView};
use domain::{Amount, KeyNumber, StationId};
use leptos::either::EitherOf3;
use leptos::prelude::*;

use crate::api::{
    CancelTopUp, Problem, StationChoice, TopUp as TopUpAction, TopUpAnswer, TopUpForm, TopUpResult,
    check_top_up, topup_form, transaction,
};
use crate::i18n::*;
use crate::pages::page_locale;

#[component]
pub fn TopUp() -> impl IntoView {
    let locale = page_locale();
    // The answer to a form posted without script, if this page is one (see `api::top_up`).
    let query = leptos_router::hooks::use_query_map().get_untracked();
    let sent = query.get("sent").and_then(|id| id.parse::<domain::TxId>().ok());
    let repeat = query.get("repeat").and_then(|id| id.parse::<domain::TxId>().ok());
    let answer = TopUpAnswer {
        sent: None,
        repeat_of: None,
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
            if let Some(id) = repeat {
                answer.repeat_of = transaction(id).await?;
            }
            Ok::<_, ServerFnError>((form, answer))
        }
    });
    view! {
        <div class="narrow">
            {super::page_title(td_string!(locale, topup_title))}<h1>{td_string!(locale, topup_title)}</h1>
            <Suspense fallback=|| ()>
                {move || form.get().map(|f| match f {
                    Ok((f, _)) if f.stations.is_empty() => view! { <p class="empty">{td_string!(locale, topup_empty)}</p> }.into_any(),
                    Ok((form, mut answer)) => {
                        // A form posted without script: its receipt first, as the server sees it now (a
                        // page without script is not updated live; reloading it shows the progress).
                        let sent = answer.sent.take();
                        view! {
                            {sent.map(|tx| view! { <Progress locale tx /> })}
                            <TopUpPanel locale form answer />
                        }.into_any()
                    }
                    Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                })}
            </Suspense>
        </div>
    }
}

/// A top-up checked in the browser, shown to the person before it is sent.
#[derive(Clone, PartialEq)]
struct Checked {
    station: StationId,
    label: String,
    key: KeyNumber,
    amount: Amount,
}

/// The form, the check before sending and, once sent, the receipt with the top-up's progress above a
/// fresh form; first what `answer` says (a form posted without script comes back here with its result).
#[island(lazy)]
fn TopUpPanel(locale: Locale, form: TopUpForm, answer: TopUpAnswer) -> impl IntoView {
    let TopUpAnswer {
        sent: _,
        repeat_of: first_repeat,
        problems: first_problems,
        failed,
        station: typed,
        key,
        amount,
    } = answer;
    let stations = StoredValue::new(form.stations);
    let first_station = typed.or_else(|| stations.with_value(|all| all.first().map(|s| s.id)));
    let station = RwSignal::new(first_station);
    let choice = move || {
        station.get().and_then(|id| stations.with_value(|all| all.iter().find(|s| s.id == id).cloned()))
    };
    let action = ServerAction::<TopUpAction>::new();
    let result = action.value();
    let token = RwSignal::new(form.token);
    let problems = RwSignal::new(first_problems);
    let checking = RwSignal::new(None::<Checked>);
    let repeat_of = RwSignal::new(first_repeat);
    let receipt = RwSignal::new(None::<TxView>);
    let offline = RwSignal::new(false);
    let key_input = NodeRef::<leptos::html::Input>::new();
    let amount_input = NodeRef::<leptos::html::Input>::new();
    let confirm_button = NodeRef::<leptos::html::Button>::new();
    let form_element = NodeRef::<leptos::html::Form>::new();
    // With script the page checks the fields itself, in the person's language and with each rule; the
    // browser's own checks remain for a page whose script did not run.
    Effect::new(move |_| {
        if let Some(form) = form_element.get() {
            form.set_no_validate(true);
        }
    });
    // An error may mean the session ended meanwhile: then to the login, and back here.
    Effect::new(move |_| {
        if result.with(|answer| matches!(answer, Some(Err(_)))) {
            crate::session::check();
        }
    });
    let focus_first_problem = move |found: &[Problem]| {
        let input = match found.first() {
            Some(Problem::Key | Problem::KeyBlocked | Problem::KeyRetired) => key_input.get_untracked(),
            Some(Problem::Amount | Problem::AboveMaximum(_)) => amount_input.get_untracked(),
            _ => None,
        };
        if let Some(input) = input {
            let _ = input.focus();
        }
    };
    // What the server answered.
    Effect::new(move |_| match result.get() {
        Some(Ok(TopUpResult::Created(tx))) => {
            receipt.set(Some(*tx));
            checking.set(None);
            repeat_of.set(None);
            problems.set(Vec::new());
            // A fresh form at the same station: the next top-up is a new one, with a new token.
            for input in [key_input.get_untracked(), amount_input.get_untracked()].into_iter().flatten() {
                input.set_value("");
            }
            if let Some(input) = key_input.get_untracked() {
                let _ = input.focus();
            }
            leptos::task::spawn_local(async move {
                if let Ok(f) = topup_form().await {
                    token.set(f.token);
                }
            });
        }
        Some(Ok(TopUpResult::Repeat(first))) => repeat_of.set(Some(*first)),
        Some(Ok(TopUpResult::Invalid(found))) => {
            checking.set(None);
            focus_first_problem(&found);
            problems.set(found);
        }
        _ => {}
    });
    // The check appears with its button ready: Enter sends. The receipt's code loads meanwhile.
    Effect::new(move |_| {
        if checking.with(Option::is_some) {
            let _ = lazy_preload!(receipt_card);
            if let Some(button) = confirm_button.get() {
                let _ = button.focus();
            }
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if action.pending().get_untracked() {
            return;
        }
        let value = |input: NodeRef<leptos::html::Input>| {
            input.get_untracked().map(|i| i.value()).unwrap_or_default()
        };
        let picked = station.get_untracked().map(|id| id.to_string()).unwrap_or_default();
        let max = choice().map(|s| s.max);
        match check_top_up(&picked, &value(key_input), &value(amount_input), max) {
            Ok((id, key, amount)) => {
                problems.set(Vec::new());
                // Asked already about this very top-up (a form posted without script came back with
                // the question): the answer is the next tap.
                let same = |t: &TxView| t.station_id == id && t.key == key && t.amount == amount;
                if !repeat_of.with_untracked(|r| r.as_ref().is_some_and(same)) {
                    repeat_of.set(None);
                }
                let label = choice().map(|s| s.label).unwrap_or_default();
                checking.set(Some(Checked { station: id, label, key, amount }));
            }
            Err(found) => {
                checking.set(None);
                focus_first_problem(&found);
                problems.set(found);
            }
        }
    };
    let send = move |repeat: bool| {
        if action.pending().get_untracked() {
            return;
        }
        let Some(c) = checking.get_untracked() else { return };
        // Known to be offline: nothing would leave, and the person should know that nothing did.
        if !crate::live::browser_online() {
            offline.set(true);
            return;
        }
        offline.set(false);
        action.dispatch(TopUpAction {
            station: c.station.to_string(),
            key: c.key.0.to_string(),
            amount: format!("{}.{:02}", c.amount.rappen() / 100, c.amount.rappen() % 100),
            token: token.get_untracked(),
            repeat: repeat.then(|| "1".to_owned()),
        });
    };
    let problem =
        move |wanted: fn(&Problem) -> bool| move || problems.with(|all| all.iter().copied().find(wanted));
    let message = move |p: Problem| match p {
        Problem::NoStation => td_string!(locale, topup_error_station).to_owned(),
        Problem::Key => td_string!(locale, topup_error_key).to_owned(),
        Problem::Amount => td_string!(locale, topup_error_amount).to_owned(),
        Problem::AboveMaximum(max) => {
            crate::words::fill(td_string!(locale, topup_error_maximum), &[("max", &max)])
        }
        Problem::AlreadySent => td_string!(locale, topup_error_twice).to_owned(),
        Problem::KeyBlocked => td_string!(locale, topup_error_key_blocked).to_owned(),
        Problem::KeyRetired => td_string!(locale, topup_error_key_retired).to_owned(),
    };
    let field_error = move |wanted: fn(&Problem) -> bool, id: &'static str| {
        let found = problem(wanted);
        move || found().map(|p| view! { <p class="field-error" id=id role="alert">{message(p)}</p> })
    };
    let invalid = move |wanted: fn(&Problem) -> bool| {
        let found = problem(wanted);
        move || found().is_some().then_some("true")
    };
    let max_hint = move || {
        choice().map(|s| {
            view! { <p class="field-hint" id="amount-hint">{crate::words::fill(td_string!(locale, topup_max_hint), &[("max", &s.max)])}</p> }
        })
    };
    let recent_keys = move || {
        choice()
            .map(|s| s.recent_keys)
            .unwrap_or_default()
            .into_iter()
            .map(|k| view! { <option value=k.0.to_string()>{k.to_string()}</option> })
            .collect_view()
    };
    let usual = move || choice().map(|s| s.usual_amounts).unwrap_or_default();
    let typed_key = key;
    let typed_amount = amount;
    view! {
        {move || receipt.get().map(|tx| Suspend::new(receipt_card(locale, tx)))}
        <form action=crate::form::url(action) method="post" class="stack card" data-testid="topup-form" on:submit=on_submit node_ref=form_element>
            <input type="hidden" name="token" value=token />
            {move || repeat_of.with(Option::is_some).then(|| view! { <input type="hidden" name="repeat" value="1" /> })}
            <label for="station">{td_string!(locale, topup_station)}</label>
            <select id="station" name="station" required aria-describedby="station-error"
                on:change=move |ev| station.set(event_target_value(&ev).parse().ok())>
                {stations.get_value().into_iter().map(|s: StationChoice| view! {
                    <option value=s.id.to_string() selected=first_station == Some(s.id)>{s.label}</option>
                }).collect_view()}
            </select>
            {field_error(|p| matches!(p, Problem::NoStation), "station-error")}
            <label for="key">{td_string!(locale, topup_key)}</label>
            <input id="key" name="key" value=typed_key inputmode="numeric" autocomplete="off" required
                pattern="[0-9]{1,5}" maxlength="5" list="recent-keys" aria-describedby="key-error"
                aria-invalid=invalid(|p| matches!(p, Problem::Key | Problem::KeyBlocked | Problem::KeyRetired)) node_ref=key_input />
            <datalist id="recent-keys">{recent_keys}</datalist>
            {field_error(|p| matches!(p, Problem::Key | Problem::KeyBlocked | Problem::KeyRetired), "key-error")}
            <label for="amount">{td_string!(locale, topup_amount)}</label>
            <input id="amount" name="amount" value=typed_amount inputmode="decimal" autocomplete="off" required
                pattern="[0-9]{1,3}(['’]?[0-9]{3})*([.,][0-9]{1,2})?" aria-describedby="amount-hint amount-error"
                aria-invalid=invalid(|p| matches!(p, Problem::Amount | Problem::AboveMaximum(_))) node_ref=amount_input />
            {max_hint}
            {move || {
                let amounts = usual();
                (!amounts.is_empty()).then(|| view! {
                    <div class="chips" role="group" aria-label=td_string!(locale, topup_usual_amounts)>
                        {amounts.into_iter().map(|a| {
                            let typed = format!("{}.{:02}", a.rappen() / 100, a.rappen() % 100);
                            view! {
                                <button type="button" class="chip" data-testid="usual-amount" on:click=move |_| {
                                    if let Some(input) = amount_input.get_untracked() {
                                        input.set_value(&typed);
                                    }
                                }>{a.to_string()}</button>
                            }
                        }).collect_view()}
                    </div>
                })
            }}
            {field_error(|p| matches!(p, Problem::Amount | Problem::AboveMaximum(_)), "amount-error")}
            {field_error(|p| matches!(p, Problem::AlreadySent), "form-error")}
            {move || checking.with(Option::is_none).then(|| repeat_of.get().map(|first| view! { <Repeat locale first /> })).flatten()}
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {move || if repeat_of.with(Option::is_some) && checking.with(Option::is_none) { td_string!(locale, topup_send_anyway) } else { td_string!(locale, topup_send) }}
            </button>
        </form>
        {move || checking.get().map(|c| view! {
            <section class="card check" data-testid="check" aria-labelledby="check-title">
                <h2 id="check-title">{td_string!(locale, topup_check_title)}</h2>
                <dl class="check-facts">
                    <dt>{td_string!(locale, topup_station)}</dt><dd>{c.label.clone()}</dd>
                    <dt>{td_string!(locale, topup_key_short)}</dt><dd data-testid="check-key">{c.key.to_string()}</dd>
                    <dt>{td_string!(locale, topup_amount)}</dt><dd class="amount" data-testid="check-amount">{c.amount.to_string()}</dd>
                </dl>
                {move || repeat_of.get().map(|first| view! { <Repeat locale first /> })}
                <div class="actions">
                    <button type="button" class="primary" node_ref=confirm_button data-testid="confirm"
                        disabled=move || action.pending().get()
                        on:click=move |_| send(repeat_of.with_untracked(Option::is_some))>
                        {move || if repeat_of.with(Option::is_some) { td_string!(locale, topup_send_anyway) } else { td_string!(locale, topup_confirm) }}
                    </button>
                    <button type="button" class="plain" data-testid="change" on:click=move |_| {
                        checking.set(None);
                        repeat_of.set(None);
                        if let Some(input) = amount_input.get_untracked() {
                            let _ = input.focus();
                        }
                    }>{td_string!(locale, topup_change)}</button>
                </div>
            </section>
        })}
        {move || offline.get().then(|| view! {
            <p class="notice error" role="alert" data-testid="offline">{td_string!(locale, topup_offline)}</p>
        })}
        {move || match result.get() {
            Some(Err(ServerFnError::Request(_))) => Some(EitherOf3::A(view! {
                <p class="notice error" role="alert" data-testid="no-answer">{td_string!(locale, topup_no_answer)}</p>
            })),
            Some(Err(_)) => Some(EitherOf3::B(view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> })),
            Some(Ok(_)) => None,
            None => failed.then(|| EitherOf3::C(view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> })),
        }}
    }
}

/// The receipt of a top-up sent from this page, live. Its code (the live event stream among it) is
/// loaded by itself once a top-up is being checked: the page's first load is the form alone.
#[lazy]
fn receipt_card(locale: Locale, tx: TxView) -> AnyView {
    view! { <Progress locale tx /> }.into_any()
}

/// The warning that the same top-up went out a short while ago: when, and its number.
#[component]
fn Repeat(locale: Locale, first: TxView) -> impl IntoView {
    let when = first.shown_times[0].clone().unwrap_or_default();
    view! {
        <p class="notice warning" role="alert" data-testid="repeat">
            {crate::words::fill(td_string!(locale, topup_repeat), &[("when", &when), ("id", &first.id.get())])}
        </p>
    }
}

/// A top-up's steps, each with its time and what it means, updated live from the journal's event stream.
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
    let step = move |label: String,
                     meaning: String,
                     at: Option<String>,
                     testid: &'static str,
                     note: Option<String>| {
        let done = at.is_some();
        view! {
            <li class:done=done data-testid=testid>
                <span class="step-name">{label}</span>
                <span class="step-time muted">{at.unwrap_or_default()}</span>
                <span class="step-meaning">{meaning}</span>
                {note.map(|n| view! { <span class="step-note" data-testid="step-delivered">{n}</span> })}
            </li>
        }
    };
    view! {
        <section class="card progress" data-testid="progress" aria-live="polite">
            <h2>{crate::words::fill(td_string!(locale, topup_number), &[("id", &id.get())])}</h2>
            <p>
                {move || tx.with(|t| format!("{} · {} · {}", t.station, t.key, t.amount))}
            </p>
            <ol class="steps">
                {move || {
                    let t = tx.get();
                    view! {
                        {step(td_string!(locale, topup_step_recorded).to_string(), td_string!(locale, topup_step_recorded_means).to_string(), t.shown_times[0].clone(), "step-queued", None)}
                        {step(td_string!(locale, status_sent).to_string(), td_string!(locale, topup_step_sent_means).to_string(), t.shown_times[1].clone(), "step-sent",
                            t.shown_delivered.clone().map(|at| format!("{} ({at})", td_string!(locale, status_delivered))))}
                        {step(td_string!(locale, status_confirmed).to_string(), td_string!(locale, topup_step_confirmed_means).to_string(), t.shown_times[2].clone(), "step-confirmed", None)}
                        {step(td_string!(locale, status_reloaded).to_string(), td_string!(locale, topup_step_reloaded_means).to_string(), t.shown_times[3].clone(), "step-reloaded", None)}
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
                        EitherOf3::A(view! { <p class="notice info" data-testid="balance">{crate::words::fill(td_string!(locale, topup_balance), &[("balance", &b)])}</p> })
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
