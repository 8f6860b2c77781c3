//! Login, logout and the session check in front of everything else.
//!
//! Login and logout are plain HTML form posts answered with redirects, so they work before (and without)
//! the WebAssembly; the login page reads the outcome from the query string it is redirected to.

use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use cookie::{Cookie, SameSite};
use domain::notice::{LoginNotice, PasswordNotice, QueryNotice};
use domain::{Account, Email, NewPassword, Timestamp, UserId};
use serde::Deserialize;

use super::AppState;
use super::client::ClientAddr;
use crate::auth::password;
use crate::auth::session::{SessionPolicy, Verdict, new_token, token_hash};
use crate::metrics::LoginOutcome;

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: checks the throttle, then the password, then opens a session.
pub async fn login(
    State(state): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejected) if rejected.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return rejected.into_response();
        }
        Err(_) => return to_login(Some(LoginNotice::Invalid), ""),
    };
    let next = safe_next(&form.next);
    let email = match Email::parse(&form.email) {
        Ok(e) if !form.password.is_empty() && form.password.chars().count() <= NewPassword::MAX_CHARS => e,
        _ => return to_login(Some(LoginNotice::Invalid), next),
    };
    let unavailable = |e: anyhow::Error| {
        tracing::error!(error = %e, "login failed on a server error");
        to_login(Some(LoginNotice::Unavailable), next)
    };
    let account = match check_password(&state, &email, form.password, peer).await {
        Ok(Check::Correct(account)) => account,
        Ok(Check::Throttled(wait)) => {
            tracing::warn!(email = %typed(&email), client = %peer, "login refused: too many failures");
            state.metrics.login(LoginOutcome::throttled);
            return to_login(Some(LoginNotice::Throttled { retry_secs: wait.as_secs().max(1) }), next);
        }
        Ok(Check::Wrong) => {
            tracing::info!(email = %typed(&email), client = %peer, "login failed");
            state.metrics.login(LoginOutcome::failed);
            return to_login(Some(LoginNotice::Credentials), next);
        }
        Ok(Check::Busy) => {
            tracing::warn!(client = %peer, "login refused: too many password checks at once");
            state.metrics.login(LoginOutcome::busy);
            return to_login(Some(LoginNotice::Unavailable), next);
        }
        Err(e) => return unavailable(e),
    };
    let token = match open_session(&state, account.id).await {
        Ok(token) => token,
        Err(e) => return unavailable(e),
    };
    tracing::info!(email = %email, client = %peer, "login");
    state.metrics.login(LoginOutcome::success);
    let mut response = redirect(if next.is_empty() { "/" } else { next });
    let cookies = response.headers_mut();
    append_cookie(cookies, session_cookie(&state, token));
    if let Some(locale) = account.locale.filter(|l| app::locale_from_code(l).is_some()) {
        // The language chosen on another device follows the person.
        let c = Cookie::build((app::LOCALE_COOKIE, locale))
            .path("/")
            .same_site(SameSite::Lax)
            .secure(state.settings.secure_cookies);
        append_cookie(cookies, c.build());
    }
    response
}

/// An e-mail as typed at a failed login, for the log: a short hash, since people type their password
/// into the e-mail field too. The same typed address always gives the same hash, so attempts on one
/// address can still be followed.
fn typed(email: &Email) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(email.as_str().as_bytes());
    format!("sha256:{}", digest[..6].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The outcome of checking a password under the throttle.
enum Check {
    Correct(Account),
    Wrong,
    Throttled(Duration),
    /// Too many checks at once: this one was not made (it still counts for the throttle).
    Busy,
}

/// Checks an e-mail and password, counting failures per account and per client and refusing to check at
/// all while either must wait.
async fn check_password(
    state: &AppState,
    email: &Email,
    password: String,
    peer: std::net::IpAddr,
) -> anyhow::Result<Check> {
    let db = &state.db;
    let settings = &state.settings;
    let account_key = format!("email:{email}");
    let client_key = format!("client:{}", super::client::throttle_scope(peer));
    let now = Timestamp::now();
    // The failure is recorded, per e-mail and per client, before the password is checked, so that
    // guesses sent in parallel (to any instance) are all counted, and past the limit not checked at
    // all; a success takes it back. One write transaction each: the database orders them.
    let counted = db
        .throttle_attempt([account_key.as_str(), client_key.as_str()], |[for_account, for_client]| {
            let wait = [
                settings.account_throttle.wait(for_account, now),
                settings.client_throttle.wait(for_client, now),
            ]
            .into_iter()
            .flatten()
            .max();
            match wait {
                Some(wait) => Err(wait),
                None => Ok([
                    Some(settings.account_throttle.after_failure(for_account, now)),
                    Some(settings.client_throttle.after_failure(for_client, now)),
                ]),
            }
        })
        .await?;
    if let Err(wait) = counted {
        return Ok(Check::Throttled(wait));
    }
    let user = db.user_auth_by_email(email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    // Verified even without an account (against a dummy hash), so both cases take the same time.
    let Ok(correct) = password::verify(password, stored).await else {
        return Ok(Check::Busy);
    };
    match user {
        // A disabled account gets the same answer as a wrong password: nothing tells that it exists.
        Some(user) if correct && !user.disabled => {
            let forgiven = db
                .throttle_attempt([account_key.as_str(), client_key.as_str()], |[_, for_client]| {
                    Ok::<_, std::convert::Infallible>([
                        None,
                        settings.client_throttle.forgive_one(for_client),
                    ])
                })
                .await?;
            let Ok(()) = forgiven;
            Ok(Check::Correct(user.account))
        }
        _ => Ok(Check::Wrong),
    }
}

/// Creates a session for the account and returns the token for its cookie.
async fn open_session(state: &AppState, user_id: UserId) -> anyhow::Result<String> {
    let token = new_token();
    let now = Timestamp::now();
    state
        .db
        .create_session(&token_hash(&token), user_id, now, state.settings.sessions.expires_at(now))
        .await?;
    Ok(token)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /account/password`: the logged-in person changes their password. Every session of the account
/// ends (a thief's too); this browser gets a fresh one so the person stays logged in here.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    Extension(account): Extension<Account>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let back = |notice: PasswordNotice| redirect(&format!("/account?{}", notice.to_query()));
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejected) if rejected.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return rejected.into_response();
        }
        Err(_) => return back(PasswordNotice::Invalid),
    };
    if form.new != form.confirm {
        return back(PasswordNotice::Mismatch);
    }
    let new = match NewPassword::parse(&form.new) {
        Ok(p) => p,
        Err(domain::ParseError::PasswordTooLong) => return back(PasswordNotice::Long),
        Err(_) => return back(PasswordNotice::Short),
    };
    if form.current.chars().count() > NewPassword::MAX_CHARS {
        return back(PasswordNotice::Current);
    }
    let failed = |e: anyhow::Error| {
        tracing::error!(error = %e, "password change failed on a server error");
        back(PasswordNotice::Unavailable)
    };
    match check_password(&state, &account.email, form.current, peer).await {
        Ok(Check::Correct(_)) => {}
        Ok(Check::Wrong) => {
            tracing::info!(email = %account.email, client = %peer, "password change refused");
            return back(PasswordNotice::Current);
        }
        Ok(Check::Throttled(wait)) => {
            return back(PasswordNotice::Throttled { retry_secs: wait.as_secs().max(1) });
        }
        Ok(Check::Busy) => return back(PasswordNotice::Unavailable),
        Err(e) => return failed(e),
    }
    let replaced = async {
        let hash = password::hash(new.expose().to_owned()).await?;
        state.db.set_password(account.id, &hash, Timestamp::now()).await?;
        open_session(&state, account.id).await
    };
    match replaced.await {
        Ok(token) => {
            tracing::info!(email = %account.email, client = %peer, "password changed");
            let mut response = back(PasswordNotice::Changed);
            append_cookie(response.headers_mut(), session_cookie(&state, token));
            response
        }
        Err(e) => failed(e),
    }
}

/// `POST /logout`: ends the session on the server, not only in the browser.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers, &state)
        && let Err(e) = state.db.delete_session(&token_hash(&token)).await
    {
        tracing::error!(error = %e, "logout could not delete the session");
        if e.is_unavailable() {
            return super::unavailable(&headers);
        }
        return (StatusCode::INTERNAL_SERVER_ERROR, "Logout failed; please try again.\n").into_response();
    }
    let mut response = redirect(&format!("/login?{}", LoginNotice::LoggedOut.to_query()));
    append_cookie(response.headers_mut(), removal_cookie(&state));
    response
}

/// The static directories: anyone may fetch their files (the WebAssembly, the icons), no session is
/// looked up for them, and an address in them that is not a file is a plain 404, never a page.
const STATIC_DIRS: [&str; 2] = ["/pkg/", "/icons/"];

/// The other addresses anyone may fetch: the login page and the files the login page and the PWA need.
const PUBLIC_FILES: [&str; 7] =
    ["/login", "/manifest.webmanifest", "/sw.js", "/pwa.js", "/favicon.ico", "/offline.html", "/offline.js"];

/// Whether `path` (normalised: see [`is_normal`]) is in a static directory.
pub(super) fn in_static_dir(path: &str) -> bool {
    STATIC_DIRS.iter().any(|d| path.starts_with(d))
}

/// Addresses anyone may fetch; `path` is normalised (see [`is_normal`]).
fn is_public(path: &str) -> bool {
    PUBLIC_FILES.contains(&path) || in_static_dir(path)
}

/// Whether a request path is in its one normal form: absolute, no `.` or `..` segment (also
/// percent-encoded), no empty segment, no backslash or encoded slash. Only such paths are served, so
/// that what the session check sees is what the router and the file server see.
fn is_normal(path: &str) -> bool {
    if !path.starts_with('/') || path.contains('\\') {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return false;
    }
    let segments: Vec<&str> = lower[1..].split('/').collect();
    let last = segments.len() - 1;
    segments.iter().enumerate().all(|(i, segment)| {
        let dots = segment.replace("%2e", ".");
        // A trailing slash leaves one empty last segment ("/" itself is one).
        (!segment.is_empty() || i == last) && dots != "." && dots != ".."
    })
}

/// Verifies the session cookie and attaches the [`Account`] to the request; without a valid session, pages
/// redirect to the login and everything else answers 401.
pub async fn require_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if !is_normal(&path) {
        return (StatusCode::BAD_REQUEST, "This address is not valid.\n").into_response();
    }
    if in_static_dir(&path) {
        return next.run(req).await;
    }
    let token = session_token(req.headers(), &state);
    let account = match &token {
        Some(t) => match current_account(&state, t).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "session check failed");
                return super::unavailable(req.headers());
            }
        },
        None => None,
    };
    if let Some(account) = account {
        if path == "/login" && req.method() == Method::GET {
            return redirect("/");
        }
        if let Some(token) = &token {
            req.extensions_mut().insert(SessionHash(token_hash(token)));
        }
        req.extensions_mut().insert(account);
        return next.run(req).await;
    }
    if is_public(&path) {
        return next.run(req).await;
    }
    let mut response = if !path.starts_with("/api/") {
        // A page, or a form posted after the session ended: back to the login, then to the page.
        let here = if req.method() == Method::GET {
            req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/")
        } else {
            ""
        };
        to_login(token.is_some().then_some(LoginNotice::Expired), here)
    } else {
        (StatusCode::UNAUTHORIZED, "Not logged in, or the session has expired.\n").into_response()
    };
    if token.is_some() {
        append_cookie(response.headers_mut(), removal_cookie(&state));
    }
    response
}

/// The hash of the session token a request came with, next to its [`Account`] (for what outlives the
/// request, such as an event stream, and must end with the session).
#[derive(Clone, Copy)]
pub struct SessionHash(pub [u8; 32]);

/// Whether the session still lets its holder see `scope`: it exists, has not expired, and its account's
/// scope is the same. Asking does not count as activity: a stream alone keeps no session alive. A
/// database that cannot answer counts as no: what the stream would send is withheld, and the browser's
/// reconnection is checked like any request.
pub async fn session_holds(
    db: &db::Db,
    policy: &SessionPolicy,
    hash: &SessionHash,
    scope: db::Scope,
) -> bool {
    match db.session(&hash.0).await {
        Ok(Some(session)) => {
            policy.judge(session.last_seen_at, session.expires_at, Timestamp::now()) != Verdict::Expired
                && db::Scope::of(&session.account) == scope
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "checking a stream's session failed");
            false
        }
    }
}

async fn current_account(state: &AppState, token: &str) -> anyhow::Result<Option<Account>> {
    let hash = token_hash(token);
    let Some(session) = state.db.session(&hash).await? else { return Ok(None) };
    let now = Timestamp::now();
    match state.settings.sessions.judge(session.last_seen_at, session.expires_at, now) {
        Verdict::Expired => {
            state.db.delete_session(&hash).await?;
            Ok(None)
        }
        Verdict::Valid { touch } => {
            if touch {
                state.db.touch_session(&hash, now).await?;
            }
            Ok(Some(session.account))
        }
    }
}

fn cookie_name(state: &AppState) -> &'static str {
    // The __Host- prefix makes the browser refuse the cookie unless it is Secure, host-only and for "/".
    if state.settings.secure_cookies { "__Host-recharge_session" } else { "recharge_session" }
}

fn session_token(headers: &HeaderMap, state: &AppState) -> Option<String> {
    let name = cookie_name(state);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let max_age = cookie::time::Duration::seconds(state.settings.sessions.lifetime.as_secs() as i64);
    Cookie::build((cookie_name(state), token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.secure_cookies)
        .max_age(max_age)
        .build()
}

fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = session_cookie(state, String::new());
    c.make_removal();
    c
}

fn append_cookie(headers: &mut HeaderMap, c: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        headers.append(SET_COOKIE, v);
    }
}

pub(crate) fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

/// Back to the login page with a notice and, if any, the page to return to after login.
fn to_login(notice: Option<LoginNotice>, next: &str) -> Response {
    let mut url = String::from("/login");
    let mut params: Vec<String> = notice.map(LoginNotice::to_query).into_iter().collect();
    if !next.is_empty() && next != "/" {
        params.push(format!("next={}", form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()));
    }
    if !params.is_empty() {
        url.push('?');
        url.push_str(&params.join("&"));
    }
    redirect(&url)
}

/// Only a path on this site may follow a login: never another site (`//evil.example`, `/\evil.example`).
fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.starts_with("/login")
        && next.len() <= 512
        && !next.chars().any(|c| c.is_control());
    if ok { next } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_normal_paths_are_served() {
        for path in ["/", "/login", "/pkg/recharge.wasm", "/transactions", "/a/b/"] {
            assert!(is_normal(path), "{path}");
        }
        for path in [
            "/pkg/../transactions",
            "/icons/%2e%2e/transactions",
            "/pkg/%2E./x",
            "/pkg/./x",
            "//transactions",
            "/pkg//x",
            "/pkg/..",
            "/pkg%2f..%2ftransactions",
            "/pkg\\..\\transactions",
            "transactions",
        ] {
            assert!(!is_normal(path), "{path}");
        }
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next("/transactions?page=2"), "/transactions?page=2");
        for bad in ["//evil.example", "/\\evil.example", "https://evil.example", "evil", "/login", "/a\r\nb"]
        {
            assert_eq!(safe_next(bad), "", "{bad:?}");
        }
    }

    #[test]
    fn the_login_redirect_carries_the_notice_and_the_page() {
        let r = to_login(Some(LoginNotice::Credentials), "/transactions?x=1&y=2");
        assert_eq!(r.headers()[LOCATION], "/login?error=credentials&next=%2Ftransactions%3Fx%3D1%26y%3D2");
        assert_eq!(to_login(None, "/").headers()[LOCATION], "/login");
    }
}
