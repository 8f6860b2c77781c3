//! Login, throttling, sessions and logout, against the real server over HTTP.

mod common;

use std::time::Duration;

use common::*;
use domain::Role;
use reqwest::StatusCode;
use server::auth::throttle::ThrottlePolicy;

#[tokio::test]
async fn the_right_password_opens_a_session_that_shows_who_is_logged_in() {
    let app = spawn_app().await;
    let g = app.add_gerance("Gérance test").await;
    app.add_user("admin@gerance.ch", Role::Admin, Some(g)).await;

    let r = app.post_login("Admin@Gerance.CH", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let set = set_cookies(&r).into_iter().find(|c| c.starts_with("recharge_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "not Secure without --secure-cookies: {set}");
    let cookie = session_cookie(&r).unwrap();

    let page = app.get("/", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Recharger une clé") && html.contains("Transactions"), "{html}");

    let me = app.post_api("/api/account", Some(&cookie), "").await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["email"], "admin@gerance.ch");
    assert_eq!(me["role"], "Admin");
    assert_eq!(me["gerance"]["name"], "Gérance test");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;

    let wrong = app.post_login("op@recharge.ch", "not the password").await;
    let unknown = app.post_login("nobody@recharge.ch", "not the password").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(r), "/login?error=credentials");
        assert_eq!(session_cookie(r), None);
    }
    let page = app.get("/login?error=credentials", None).await.text().await.unwrap();
    assert!(page.contains("Adresse e-mail ou mot de passe incorrect."), "{page}");
}

#[tokio::test]
async fn an_empty_or_malformed_login_is_refused_with_a_message() {
    let app = spawn_app().await;
    let r = app.post_login("not an address", "x").await;
    assert_eq!(location(&r), "/login?error=invalid");
    let r = app.post_api("/login", None, "%%%garbage=%ZZ&&").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login?error=invalid"), "{}", location(&r));
}

#[tokio::test]
async fn repeated_failures_slow_down_then_lock_the_account_even_for_the_right_password() {
    let app = spawn_with(|s| {
        s.account_throttle = ThrottlePolicy {
            free_failures: 2,
            base_delay: Duration::from_millis(800),
            lock_after: 3,
            lock_for: Duration::from_secs(60),
            window: Duration::from_secs(60),
        }
    })
    .await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;

    for _ in 0..2 {
        assert_eq!(location(&app.post_login("op@recharge.ch", "wrong").await), "/login?error=credentials");
    }
    // Slowed down: the next attempt is not even checked until the delay has passed.
    let r = app.post_login("op@recharge.ch", PASSWORD).await;
    assert_eq!(location(&r), "/login?error=throttled&retry=1");
    assert_eq!(session_cookie(&r), None);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(location(&app.post_login("op@recharge.ch", "wrong").await), "/login?error=credentials");
    // Locked: refused for a while, whatever the password.
    let r = app.post_login("op@recharge.ch", PASSWORD).await;
    assert!(location(&r).starts_with("/login?error=throttled&retry="), "{}", location(&r));
    let retry: u64 = location(&r).rsplit('=').next().unwrap().parse().unwrap();
    assert!((55..=60).contains(&retry), "{retry}");
    // The message tells the person how long to wait.
    let page = app.get(&location(&r), None).await.text().await.unwrap();
    assert!(page.contains("Trop de tentatives"), "{page}");
    // Another account is not affected.
    app.add_user("other@recharge.ch", Role::Operator, None).await;
    app.login("other@recharge.ch").await;
}

#[tokio::test]
async fn one_client_guessing_many_accounts_is_slowed_down() {
    let app = spawn_with(|s| {
        s.client_throttle = ThrottlePolicy {
            free_failures: 3,
            base_delay: Duration::from_secs(30),
            lock_after: 10,
            lock_for: Duration::from_secs(60),
            window: Duration::from_secs(60),
        }
    })
    .await;
    for i in 0..3 {
        let r = app.post_login(&format!("user{i}@recharge.ch"), "guess").await;
        assert_eq!(location(&r), "/login?error=credentials");
    }
    let r = app.post_login("user9@recharge.ch", "guess").await;
    assert!(location(&r).starts_with("/login?error=throttled"), "{}", location(&r));
}

#[tokio::test]
async fn a_successful_login_resets_the_account_counter() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    for _ in 0..2 {
        app.post_login("op@recharge.ch", "wrong").await;
    }
    app.login("op@recharge.ch").await;
    for _ in 0..2 {
        assert_eq!(location(&app.post_login("op@recharge.ch", "wrong").await), "/login?error=credentials");
    }
    app.login("op@recharge.ch").await;
}

#[tokio::test]
async fn an_idle_session_expires_and_the_page_says_so() {
    let app = spawn_with(|s| s.sessions.idle = Duration::from_secs(1)).await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("op@recharge.ch").await;
    assert_eq!(app.get("/transactions", Some(&cookie)).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = app.get("/transactions", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?reason=expired&next=%2Ftransactions");
    assert!(
        set_cookies(&r).iter().any(|c| c.starts_with("recharge_session=;")),
        "the stale cookie is removed"
    );
    let page = app.get(&location(&r), None).await.text().await.unwrap();
    assert!(page.contains("Votre session a expiré"), "{page}");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_even_when_used() {
    let app = spawn_with(|s| s.sessions.lifetime = Duration::from_millis(1500)).await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("op@recharge.ch").await;
    for _ in 0..2 {
        assert_eq!(app.post_api("/api/account", Some(&cookie), "").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.post_api("/api/account", Some(&cookie), "").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("op@recharge.ch").await;
    // What an open page asks after a server function failed: is the session still there?
    assert_eq!(app.get("/api/session", Some(&cookie)).await.status(), StatusCode::NO_CONTENT);
    let r = app.client.post(app.url("/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?reason=logged-out");
    assert!(set_cookies(&r).iter().any(|c| c.starts_with("recharge_session=;")));
    // The old token, replayed, is worth nothing.
    assert_eq!(app.post_api("/api/account", Some(&cookie), "").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/session", Some(&cookie)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&app.get("/", Some(&cookie)).await), "/login?reason=expired");
}

#[tokio::test]
async fn a_password_change_ends_every_session_of_the_account() {
    let app = spawn_app().await;
    let id = app.add_user("op@recharge.ch", Role::Operator, None).await;
    let phone = app.login("op@recharge.ch").await;
    let desk = app.login("op@recharge.ch").await;
    app.db
        .set_password(id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", domain::Timestamp::now())
        .await
        .unwrap();
    for c in [&phone, &desk] {
        assert_eq!(app.post_api("/api/account", Some(c), "").await.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn server_functions_answer_401_without_a_session() {
    let app = spawn_app().await;
    for path in ["/api/account", "/api/locale"] {
        let r = app.post_api(path, None, "locale=de").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let forged = app
        .post_api("/api/account", Some("recharge_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "")
        .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_redirect_to_the_login_and_come_back_after_it() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    for (path, next) in [("/", ""), ("/recharge", "?next=%2Frecharge"), ("/nowhere", "?next=%2Fnowhere")] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), format!("/login{next}"));
    }
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "op@recharge.ch"), ("password", PASSWORD), ("next", "/recharge")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/recharge");
    // Never to another site.
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "op@recharge.ch"), ("password", PASSWORD), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn the_chosen_language_is_remembered_for_the_account() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("op@recharge.ch").await;
    assert_eq!(app.post_api("/api/locale", Some(&cookie), "locale=de").await.status(), StatusCode::OK);
    assert_ne!(app.post_api("/api/locale", Some(&cookie), "locale=xx").await.status(), StatusCode::OK);
    // On the next login, anywhere, the language comes back with the session.
    let r = app.post_login("op@recharge.ch", PASSWORD).await;
    assert!(set_cookies(&r).iter().any(|c| c.starts_with("i18n_pref_locale=de")), "{:?}", set_cookies(&r));
    let cookie = format!("{}; i18n_pref_locale=de", session_cookie(&r).unwrap());
    let html = app.get("/", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("Schlüssel aufladen"), "{html}");
}

async fn post_password(
    app: &TestApp,
    cookie: &str,
    current: &str,
    new: &str,
    confirm: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/account/password"))
        .header("cookie", cookie)
        .form(&[("current", current), ("new", new), ("confirm", confirm)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_and_keeps_this_one() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let stolen = app.login("op@recharge.ch").await;
    let here = app.login("op@recharge.ch").await;

    let r = post_password(&app, &here, "wrong", "a new long password", "a new long password").await;
    assert_eq!(location(&r), "/account?error=current");
    let r = post_password(&app, &here, PASSWORD, "a new long password", "another one entirely").await;
    assert_eq!(location(&r), "/account?error=mismatch");
    let r = post_password(&app, &here, PASSWORD, "short", "short").await;
    assert_eq!(location(&r), "/account?error=short");
    let page = app.get("/account?error=short", Some(&here)).await.text().await.unwrap();
    assert!(page.contains("au moins 10 caractères"), "{page}");

    let r = post_password(&app, &here, PASSWORD, "a new long password", "a new long password").await;
    assert_eq!(location(&r), "/account?password=changed");
    let fresh = session_cookie(&r).expect("this browser gets a new session");
    assert_eq!(app.post_api("/api/account", Some(&fresh), "").await.status(), StatusCode::OK);
    for old in [&stolen, &here] {
        assert_eq!(app.post_api("/api/account", Some(old), "").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(location(&app.post_login("op@recharge.ch", PASSWORD).await), "/login?error=credentials");
    assert_eq!(location(&app.post_login("op@recharge.ch", "a new long password").await), "/");
}

#[tokio::test]
async fn a_form_posted_after_the_session_ended_leads_to_the_login() {
    let app = spawn_app().await;
    let r =
        post_password(&app, "recharge_session=gone", PASSWORD, "a new long password", "a new long password")
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?reason=expired");
}

#[tokio::test]
async fn behind_https_cookies_are_secure_and_host_bound() {
    let app = spawn_with(|s| s.secure_cookies = true).await;
    let id = app.add_user("op@recharge.ch", Role::Operator, None).await;
    app.db.set_locale(id, "de").await.unwrap();
    let r = app.post_login("op@recharge.ch", PASSWORD).await;
    let set = set_cookies(&r).into_iter().find(|c| c.starts_with("__Host-recharge_session=")).unwrap();
    assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    // Every cookie of the site, the language's too.
    let locale = set_cookies(&r).into_iter().find(|c| c.starts_with("i18n_pref_locale=de")).unwrap();
    assert!(locale.contains("Secure"), "{locale}");
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    // The plain name is not accepted in this mode.
    let value = set.split(';').next().unwrap().trim_start_matches("__Host-recharge_session=");
    let plain = format!("recharge_session={value}");
    assert_eq!(app.post_api("/api/account", Some(&plain), "").await.status(), StatusCode::UNAUTHORIZED);
    let host = format!("__Host-recharge_session={value}");
    assert_eq!(app.post_api("/api/account", Some(&host), "").await.status(), StatusCode::OK);
}
