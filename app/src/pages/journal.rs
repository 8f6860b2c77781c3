//! *Transactions*: the journal, with the original's columns, paging, sorting on every column, filters, all
//! in the URL; rows change live; the filtered journal downloads as CSV.

use domain::Amount;
use domain::journal::TxStatus;
use leptos::prelude::*;
use leptos_router::components::{A, Form};
use leptos_router::hooks::use_query_map;

use crate::api::{JournalParams, journal, topup_form};
use crate::i18n::*;
use crate::pages::status_label;

#[component]
pub fn Journal() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let params = Memo::new(move |_| query.with(|q| JournalParams::from_query(|k| q.get(k))));
    let page = Resource::new(move || params.get(), journal);
    let stations = Resource::new(|| (), |_| topup_form());
    // Live: any change one may see reloads the current page, so rows keep its sort and filters. Once,
    // after hydration, from the version the page was read at (nothing between is missed).
    Effect::new(move |_| {
        let since = page.get_untracked().and_then(Result::ok).map(|p| p.version);
        crate::live::subscribe(since, move |_| page.refetch());
    });
    let link = move |change: &dyn Fn(&mut JournalParams)| {
        let mut p = params.get();
        change(&mut p);
        let q = p.to_query();
        if q.is_empty() { "/transactions".to_owned() } else { format!("/transactions?{q}") }
    };
    let header = move |column: &'static str, label: AnyView| {
        let current = move || params.with(|p| p.sort == column);
        let desc = move || params.with(|p| p.desc);
        let href = move || {
            link(&|p| {
                p.desc = if p.sort == column { !p.desc } else { column == "number" || column == "date" };
                p.sort = column.to_owned();
                p.page = 1;
            })
        };
        let sort = move || match (current(), desc()) {
            (true, true) => "descending",
            (true, false) => "ascending",
            _ => "none",
        };
        view! {
            <th aria-sort=sort scope="col">
                <A href=href attr:data-testid=format!("sort-{column}")>
                    {label}
                    <span aria-hidden="true">{move || match sort() { "descending" => " ▼", "ascending" => " ▲", _ => "" }}</span>
                </A>
            </th>
        }
    };
    view! {
        <h1>{t!(i18n, journal_title)}</h1>
        <Form method="GET" action="/transactions" attr:class="filters card">
            <label>
                {t!(i18n, topup_station)}
                <select name="station">
                    <option value="">{t!(i18n, journal_all)}</option>
                    <Transition fallback=|| ()>
                        {move || stations.get().and_then(Result::ok).map(|f| f.stations.into_iter().map(|s| {
                            let selected = move || params.with(|p| p.station == Some(s.id));
                            view! { <option value=s.id.to_string() selected=selected>{s.label}</option> }
                        }).collect_view())}
                    </Transition>
                </select>
            </label>
            <label>
                {t!(i18n, journal_key)}
                <input name="key" inputmode="numeric" maxlength="5" prop:value=move || params.with(|p| p.key.map(|k| k.to_string()).unwrap_or_default()) />
            </label>
            <label>
                {t!(i18n, journal_status)}
                <select name="status">
                    <option value="">{t!(i18n, journal_all)}</option>
                    {TxStatus::ALL.into_iter().map(|s| {
                        let selected = move || params.with(|p| p.status == Some(s));
                        view! { <option value=s.as_str() selected=selected>{move || status_label(i18n, s)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>
                {t!(i18n, journal_from)}
                <input name="from" type="date" prop:value=move || params.with(|p| p.from.clone().unwrap_or_default()) />
            </label>
            <label>
                {t!(i18n, journal_to)}
                <input name="to" type="date" prop:value=move || params.with(|p| p.to.clone().unwrap_or_default()) />
            </label>
            <label>
                {t!(i18n, journal_size)}
                <select name="size">
                    {JournalParams::SIZES.into_iter().map(|n| {
                        let selected = move || params.with(|p| p.size == n);
                        view! { <option value=n.to_string() selected=selected>{n}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="primary">{t!(i18n, journal_filter)}</button>
            <a class="button" href=move || { let q = params.get().to_query(); format!("/transactions.csv?{q}") } download="transactions.csv" data-testid="csv">
                {t!(i18n, journal_csv)}
            </a>
        </Form>
        <Transition fallback=|| ()>
            {move || page.get().map(|result| match result {
                Err(_) => view! { <p class="notice error" role="alert">{t!(i18n, error_generic)}</p> }.into_any(),
                Ok(p) if p.total == 0 => view! { <p class="empty">{t!(i18n, journal_empty)}</p> }.into_any(),
                Ok(p) => {
                    let size = i64::from(params.get_untracked().size);
                    let pages = ((p.total + size - 1) / size).max(1);
                    let current = i64::from(params.get_untracked().page).min(pages);
                    let first = (current - 1) * size + 1;
                    let last = (first + p.rows.len() as i64 - 1).max(first);
                    let total = p.total;
                    let goto = move |n: i64| link(&|q| q.page = n as u32);
                    view! {
                        <p class="muted" data-testid="results">
                            {t!(i18n, journal_results, first = move || first, last = move || last, total = move || total)}
                        </p>
                        <div class="table-wrap">
                            <table class="journal" data-testid="journal">
                                <thead>
                                    <tr>
                                        {header("number", t!(i18n, journal_col_number).into_any())}
                                        {header("date", t!(i18n, journal_col_date).into_any())}
                                        {header("station", t!(i18n, journal_col_station).into_any())}
                                        {header("key", t!(i18n, journal_col_key).into_any())}
                                        {header("amount", t!(i18n, journal_col_amount).into_any())}
                                        {header("status", t!(i18n, journal_col_status).into_any())}
                                    </tr>
                                </thead>
                                <tbody>
                                    {p.rows.into_iter().map(|tx| {
                                        let status = tx.status;
                                        view! {
                                            <tr data-testid=format!("tx-{}", tx.id)>
                                                <td>{tx.id}</td>
                                                <td>{tx.shown_times[0].clone().unwrap_or_default()}</td>
                                                <td>{tx.station}</td>
                                                <td>{format!("{:05}", tx.key)}</td>
                                                <td class="num">{Amount::from_rappen(tx.amount_rappen).map(|a| a.to_string()).unwrap_or_default()}</td>
                                                <td class=format!("status status-{}", status.as_str())>{move || status_label(i18n, status)}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <nav class="pager" aria-label="pages">
                            <A href=move || goto(1) attr:aria-disabled=move || (current == 1).to_string()>{t!(i18n, journal_first)}</A>
                            <A href=move || goto((current - 1).max(1)) attr:aria-disabled=move || (current == 1).to_string()>{t!(i18n, journal_previous)}</A>
                            {(1.max(current - 2)..=pages.min(current + 2)).map(|n| view! {
                                <A href=move || goto(n) attr:aria-current=move || (n == current).then_some("page")>{n}</A>
                            }).collect_view()}
                            <A href=move || goto((current + 1).min(pages)) attr:aria-disabled=move || (current == pages).to_string()>{t!(i18n, journal_next)}</A>
                            <A href=move || goto(pages) attr:aria-disabled=move || (current == pages).to_string()>{t!(i18n, journal_last)}</A>
                        </nav>
                    }.into_any()
                }
            })}
        </Transition>
    }
}
