//! *Transactions*: the journal, with the original's columns, paging, sorting on every column, filters, all
//! in the URL; rows change live; the filtered journal downloads as CSV.
//!
//! The filters are a plain GET form and the sort and page links plain links, rendered on the server; the
//! results are an island, which the journal's event stream keeps current.

use domain::journal::{JournalSort, TxStatus};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{JournalPage, JournalParams, journal, station_labels};
use crate::i18n::*;
use crate::live::{LiveEvent, LiveState};
use crate::pages::{for_phone, page_locale, reason_label, status_label};

#[component]
pub fn Journal() -> impl IntoView {
    let locale = page_locale();
    let params = use_query_map().with_untracked(|q| JournalParams::from_query(|k| q.get(k)));
    let page = AsyncDerived::new({
        let params = params.clone();
        move || journal(params.clone())
    });
    let stations = AsyncDerived::new(station_labels);
    let p = params.clone();
    let csv = format!("/transactions.csv?{}", params.to_query());
    // Folded on a phone, so that the first screen shows results; the summary says how many are set.
    let set = [
        params.station.is_some(),
        params.key.is_some(),
        params.status.is_some(),
        params.from.is_some(),
        params.to.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    let summary = if set == 0 {
        Either::Left(td_string!(locale, journal_filters))
    } else {
        Either::Right(crate::words::fill(td_string!(locale, journal_filters_set), &[("count", &set)]))
    };
    view! {
        {super::page_title(td_string!(locale, journal_title))}<h1>{td_string!(locale, journal_title)}</h1>
        <details class="filters-fold" open=!for_phone() data-testid="filters">
        <summary>{summary}</summary>
        <form method="get" action="/transactions" class="filters card">
            <label>
                {td_string!(locale, topup_station)}
                <select name="station">
                    <option value="">{td_string!(locale, journal_all)}</option>
                    <Suspense fallback=|| ()>
                        {move || stations.get().and_then(Result::ok).map(|all| all.into_iter().map(|(id, label)| {
                            let selected = p.station == Some(id);
                            view! { <option value=id.to_string() selected=selected>{label}</option> }
                        }).collect_view())}
                    </Suspense>
                </select>
            </label>
            <label>
                {td_string!(locale, journal_key)}
                <input name="key" inputmode="numeric" maxlength="5" value=params.key.map(|k| k.to_string()) />
            </label>
            <label>
                {td_string!(locale, journal_status)}
                <select name="status">
                    <option value="">{td_string!(locale, journal_all)}</option>
                    {TxStatus::ALL.into_iter().map(|s| {
                        view! { <option value=s.as_str() selected=params.status == Some(s)>{status_label(locale, s)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>
                {td_string!(locale, journal_from)}
                <input name="from" type="date" value=params.from.clone() />
            </label>
            <label>
                {td_string!(locale, journal_to)}
                <input name="to" type="date" value=params.to.clone() />
            </label>
            <label>
                {td_string!(locale, journal_size)}
                <select name="size">
                    {JournalParams::SIZES.into_iter().map(|n| {
                        view! { <option value=n.to_string() selected=params.size == n>{n}</option> }
                    }).collect_view()}
                </select>
            </label>
            <div class="field">
                <label for="sort-by" id="sort-label">{td_string!(locale, journal_sort)}</label>
                <div class="inline-fields">
                    <select id="sort-by" name="sort">
                        {JournalSort::ALL.into_iter().map(|s| {
                            view! { <option value=s.as_str() selected=params.sort == s>{sort_label(locale, s)}</option> }
                        }).collect_view()}
                    </select>
                    <select name="dir" aria-labelledby="sort-label">
                        <option value="desc" selected=params.desc>{td_string!(locale, journal_descending)}</option>
                        <option value="asc" selected=!params.desc>{td_string!(locale, journal_ascending)}</option>
                    </select>
                </div>
            </div>
            <button type="submit" class="primary">{td_string!(locale, journal_filter)}</button>
        </form>
        </details>
        <p class="journal-tools">
            <a class="button" href=csv download="transactions.csv" data-testid="csv">
                {td_string!(locale, journal_csv)}
            </a>
        </p>
        <Suspense fallback=|| ()>
            {move || page.get().map(|result| match result {
                Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                Ok(page) => view! { <JournalResults locale params=params.clone() page /> }.into_any(),
            })}
        </Suspense>
    }
}

/// A sort column's name, as its column is headed.
fn sort_label(locale: Locale, sort: JournalSort) -> String {
    match sort {
        JournalSort::Number => td_string!(locale, journal_col_number),
        JournalSort::Date => td_string!(locale, journal_col_date),
        JournalSort::Station => td_string!(locale, journal_col_station),
        JournalSort::Key => td_string!(locale, journal_col_key),
        JournalSort::Amount => td_string!(locale, journal_col_amount),
        JournalSort::Status => td_string!(locale, journal_col_status),
    }
    .to_string()
}

/// The journal's address with `change` applied to the current view.
fn link(params: &JournalParams, change: impl FnOnce(&mut JournalParams)) -> String {
    let mut p = params.clone();
    change(&mut p);
    let q = p.to_query();
    if q.is_empty() { "/transactions".to_owned() } else { format!("/transactions?{q}") }
}

/// The results: count, table and pager. A change one may see reads the page again (so rows keep its
/// sort and filters), from the version it was read at, so nothing in between is missed; unless it only
/// changes a row already shown in a view that cannot move it (below).
#[island(lazy)]
fn JournalResults(locale: Locale, params: JournalParams, page: JournalPage) -> impl IntoView {
    let since = page.version;
    let page = RwSignal::new(page);
    // When the live updates stopped arriving, while they do not.
    let down = RwSignal::new(None::<f64>);
    let on_change = reload(params.clone(), page);
    crate::live::subscribe(Some(since), move |event| match event {
        LiveEvent::Tx(tx) => on_change(Some(*tx)),
        LiveEvent::State(LiveState::Down { since_ms }) => down.set(Some(since_ms)),
        // Back: the changes made meanwhile follow from the server, and the page is read again at once
        // (its total too), without waiting for them.
        LiveEvent::State(LiveState::Live) => {
            down.set(None);
            on_change(None);
        }
    });
    view! {
        {move || down.get().map(|since| {
            let at = crate::live::zurich_time(since);
            view! {
                <p class="notice" role="status" data-testid="offline">
                    {crate::words::fill(td_string!(locale, journal_offline), &[("time", &at)])}
                </p>
            }
        })}
        {move || page.with(|p| results(locale, &params, p))}
    }
}

/// Reads the page again after a change; changes that arrive meanwhile are answered by one more reading,
/// so the last reading always follows the last change.
///
/// A transaction's status (with its times, balance and reason) is all that changes after it is created,
/// and a scope's stations stay in it: in a view that neither sorts nor filters by status, a change of a
/// row already on the page moves no row and changes no count, and is shown in place (a row reloaded
/// adds its amount to the view's sum). A top-up then
/// costs the server one page read per open journal (when it is created), not one per change; one of
/// another station or key than the view's, none.
/// `None` reads the page again whatever it shows (the stream was down: anything may have changed).
fn reload(
    params: JournalParams,
    page: RwSignal<JournalPage>,
) -> impl Fn(Option<domain::journal::TxView>) + 'static {
    use std::cell::Cell;
    use std::rc::Rc;
    let (busy, again) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    let in_place = params.sort != JournalSort::Status && params.status.is_none();
    move |tx: Option<domain::journal::TxView>| {
        if let Some(tx) = tx {
            // Another station's or key's transaction is never in this view, nor in its total.
            if params.station.is_some_and(|s| s != tx.station_id) || params.key.is_some_and(|k| k != tx.key) {
                return;
            }
            // While a reading is on its way, it may be older than this change: one more reading instead.
            if in_place && !busy.get() {
                let shown = page.with_untracked(|p| p.rows.iter().position(|row| row.id == tx.id));
                if let Some(at) = shown {
                    if page.with_untracked(|p| p.rows[at].version < tx.version) {
                        page.update(|p| {
                            // Reloaded now: its amount joins the view's sum (a status never leaves Reloaded).
                            if tx.status == TxStatus::Reloaded && p.rows[at].status != TxStatus::Reloaded {
                                p.reloaded = p.reloaded.plus(tx.amount);
                            }
                            p.rows[at] = tx;
                        });
                    }
                    return;
                }
            }
        }
        if busy.replace(true) {
            again.set(true);
            return;
        }
        let (params, busy, again) = (params.clone(), busy.clone(), again.clone());
        leptos::task::spawn_local(async move {
            loop {
                again.set(false);
                match journal(params.clone()).await {
                    Ok(p) => page.set(p),
                    Err(_) => crate::session::check(),
                }
                if !again.get() {
                    break;
                }
            }
            busy.set(false);
        });
    }
}

fn results(locale: Locale, params: &JournalParams, p: &JournalPage) -> impl IntoView + use<> {
    if p.total == 0 {
        return Either::Left(view! { <p class="empty">{td_string!(locale, journal_empty)}</p> });
    }
    let size = i64::from(params.size);
    let pages = ((p.total + size - 1) / size).max(1);
    let current = i64::from(params.page).min(pages);
    let first = (current - 1) * size + 1;
    let last = (first + p.rows.len() as i64 - 1).max(first);
    let goto = |n: i64| link(params, |q| q.page = n as u32);
    let header = |column: JournalSort, label: String| {
        let (current, desc) = (params.sort == column, params.desc);
        let href = link(params, |p| {
            p.desc = if current { !desc } else { column.descending_first() };
            p.sort = column;
            p.page = 1;
        });
        let (sort, arrow) = match (current, desc) {
            (true, true) => ("descending", " ▼"),
            (true, false) => ("ascending", " ▲"),
            _ => ("none", ""),
        };
        view! {
            <th aria-sort=sort scope="col">
                <a href=href data-testid=format!("sort-{column}")>
                    {label}
                    <span aria-hidden="true">{arrow}</span>
                </a>
            </th>
        }
    };
    let total = p.total;
    let disabled = |at_end: bool| at_end.to_string();
    Either::Right(view! {
        <p class="muted">
            <span data-testid="results">{crate::words::fill(td_string!(locale, journal_results), &[("first", &first), ("last", &last), ("total", &total)])}</span>
            " · "
            <span data-testid="reloaded-total">{crate::words::fill(td_string!(locale, journal_reloaded_total), &[("amount", &p.reloaded)])}</span>
        </p>
        <div class="table-wrap">
            <table class="journal" data-testid="journal">
                <thead>
                    <tr>
                        {JournalSort::ALL.into_iter().map(|s| header(s, sort_label(locale, s))).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {p.rows.iter().map(|tx| view! {
                        <tr data-testid=format!("tx-{}", tx.id)>
                            <td class="c-number">{tx.id.to_string()}</td>
                            <td class="c-date">
                                {tx.shown_times[0].clone().unwrap_or_default()}
                                {tx.sent_by.clone().map(|who| view! {
                                    <span class="status-note" data-testid="sent-by">{crate::words::fill(td_string!(locale, journal_by), &[("who", &who)])}</span>
                                })}
                                {tx.payment.map(|id| view! {
                                    <a class="status-note" data-testid="paid-by" href=format!("/payments?payment={id}#p-{id}")>{td_string!(locale, journal_paid_by_transfer)}</a>
                                })}
                            </td>
                            <td class="c-station">{tx.station.clone()}</td>
                            <td class="c-key">{tx.key.to_string()}</td>
                            <td class="c-amount num">{tx.amount.to_string()}</td>
                            <td class="c-status">
                                <span class=format!("status status-{}", tx.status.as_str())>{status_label(locale, tx.status)}</span>
                                {(tx.status == TxStatus::Sent && tx.shown_delivered.is_some()).then(|| view! {
                                    <span class="status-note" data-testid="delivered">{td_string!(locale, status_delivered)}</span>
                                })}
                                {tx.reason.filter(|_| tx.status != TxStatus::Reloaded).map(|r| view! {
                                    <span class="status-note" data-testid="row-reason">{reason_label(locale, r)}</span>
                                })}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="pages">
            <a href=goto(1) aria-disabled=disabled(current == 1)>{td_string!(locale, journal_first)}</a>
            <a href=goto((current - 1).max(1)) aria-disabled=disabled(current == 1)>{td_string!(locale, journal_previous)}</a>
            {(1.max(current - 2)..=pages.min(current + 2)).map(|n| view! {
                <a href=goto(n) aria-current=(n == current).then_some("page")>{n}</a>
            }).collect_view()}
            <a href=goto((current + 1).min(pages)) aria-disabled=disabled(current == pages)>{td_string!(locale, journal_next)}</a>
            <a href=goto(pages) aria-disabled=disabled(current == pages)>{td_string!(locale, journal_last)}</a>
        </nav>
    })
}
