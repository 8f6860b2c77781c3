//! Server functions of the *Paiements* pages: what is waiting, what was decided, the last file taken
//! in, and the gérance's account. The forms themselves post to the server's own handlers
//! (`server::http::payments`), which answer with a redirect to the page and a notice.

use domain::payment::CreditorInput;
use domain::{GeranceId, PaymentId, StationId, TxId};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::TextJson;

/// A payment as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    pub id: PaymentId,
    /// `proposal`, `suggestion`, `exception`, `approved`, `set_aside`, `listed`.
    pub state: String,
    /// `04.12.2026`.
    pub booked: Option<String>,
    /// `20.00 CHF`, `10.00 EUR`.
    pub amount: String,
    pub debtor: Option<String>,
    /// As a slip prints it.
    pub reference: Option<String>,
    pub text: Option<String>,
    /// `34586 · Buanderie, Sion`.
    pub key: Option<String>,
    pub station: Option<StationId>,
    pub key_number: Option<u16>,
    pub fee: Option<String>,
    pub load: Option<String>,
    /// A code for listed and exceptions; a person's words for set aside.
    pub reason: Option<String>,
    pub top_up: Option<TxId>,
    pub decided_by: Option<String>,
}

/// A station a payment can be assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationOption {
    pub id: StationId,
    pub label: String,
}

/// What a file gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportView {
    pub file: String,
    pub format: String,
    pub new: i64,
    pub duplicates: i64,
    pub proposals: i64,
    pub suggestions: i64,
    pub exceptions: i64,
    pub listed: i64,
    pub approved: i64,
}

/// The *Paiements* page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentsData {
    pub operator: bool,
    /// An admin's gérance has its account set (an operator's files find their gérance by account).
    pub account_set: bool,
    /// Proposals and suggestions.
    pub waiting: Vec<PaymentView>,
    pub exceptions: Vec<PaymentView>,
    /// The last decided and listed ones.
    pub done: Vec<PaymentView>,
    pub stations: Vec<StationOption>,
    pub import: Option<ImportView>,
}

/// The account page: the gérance's settings as the form shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditorData {
    /// The gérance edited (an operator chooses it).
    pub gerance: Option<(GeranceId, String)>,
    /// An operator's choice of gérances.
    pub gerances: Vec<(GeranceId, String)>,
    pub input: CreditorInput,
    pub set: bool,
    /// The form's reference kind: `QRR` on a QR-IBAN, `SCOR` otherwise; `None` before an account is set.
    pub kind: Option<String>,
}

/// How many of each list the page shows.
pub const PAGE_ROWS: i64 = 100;

#[server(endpoint = "payments_page", output = TextJson)]
pub async fn payments_page(import: Option<i64>, payment: Option<i64>) -> Result<PaymentsData, ServerFnError> {
    use db::PaymentState as S;
    let account = super::ssr::account().await?;
    let db = super::ssr::db()?;
    let scope = db::Scope::of(&account);
    let operator = account.role == domain::Role::Operator;
    let account_set = match &account.gerance {
        Some(g) => db.creditor(g.id).await.map_err(super::ssr::internal)?.is_some(),
        None => true,
    };
    let stations = db.list_stations(scope).await.map_err(super::ssr::internal)?;
    let label =
        |id: StationId| stations.iter().find(|s| s.id == id).map(|s| format!("{}, {}", s.name, s.place));
    let view = |p: db::PaymentRecord| ssr::view(p, &label);
    let read = |states: &'static [S]| {
        let db = db.clone();
        async move { db.payments(scope, states, None, PAGE_ROWS).await.map_err(super::ssr::internal) }
    };
    let waiting = read(&[S::Proposal, S::Suggestion]).await?.into_iter().map(view).collect();
    let exceptions = read(&[S::Exception]).await?.into_iter().map(view).collect();
    let done = db
        .payments(scope, &[S::Approved, S::SetAside, S::Listed], None, 30)
        .await
        .map_err(super::ssr::internal)?;
    let mut done: Vec<PaymentView> = done.into_iter().map(view).collect();
    // The payment a journal row links to, first, even when it is older than the list.
    if let Some(id) = payment.map(PaymentId) {
        done.retain(|p| p.id != id);
        if let Some(p) = db.payment(scope, id).await.map_err(super::ssr::internal)? {
            done.insert(0, view(p));
        }
    }
    let import = match import {
        Some(id) => db.payment_import(scope, domain::ImportId(id)).await.map_err(super::ssr::internal)?.map(
            |(s, file, format)| ImportView {
                file,
                format,
                new: s.new,
                duplicates: s.duplicates,
                proposals: s.proposals,
                suggestions: s.suggestions,
                exceptions: s.exceptions,
                listed: s.listed,
                approved: s.approved,
            },
        ),
        None => None,
    };
    let stations = stations
        .iter()
        .map(|s| StationOption { id: s.id, label: format!("{}, {}, {}", s.name, s.gerance.name, s.place) })
        .collect();
    Ok(PaymentsData { operator, account_set, waiting, exceptions, done, stations, import })
}

#[server(endpoint = "creditor_page", output = TextJson)]
pub async fn creditor_page(gerance: Option<i64>) -> Result<CreditorData, ServerFnError> {
    let account = super::ssr::account().await?;
    let db = super::ssr::db()?;
    let (gerance, gerances) = match (&account.gerance, account.role) {
        (Some(g), _) => (Some((g.id, g.name.to_string())), Vec::new()),
        (None, _) => {
            let all: Vec<(GeranceId, String)> = db
                .list_gerances()
                .await
                .map_err(super::ssr::internal)?
                .into_iter()
                .map(|g| (g.id, g.name.to_string()))
                .collect();
            let chosen = gerance.and_then(|id| all.iter().find(|(g, _)| g.get() == id).cloned());
            (chosen, all)
        }
    };
    let creditor = match &gerance {
        Some((id, _)) => db.creditor(*id).await.map_err(super::ssr::internal)?,
        None => None,
    };
    let kind = creditor.as_ref().map(|c| if c.iban.is_qr_iban() { "QRR" } else { "SCOR" }.to_owned());
    let set = creditor.is_some();
    let input = creditor
        .map(|c| c.input())
        .unwrap_or_else(|| CreditorInput { country: "CH".into(), ..CreditorInput::default() });
    Ok(CreditorData { gerance, gerances, input, set, kind })
}

#[cfg(feature = "ssr")]
mod ssr {
    use domain::payment::Reference;

    use super::PaymentView;

    pub(super) fn view(
        p: db::PaymentRecord,
        label: &impl Fn(domain::StationId) -> Option<String>,
    ) -> PaymentView {
        let m = &p.movement;
        let amount =
            format!("{}.{:02} {}", group(m.amount_minor / 100), m.amount_minor % 100, m.currency.as_str());
        let reference = m
            .reference
            .as_deref()
            .map(|r| Reference::parse(r).map_or_else(|_| r.to_owned(), |r| r.to_string()));
        let chf = |r: i64| domain::Total::from_rappen(r).map(|t| t.to_string()).ok();
        PaymentView {
            id: p.id,
            state: p.state.as_str().to_owned(),
            booked: m.booking_date.map(|d| d.to_string()),
            amount,
            debtor: m.debtor_name.clone(),
            reference,
            text: m.text.clone(),
            key: p.key.map(|(s, k)| match label(s) {
                Some(l) => format!("{k} · {l}"),
                None => k.to_string(),
            }),
            station: p.key.map(|(s, _)| s),
            key_number: p.key.map(|(_, k)| k.0),
            fee: p.fee_rappen.filter(|f| *f > 0).and_then(chf),
            load: p.load.map(|a| a.to_string()),
            reason: p.reason.clone(),
            top_up: p.top_up,
            decided_by: p.decided_by.map(|e| e.to_string()),
        }
    }

    /// Francs with Swiss thousands: `1'250`.
    fn group(francs: i64) -> String {
        let digits = francs.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push('\'');
            }
            out.push(c);
        }
        out
    }
}
