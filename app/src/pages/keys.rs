//! *Clés*: a station's keys with their holders, states, last top-up and reported balance; each key's
//! QR-bill and the station's; a key registered or edited by hand; a CSV list taken in.
//!
//! Server-rendered, without an island: plain forms posting to `server::http::keys`, which redirect back
//! here with a notice in the address (`saved`, `imported`, `error`, and for a refused list `rows`).

use domain::key::{HolderField, HolderInput};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{KeyView, KeysData, keys_page};
use crate::i18n::*;
use crate::pages::{page_locale, status_label};
use crate::words::fill;

#[component]
pub fn Keys() -> impl IntoView {
    let locale = page_locale();
    let query = use_query_map();
    let (station, search, year) = query.with_untracked(|q| {
        (
            q.get("station").and_then(|s| s.parse::<i64>().ok()),
            q.get("q").unwrap_or_default(),
            q.get("year").and_then(|y| y.parse::<i32>().ok()),
        )
    });
    let notice = query.with_untracked(|q| notice_view(locale, &|name| q.get(name)));
    let page = AsyncDerived::new(move || keys_page(station, search.clone(), year));
    view! {
        {super::page_title(td_string!(locale, keys_title))}<h1>{td_string!(locale, keys_title)}</h1>
        {notice}
        <Suspense fallback=|| ()>
            {move || page.get().map(|p| match p {
                Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                Ok(page) => view! { <KeysBody locale page /> }.into_any(),
            })}
        </Suspense>
    }
}

fn notice_view(locale: Locale, get: &dyn Fn(&str) -> Option<String>) -> Option<impl IntoView + use<>> {
    let (text, error) = if let Some(key) = get("saved") {
        (fill(td_string!(locale, keys_saved), &[("key", &key)]), false)
    } else if let Some(count) = get("imported") {
        (fill(td_string!(locale, keys_imported), &[("count", &count)]), false)
    } else {
        let code = get("error")?;
        let text = match code.as_str() {
            "key" => td_string!(locale, keys_error_key).to_owned(),
            "holder" => td_string!(locale, keys_error_holder).to_owned(),
            "station" => td_string!(locale, keys_error_station).to_owned(),
            "account" => td_string!(locale, keys_no_account).to_owned(),
            "nokeys" => td_string!(locale, keys_error_nokeys).to_owned(),
            "year" => td_string!(locale, keys_error_year).to_owned(),
            "nostatement" => td_string!(locale, keys_error_nostatement).to_owned(),
            "list" => {
                let why = match get("why").as_deref() {
                    Some("too-large") => td_string!(locale, keys_list_too_large).to_owned(),
                    Some("encoding") => td_string!(locale, keys_list_encoding).to_owned(),
                    Some("header") => td_string!(locale, keys_list_header).to_owned(),
                    Some("column") => fill(
                        td_string!(locale, keys_list_column),
                        &[("found", &get("found").unwrap_or_default())],
                    ),
                    Some("empty") => td_string!(locale, keys_list_empty).to_owned(),
                    _ => rows_text(locale, &get("rows").unwrap_or_default()),
                };
                fill(td_string!(locale, keys_error_list), &[("why", &why)])
            }
            "busy" => td_string!(locale, payments_error_busy).to_owned(),
            _ => td_string!(locale, error_generic).to_owned(),
        };
        (text, true)
    };
    let class = if error { "notice error" } else { "notice info" };
    Some(view! { <p class=class role="alert" data-testid="keys-notice">{text}</p> })
}

/// `3.key,4.language,5.duplicate`: each refused row and why, in words.
fn rows_text(locale: Locale, rows: &str) -> String {
    let each: Vec<String> = rows
        .split(',')
        .filter_map(|r| r.split_once('.'))
        .map(|(line, why)| {
            let why = match why {
                "key" => td_string!(locale, keys_row_key).to_owned(),
                "duplicate" => td_string!(locale, keys_row_duplicate).to_owned(),
                "state" => td_string!(locale, keys_row_state).to_owned(),
                "columns" => td_string!(locale, keys_row_columns).to_owned(),
                field => fill(td_string!(locale, keys_row_field), &[("field", &field_label(locale, field))]),
            };
            fill(td_string!(locale, keys_row), &[("line", &line), ("why", &why)])
        })
        .collect();
    format!("{} {}", td_string!(locale, keys_list_rows), each.join(" · "))
}

fn field_label(locale: Locale, code: &str) -> String {
    match HolderField::from_code(code) {
        Some(HolderField::Name) => td_string!(locale, keys_holder),
        Some(HolderField::Flat) => td_string!(locale, keys_flat),
        Some(HolderField::Email) => td_string!(locale, keys_email),
        Some(HolderField::Language) => td_string!(locale, keys_language),
        Some(HolderField::Note) => td_string!(locale, keys_note),
        None => "?",
    }
    .to_owned()
}

fn state_label(locale: Locale, state: &str) -> &'static str {
    match state {
        "blocked" => td_string!(locale, keys_state_blocked),
        "retired" => td_string!(locale, keys_state_retired),
        _ => td_string!(locale, keys_state_active),
    }
}

#[component]
fn KeysBody(locale: Locale, page: KeysData) -> impl IntoView {
    let Some(station) = page.station else {
        return view! { <p class="muted">{td_string!(locale, keys_no_station)}</p> }.into_any();
    };
    let station_id = station.to_string();
    let options = page
        .stations
        .iter()
        .map(|s| {
            let selected = s.id == station;
            view! { <option value=s.id.to_string() selected=selected>{s.label.clone()}</option> }
        })
        .collect_view();
    let bills = page.account_set.then(|| {
        view! {
            <a class="button plain" href=format!("/keys/qr-bills.pdf?station={station}") download
                data-testid="station-bills">{td_string!(locale, keys_bills_station)}</a>
        }
    });
    let no_account = (!page.account_set).then(|| {
        view! {
            <p class="notice info" role="status">
                {td_string!(locale, keys_no_account)}" "
                <a href="/payments/account">{td_string!(locale, payments_account_link)}</a>
            </p>
        }
    });
    let more = (page.keys.len() as u32 >= page.limit).then(
        || view! { <p class="muted">{fill(td_string!(locale, keys_more), &[("limit", &page.limit)])}</p> },
    );
    let empty = page.keys.is_empty().then(|| {
        let text = if page.search.is_empty() {
            td_string!(locale, keys_none)
        } else {
            td_string!(locale, keys_none_found)
        };
        view! { <p class="muted">{text}</p> }
    });
    let account_set = page.account_set;
    let keys = page
        .keys
        .into_iter()
        .map(|k| view! { <KeyItem locale k station=station_id.clone() account_set year=page.year /> })
        .collect_view();
    view! {
        <form method="get" action="/keys" class="card stack" role="search">
            <label for="key-station">{td_string!(locale, keys_station)}</label>
            <select id="key-station" name="station">{options}</select>
            <label for="key-search">{td_string!(locale, keys_search)}</label>
            <input id="key-search" name="q" type="search" value=page.search.clone() maxlength="70" />
            <button type="submit" class="plain">{td_string!(locale, keys_show)}</button>
        </form>
        {no_account}
        <p>{bills}</p>
        <form method="get" action="/keys/statements.pdf" class="card stack" data-testid="statements">
            <input type="hidden" name="station" value=station.to_string() />
            <label for="statement-year">{td_string!(locale, keys_statements_year)}</label>
            <input id="statement-year" name="year" inputmode="numeric" maxlength="4" value=page.year.to_string() required />
            <button type="submit" class="plain">{td_string!(locale, keys_statements_pdf)}</button>
            <button type="submit" class="plain" formaction="/keys/statements.csv">{td_string!(locale, keys_statements_csv)}</button>
        </form>
        {empty}
        <ul class="payments" data-testid="keys">{keys}</ul>
        {more}
        <details class="card edit">
            <summary class="action">{td_string!(locale, keys_add_title)}</summary>
            <form method="post" action="/keys/save" class="stack">
                <input type="hidden" name="station" value=station.to_string() />
                <label for="new-key">{td_string!(locale, keys_number)}</label>
                <input id="new-key" name="key" inputmode="numeric" required maxlength="5" />
                <HolderFields locale prefix="new".into() holder=HolderInput::default() state="active".into() />
                <button type="submit" class="primary">{td_string!(locale, keys_save)}</button>
            </form>
        </details>
        <details class="card edit">
            <summary class="action">{td_string!(locale, keys_import_title)}</summary>
            <form method="post" action="/keys/import" enctype="multipart/form-data" class="stack">
                <input type="hidden" name="station" value=station.to_string() />
                <p class="muted">{td_string!(locale, keys_import_hint)}</p>
                <label for="key-list">{td_string!(locale, keys_file)}</label>
                <input id="key-list" name="file" type="file" required accept=".csv,text/csv,text/plain" />
                <button type="submit" class="primary">{td_string!(locale, keys_import)}</button>
            </form>
            <p><a href="/keys/template.csv" download>{td_string!(locale, keys_template)}</a></p>
        </details>
    }
    .into_any()
}

#[component]
fn KeyItem(locale: Locale, k: KeyView, station: String, account_set: bool, year: i32) -> impl IntoView {
    let number = format!("{:05}", k.key);
    let last = match &k.last {
        Some((at, amount, status)) => {
            format!("{} : {at} · {amount} · {}", td_string!(locale, keys_last), status_label(locale, *status))
        }
        None => td_string!(locale, keys_never).to_owned(),
    };
    let balance = k
        .balance
        .as_ref()
        .map(|(b, at)| view! { <p class="muted">{format!("{} : {b} ({at})", td_string!(locale, keys_balance))}</p> });
    let who = [k.holder.name.clone(), k.holder.flat.clone()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
    let bill = account_set.then(|| {
        view! {
            <a class="button plain" href=format!("/keys/qr-bill.pdf?station={station}&key={}", k.key) download
                data-testid="key-bill">{td_string!(locale, keys_bill)}</a>
        }
    });
    view! {
        <li class="card payment" data-testid="key" data-key=number.clone() data-state=k.state.clone()>
            <p class="payment-head">
                <strong class="mono">{number.clone()}</strong>" "
                <span class=format!("badge state-{}", k.state)>{state_label(locale, &k.state)}</span>
            </p>
            {(!who.is_empty()).then(|| view! { <p>{who.join(" · ")}</p> })}
            <p class="muted">{last}</p>
            {balance}
            {bill}
            <a class="button plain" href=format!("/keys/statement.pdf?station={station}&key={}&year={year}", k.key) download
                data-testid="key-statement">{fill(td_string!(locale, keys_statement), &[("year", &year)])}</a>
            <details class="confirm">
                <summary class="action">{td_string!(locale, keys_edit)}</summary>
                <form method="post" action="/keys/save" class="stack">
                    <input type="hidden" name="station" value=station.clone() />
                    <input type="hidden" name="key" value=k.key.to_string() />
                    <HolderFields locale prefix=format!("k{}", k.key) holder=k.holder.clone() state=k.state.clone() />
                    <button type="submit" class="primary">{td_string!(locale, keys_save)}</button>
                </form>
            </details>
        </li>
    }
}

#[component]
fn HolderFields(locale: Locale, prefix: String, holder: HolderInput, state: String) -> impl IntoView {
    let id = move |name: &str| format!("{prefix}-{name}");
    let language = holder.language.clone();
    let languages = [("", "—"), ("fr", "Français"), ("de", "Deutsch"), ("it", "Italiano"), ("en", "English")]
        .into_iter()
        .map(|(code, label)| view! { <option value=code selected=language == code>{label}</option> })
        .collect_view();
    let states = ["active", "blocked", "retired"]
        .into_iter()
        .map(|s| view! { <option value=s selected=state == s>{state_label(locale, s)}</option> })
        .collect_view();
    view! {
        <label for=id("name")>{td_string!(locale, keys_holder)}</label>
        <input id=id("name") name="name" value=holder.name maxlength="70" autocomplete="off" />
        <label for=id("flat")>{td_string!(locale, keys_flat)}</label>
        <input id=id("flat") name="flat" value=holder.flat maxlength="70" autocomplete="off" />
        <label for=id("email")>{td_string!(locale, keys_email)}</label>
        <input id=id("email") name="email" type="email" value=holder.email autocomplete="off" />
        <label for=id("language")>{td_string!(locale, keys_language)}</label>
        <select id=id("language") name="language">{languages}</select>
        <label for=id("state")>{td_string!(locale, keys_state)}</label>
        <select id=id("state") name="state">{states}</select>
        <label for=id("note")>{td_string!(locale, keys_note)}</label>
        <textarea id=id("note") name="note" maxlength="500" rows="2">{holder.note}</textarea>
    }
}
