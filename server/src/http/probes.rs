//! `GET /healthz` and `GET /readyz`, for a load balancer, systemd or a monitor: public (no session, no
//! cookie), plain, and cheap.
//!
//! - `/healthz`: the process answers (200 `ok`). Nothing else is asked.
//! - `/readyz`: this instance can serve: the database answers within two seconds and has exactly the
//!   migrations this binary knows (an instance left behind by a newer one's migrations says so, and is
//!   taken out of the rotation). 200 when ready, 503 when not, with a small JSON body saying what was
//!   found, including whether this instance drives the modem.
//!
//! However often an anonymous client asks, the database is asked at most once a second: concurrent
//! requests wait for the one answer, later ones within the second reuse it.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::AppState;

/// How long one readiness answer is reused.
const REUSE_FOR: Duration = Duration::from_secs(1);
/// A database slower than this to answer one tiny query is not ready.
const DATABASE_WITHIN: Duration = Duration::from_secs(2);

/// The last readiness answer and when it was found.
#[derive(Clone, Default)]
pub struct Readiness(Arc<Mutex<Option<(Instant, Ready)>>>);

#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    pub ready: bool,
    /// `ok`, `unreachable`, `behind` (migrations this binary has not applied: it is starting or
    /// failed to) or `ahead` (a newer version migrated it: this one must be replaced).
    pub database: &'static str,
    /// The database's newest migration, and this binary's.
    pub schema: Option<i64>,
    pub schema_known: i64,
    /// Whether this instance drives the modem (or the demo's emulated network).
    pub modem_owner: bool,
}

pub async fn healthz() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let ready = {
        let mut last = state.readiness.0.lock().await;
        match &*last {
            Some((at, ready)) if at.elapsed() < REUSE_FOR => ready.clone(),
            _ => {
                let ready = ask(&state).await;
                *last = Some((Instant::now(), ready.clone()));
                ready
            }
        }
    };
    let status = if ready.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(ready)).into_response()
}

async fn ask(state: &AppState) -> Ready {
    let known = db::maintenance::known_schema();
    let (database, schema) = match tokio::time::timeout(DATABASE_WITHIN, state.db.schema_state()).await {
        Ok(Ok(s)) if s.current() => ("ok", Some(s.applied)),
        Ok(Ok(s)) if s.applied > s.known => ("ahead", Some(s.applied)),
        Ok(Ok(s)) => ("behind", Some(s.applied)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database did not answer");
            ("unreachable", None)
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within two seconds");
            ("unreachable", None)
        }
    };
    Ready { ready: database == "ok", database, schema, schema_known: known, modem_owner: state.owner.owns() }
}
