//! `GET /transactions.csv`: the journal with the page's filters and sort, every matching row, for the
//! annual statement. UTF-8 with a byte-order mark and semicolons, as Swiss spreadsheet software expects;
//! dates in Europe/Zurich, amounts in francs with two decimals; the header and the statuses in the
//! account's language (then the page's, then French).
//!
//! The rows are streamed: read by one statement in chunks (`Db::export_journal`) and written as they
//! come, so an export of a million rows holds a few chunks in memory, not the file. At most [`AT_ONCE`]
//! run at a time; another is refused with 503 and a readable body.

use std::collections::HashMap;

use app::api::JournalParams;
use app::i18n::Locale;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use db::{Scope, TxRecord};
use domain::Account;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::AppState;

/// Rows read and written at a time.
const CHUNK: usize = 1_000;

/// Exports running at once: each holds a database connection while it streams.
pub(super) const AT_ONCE: usize = 2;

pub async fn transactions_csv(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let Ok(turn) = state.exports.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "30")],
            "Other exports are running; please try again in a minute.\n",
        )
            .into_response();
    };
    let locale = request_locale(&headers, account.locale.as_deref());
    let params = JournalParams::from_query(|k| raw.get(k).cloned());
    let (filter, sort, desc) = app::api::ssr::journal_query(&params);
    let (to, mut rows) = mpsc::channel(2);
    let db = state.db.clone();
    let scope = Scope::of(&account);
    tokio::spawn(async move {
        db.export_journal(db::JournalView { scope, filter: &filter, sort, descending: desc }, CHUNK, to)
            .await;
    });
    // The first chunk before the answer: an export that cannot start gets an error status, not a
    // truncated file.
    let first = match rows.recv().await {
        Some(Ok(chunk)) => Some(chunk),
        None => None,
        Some(Err(e)) => {
            tracing::error!(error = %e, "CSV export failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "The export failed.\n").into_response();
        }
    };
    let head = Bytes::from(header_line(locale));
    let first = Bytes::from(first.map(|c| lines(locale, &c)).unwrap_or_default());
    let rest = futures::stream::unfold((rows, turn), move |(mut rows, turn)| async move {
        match rows.recv().await? {
            Ok(chunk) => Some((Ok(Bytes::from(lines(locale, &chunk))), (rows, turn))),
            Err(e) => {
                // Mid-file: the connection is cut, so the download shows as failed rather than complete.
                tracing::error!(error = %e, "CSV export failed midway");
                Some((Err(std::io::Error::other("the export failed")), (rows, turn)))
            }
        }
    });
    let body = futures::stream::iter([Ok::<_, std::io::Error>(head), Ok(first)]).chain(rest);
    let filename = format!("attachment; filename=\"{}.csv\"", app::export_texts(locale).1);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The account's language, else the page's (the language cookie), else French.
/// The language a request is answered in: the account's choice, else the language cookie, else the
/// browser's first of ours in `Accept-Language`, else French.
pub(super) fn request_locale(headers: &HeaderMap, chosen: Option<&str>) -> Locale {
    let chosen = chosen.and_then(app::locale_from_code);
    let cookie = || {
        headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
            cookie::Cookie::split_parse(cookies)
                .filter_map(Result::ok)
                .find(|c| c.name() == app::LOCALE_COOKIE)
                .and_then(|c| app::locale_from_code(c.value()))
        })
    };
    let browser = || {
        let accept = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
        accept.split(',').find_map(|tag| {
            let tag = tag.split(';').next()?.trim();
            app::locale_from_code(&tag.get(..2)?.to_ascii_lowercase())
        })
    };
    chosen.or_else(cookie).or_else(browser).unwrap_or(Locale::fr)
}

fn header_line(locale: Locale) -> String {
    let (names, _) = app::export_texts(locale);
    format!("\u{feff}{}\r\n", names.map(|n| quote(&n)).join(";"))
}

fn lines(locale: Locale, rows: &[TxRecord]) -> String {
    let mut out = String::with_capacity(rows.len() * 96);
    for tx in rows {
        let view = tx.view();
        let fields = [
            tx.id.to_string(),
            tx.created_at.zurich().to_string(),
            view.station,
            tx.key.to_string(),
            francs(tx.amount.rappen()),
            app::status_label(locale, tx.status),
            tx.balance_rappen.map(francs).unwrap_or_default(),
            tx.reloaded_at.map(|t| t.zurich().to_string()).unwrap_or_default(),
            tx.sent_by.as_ref().map(ToString::to_string).unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|f| quote(f)).collect::<Vec<_>>().join(";"));
        out.push_str("\r\n");
    }
    out
}

fn francs(rappen: i64) -> String {
    format!("{}{}.{:02}", if rappen < 0 { "-" } else { "" }, rappen.abs() / 100, rappen.abs() % 100)
}

/// A field quoted when it holds a separator, a quote or a line break; a leading `=+-@` is prefixed with
/// `'` so that no spreadsheet runs it as a formula.
fn quote(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@']) && field.parse::<f64>().is_err() {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if field.contains([';', '"', '\n', '\r']) { format!("\"{}\"", field.replace('"', "\"\"")) } else { field }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(quote("Station A"), "Station A");
        assert_eq!(quote("A; B"), "\"A; B\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(francs(125_000), "1250.00");
        assert_eq!(francs(5), "0.05");
    }
}
