//! What every response carries, and how bad requests are answered.

mod common;

use common::*;
use domain::Role;
use reqwest::StatusCode;

#[tokio::test]
async fn pages_carry_a_nonce_policy_that_their_own_scripts_satisfy() {
    let app = spawn_app().await;
    let r = app.get("/login", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let html = r.text().await.unwrap();
    // Every inline script with content carries this response's nonce.
    for script in html.split("<script").skip(1) {
        let (attrs, rest) = script.split_once('>').unwrap();
        let body = rest.split("</script>").next().unwrap();
        if !attrs.contains("src=") && !body.trim().is_empty() {
            assert!(attrs.contains(&format!("nonce=\"{nonce}\"")), "script without nonce: <script{attrs}>");
        }
    }
    assert!(!html.contains(" style=\""), "inline styles would break style-src 'self'");
    // A new response gets a new nonce.
    let again = app.get("/login", None).await;
    assert_ne!(again.headers()["content-security-policy"].to_str().unwrap(), csp);
}

#[tokio::test]
async fn the_login_page_is_a_real_form_and_french_by_default() {
    let app = spawn_app().await;
    let html = app.get("/login", None).await.text().await.unwrap();
    assert!(html.contains(r#"<form method="post" action="/login""#), "{html}");
    assert!(html.contains("Adresse e-mail") && html.contains("Mot de passe"), "{html}");
    assert!(html.contains(r#"lang="fr""#), "{html}");
    let de =
        app.client.get(app.url("/login")).header("accept-language", "de-CH,de;q=0.9").send().await.unwrap();
    let html = de.text().await.unwrap();
    assert!(html.contains("Passwort"), "{html}");
}

#[tokio::test]
async fn the_page_comes_before_its_webassembly() {
    let app = spawn_app().await;
    let html = app.get("/login", None).await.text().await.unwrap();
    // Nothing fetches the WebAssembly while the page itself is loading: no preload, and the loader
    // waits for the page's load event.
    assert!(!html.contains("rel=\"preload\"") && !html.contains("rel=\"modulepreload\""), "{html}");
    let loader = html.split("<script").find(|s| s.contains(".wasm")).expect("a WebAssembly loader");
    assert!(loader.contains("addEventListener(\"load\"") && loader.contains("m.hydrate()"), "{loader}");
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("op@recharge.ch").await;
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/api/locale"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("locale", "de")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "op@recharge.ch"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no login CSRF either");
    // The session survived the forged logout.
    assert_eq!(app.post_api("/api/account", Some(&cookie), "").await.status(), StatusCode::OK);
    // The same request from the app's own origin works.
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn oversized_requests_get_413_with_a_readable_body() {
    let app = spawn_app().await;
    let big = format!("email=a%40b.ch&password={}", "x".repeat(100_000));
    let r = app.post_api("/login", None, &big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!r.text().await.unwrap().is_empty());
    // Server functions read their bodies themselves: the limit holds there too.
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("op@recharge.ch").await;
    let big = format!("locale={}", "x".repeat(100_000));
    let r = app.post_api("/api/locale", Some(&cookie), &big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_addresses_get_404_once_logged_in() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("op@recharge.ch").await;
    let r = app.get("/no/such/page", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("Page introuvable"));
    let r = app.post_api("/api/no_such_function", Some(&cookie), "").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("No such server function"));
}

#[tokio::test]
async fn the_pwa_files_are_public() {
    let app = spawn_app().await;
    let manifest = app.get("/manifest.webmanifest", None).await;
    assert_eq!(manifest.status(), StatusCode::OK);
    let m: serde_json::Value = serde_json::from_str(&manifest.text().await.unwrap()).unwrap();
    assert_eq!(m["start_url"], "/");
    assert_eq!(m["display"], "standalone");
    let sizes: Vec<_> = m["icons"].as_array().unwrap().iter().map(|i| i["sizes"].as_str().unwrap()).collect();
    assert!(sizes.contains(&"192x192") && sizes.contains(&"512x512"));
    assert!(m["icons"].as_array().unwrap().iter().any(|i| i["purpose"] == "maskable"));
    for path in ["/sw.js", "/pwa.js", "/icons/icon-192.png", "/icons/icon-512.png", "/offline.html"] {
        assert_eq!(app.get(path, None).await.status(), StatusCode::OK, "{path}");
    }
}

/// The nonce of a response's policy, and whether every inline script of its page carries it.
fn nonce_policy_holds(csp: Option<&str>, html: &str) -> Result<(), String> {
    let csp = csp.ok_or("no Content-Security-Policy")?;
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .ok_or_else(|| format!("a policy without a nonce: {csp}"))?;
    let mut inline = 0;
    for script in html.split("<script").skip(1) {
        let (attrs, rest) = script.split_once('>').ok_or("a cut script tag")?;
        let body = rest.split("</script>").next().unwrap_or("");
        if !attrs.contains("src=") && !body.trim().is_empty() {
            inline += 1;
            if !attrs.contains(&format!("nonce=\"{nonce}\"")) {
                return Err(format!("<script{attrs}> lacks the policy's nonce {nonce}"));
            }
        }
    }
    if inline == 0 {
        return Err("no inline script: the hydration bootstrap is missing".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_carries_its_own_policy_under_concurrent_requests() {
    let app = spawn_app().await;
    let gerance = app.add_gerance("Gérance A").await;
    app.add_user("a@example.ch", Role::Admin, Some(gerance)).await;
    let cookie = app.login("a@example.ch").await;
    let pages = ["/login", "/", "/transactions", "/recharge", "/stations", "/account", "/no-such-page"];
    let files = ["/pwa.js", "/sw.js", "/manifest.webmanifest", "/icons/icon-192.png", "/offline.html"];
    let mut failures = Vec::new();
    let mut checked = 0;
    for _round in 0..20 {
        let mut requests = tokio::task::JoinSet::new();
        for (i, path) in pages.iter().chain(files.iter()).enumerate() {
            let client = app.client.clone();
            let url = app.url(path);
            let cookie = cookie.clone();
            let page = i < pages.len();
            let path = path.to_string();
            requests.spawn(async move {
                // The login page is asked for without the session (with it, it redirects).
                let mut r = client.get(url);
                if path != "/login" {
                    r = r.header("cookie", cookie);
                }
                let r = r.send().await.unwrap();
                assert!(r.status().is_success() || r.status() == 404, "{path}: {}", r.status());
                let csp = r.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
                let html = r.text().await.unwrap();
                (page, path, csp, html)
            });
        }
        while let Some(done) = requests.join_next().await {
            let (page, path, csp, html) = done.unwrap();
            if page {
                checked += 1;
                if let Err(e) = nonce_policy_holds(csp.as_deref(), &html) {
                    failures.push(format!("{path}: {e}"));
                }
            }
        }
    }
    assert_eq!(checked, 20 * pages.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} pages: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}

#[tokio::test]
async fn a_page_reached_through_a_static_directory_is_refused_without_a_session() {
    let app = spawn_app().await;
    // reqwest would normalise `..` itself: the request line is written by hand.
    for path in
        ["/pkg/../transactions", "/icons/../transactions", "/pkg/%2e%2e/transactions", "//transactions"]
    {
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(!answer.contains("<html"), "{path}: a page was rendered: {answer}");
    }
    // A file that is not there in a static directory is a plain 404, not the app's page.
    let r = app.get("/pkg/no-such-file.js", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.unwrap().contains("<html"));
    // An unknown page is still the app's 404 page, with its own policy.
    let gerance = app.add_gerance("Gérance A").await;
    app.add_user("a@example.ch", Role::Admin, Some(gerance)).await;
    let cookie = app.login("a@example.ch").await;
    let r = app.get("/no-such-page", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let csp = r.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
    let html = r.text().await.unwrap();
    nonce_policy_holds(csp.as_deref(), &html).unwrap();
}

#[tokio::test]
async fn malformed_server_function_arguments_get_400_with_a_readable_body() {
    let app = spawn_app().await;
    let gerance = app.add_gerance("Gérance A").await;
    app.add_user("a@example.ch", Role::Admin, Some(gerance)).await;
    let cookie = app.login("a@example.ch").await;
    for (path, body) in [
        ("/api/topup", "station=1&key=2"),
        ("/api/transaction", "id=not-a-number"),
        ("/api/journal", "params=%7B%7D%7D"),
        ("/api/cancel", ""),
    ] {
        let r = app.post_api(path, Some(&cookie), body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        let text = r.text().await.unwrap();
        assert!(text.contains("fields") && !text.contains('|'), "{path}: {text}");
    }
}

#[tokio::test]
async fn forms_that_create_a_secret_are_refused_without_script_and_create_nothing() {
    let app = spawn_app().await;
    app.add_user("op@example.ch", Role::Operator, None).await;
    let cookie = app.login("op@example.ch").await;
    let gerance = app.add_gerance("Gérance A").await;
    let body = format!("gerance={gerance}&name=Station&place=Sion&phone=%2B41790000101&max=500.00");
    let answer = app.post_without_script("/api/save_station", "/stations", &cookie, &body).await;
    assert_eq!(answer, "/stations?error=script");
    assert!(app.db.list_stations(db::Scope::All).await.unwrap().is_empty());
    let body = "email=new%40example.ch&role=operator";
    let answer = app.post_without_script("/api/create_account", "/admin", &cookie, body).await;
    assert_eq!(answer, "/admin?error=script");
    assert!(
        app.db.user_auth_by_email(&domain::Email::parse("new@example.ch").unwrap()).await.unwrap().is_none()
    );
    let page = app.get("/admin?error=script", Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("Rien n&#x27;a été créé") || page.contains("Rien n'a été créé"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_says_nothing_does_not_hold_the_server_when_it_stops() {
    let app = spawn_app().await;
    let silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // Its connection is accepted and waits for its first bytes (the head deadline is 10 s).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let app = app.restart().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the stop waited {:?} for a connection that asked nothing",
        started.elapsed()
    );
    drop((silent, app));
}
