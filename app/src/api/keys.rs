//! Server function of the *Clés* page: a station's registry, searchable. Its forms post to the
//! server's own handlers (`server::http::keys`), which answer with a redirect back and a notice.

use domain::StationId;
use domain::key::HolderInput;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{StationOption, TextJson};

/// A key as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub key: u16,
    /// `active`, `blocked`, `retired`.
    pub state: String,
    pub holder: HolderInput,
    /// When, how much, and how far it went: `04.12.2026 14:02`, `20.00 CHF`, its status.
    pub last: Option<(String, String, domain::journal::TxStatus)>,
    /// `12.50 CHF`, and when the station reported it.
    pub balance: Option<(String, String)>,
}

/// The *Clés* page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysData {
    pub stations: Vec<StationOption>,
    pub station: Option<StationId>,
    pub search: String,
    pub keys: Vec<KeyView>,
    /// The most keys a page lists: a search finds the others.
    pub limit: u32,
    /// The station's gérance has its account set: the bills can be drawn.
    pub account_set: bool,
    /// The statements' year: the one asked for, or the current one in Zurich.
    pub year: i32,
}

pub const KEYS_PER_PAGE: u32 = 200;

#[server(endpoint = "keys_page", output = TextJson)]
pub async fn keys_page(
    station: Option<i64>,
    search: String,
    year: Option<i32>,
) -> Result<KeysData, ServerFnError> {
    let account = super::ssr::account().await?;
    let db = super::ssr::db()?;
    let scope = db::Scope::of(&account);
    let all = db.list_stations(scope).await.map_err(super::ssr::internal)?;
    let chosen = match station {
        Some(id) => all.iter().find(|s| s.id.get() == id),
        None => all.first(),
    };
    let stations =
        all.iter().map(|s| StationOption { id: s.id, label: format!("{}, {}", s.name, s.place) }).collect();
    let search: String = search.chars().filter(|c| !c.is_control()).take(70).collect();
    let (keys, account_set) = match chosen {
        Some(s) => {
            let keys = db
                .station_keys(scope, s.id, &search, KEYS_PER_PAGE)
                .await
                .map_err(super::ssr::internal)?
                .unwrap_or_default();
            let account_set = db.creditor(s.gerance.id).await.map_err(super::ssr::internal)?.is_some();
            (keys.into_iter().map(view).collect(), account_set)
        }
        None => (Vec::new(), false),
    };
    let year = year
        .and_then(|y| domain::statement::Year::parse(&y.to_string()))
        .unwrap_or_else(|| domain::statement::Year::of(domain::Timestamp::now()))
        .get();
    Ok(KeysData {
        stations,
        station: chosen.map(|s| s.id),
        search,
        keys,
        limit: KEYS_PER_PAGE,
        account_set,
        year,
    })
}

#[cfg(feature = "ssr")]
fn view(k: db::KeyRecord) -> KeyView {
    let minute = |t: domain::Timestamp| {
        let s = t.zurich().to_string();
        s.get(..16).unwrap_or(&s).to_owned()
    };
    KeyView {
        key: k.key.0,
        state: k.state.as_str().to_owned(),
        holder: k.holder.input(),
        last: k.last_top_up.map(|t| (minute(t.at), t.amount.to_string(), t.status)),
        balance: k.balance.and_then(|(at, rappen)| {
            domain::Total::from_rappen(rappen).ok().map(|b| (b.to_string(), minute(at)))
        }),
    }
}
