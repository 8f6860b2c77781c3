//! `GET /transactions.csv`: the journal with the page's filters and sort, every matching row, for the
//! annual statement. UTF-8 with a byte-order mark and semicolons, as Swiss spreadsheet software expects;
//! dates in Europe/Zurich, amounts in francs with two decimals.

use std::collections::HashMap;

use app::api::JournalParams;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use db::Scope;
use domain::Account;
use domain::journal::TxStatus;

use super::AppState;

/// More rows than this are not exported in one file (a filter narrows it).
const MAX_ROWS: i64 = 200_000;

pub async fn transactions_csv(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let params = JournalParams::from_query(|k| raw.get(k).cloned());
    let (filter, sort, desc) = app::api::ssr::journal_query(&params);
    let rows = match state.db.journal_page(Scope::of(&account), &filter, sort, desc, 0, MAX_ROWS).await {
        Ok((rows, _)) => rows,
        Err(e) => {
            tracing::error!(error = %e, "CSV export failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "The export failed.\n").into_response();
        }
    };
    let mut out =
        String::from("\u{feff}N°;Date;Distributeur;Numéro de clé;Montant (CHF);Statut;Solde (CHF)\r\n");
    for tx in rows {
        let view = tx.view();
        let fields = [
            tx.id.to_string(),
            tx.created_at.zurich().to_string(),
            view.station,
            format!("{:05}", tx.key),
            francs(tx.amount_rappen),
            status_fr(tx.status).to_owned(),
            tx.balance_rappen.map(francs).unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|f| quote(f)).collect::<Vec<_>>().join(";"));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"transactions.csv\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        out,
    )
        .into_response()
}

fn francs(rappen: i64) -> String {
    format!("{}{}.{:02}", if rappen < 0 { "-" } else { "" }, rappen.abs() / 100, rappen.abs() % 100)
}

fn status_fr(status: TxStatus) -> &'static str {
    match status {
        TxStatus::Queued => "En attente",
        TxStatus::Sent => "Envoyée",
        TxStatus::Confirmed => "Confirmée",
        TxStatus::Reloaded => "Rechargée",
        TxStatus::Failed => "Échec",
        TxStatus::Cancelling => "Annulation en cours",
        TxStatus::Cancelled => "Annulée",
    }
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
