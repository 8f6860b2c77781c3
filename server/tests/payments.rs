//! Bank files through HTTP: the upload (multipart, bounded, behind the session), the approval that
//! makes one top-up, and each gérance kept to its own.

mod common;

use common::{TestApp, location, spawn_app};
use db::{NewStation, PaymentState, Scope};
use domain::payment::{Creditor, CreditorInput};
use domain::{Amount, GeranceId, PhoneNumber, Role, Timestamp};
use reqwest::StatusCode;
use reqwest::header::COOKIE;

const BOUNDARY: &str = "----recharge-test-boundary";

fn multipart(file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/xml\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(app: &TestApp, cookie: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/payments/import"))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}

fn fixture() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../bank/tests/fixtures/camt054_v08.xml")).unwrap()
}

async fn setup(app: &TestApp) -> (GeranceId, GeranceId) {
    let ours = app.add_gerance("Gérance test").await;
    let theirs = app.add_gerance("Gérance voisine").await;
    app.add_user("admin@test.ch", Role::Admin, Some(ours)).await;
    app.add_user("admin@voisine.ch", Role::Admin, Some(theirs)).await;
    let new = NewStation {
        gerance_id: ours,
        name: "Buanderie",
        place: "Sion",
        phone: &PhoneNumber::parse("+41790000401").unwrap(),
        secret: &[3; 32],
        max_amount: Amount::from_rappen(50_000).unwrap(),
    };
    app.db.create_station(new, Timestamp::now()).await.unwrap();
    let creditor = Creditor::parse(&CreditorInput {
        iban: "CH4431999123000889012".into(),
        name: "Gérance test SA".into(),
        street: "Rue du Lac".into(),
        building: "12".into(),
        postcode: "1950".into(),
        town: "Sion".into(),
        country: "CH".into(),
        ..CreditorInput::default()
    })
    .unwrap();
    app.db.set_creditor(ours, &creditor, None, Timestamp::now()).await.unwrap();
    (ours, theirs)
}

#[tokio::test]
async fn a_bank_file_is_taken_in_once_by_its_gerance_and_nobody_else() {
    let app = spawn_app().await;
    let (ours, _) = setup(&app).await;
    // Without a session nothing is read: to the login.
    let r = upload(&app, None, multipart("camt.xml", &fixture())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
    assert!(app.db.payments(Scope::All, &[PaymentState::Proposal], None, 10).await.unwrap().is_empty());

    // Another gérance's admin: the file is not for its account (it has none).
    let theirs = app.login("admin@voisine.ch").await;
    let r = upload(&app, Some(&theirs), multipart("camt.xml", &fixture())).await;
    assert_eq!(location(&r), "/payments?error=no-creditor");

    let cookie = app.login("admin@test.ch").await;
    let r = upload(&app, Some(&cookie), multipart("camt.xml", &fixture())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/payments?imported="), "{}", location(&r));
    let page = app.get(&location(&r), Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("9 nouveaux, 0 déjà importés"), "the page says what the file gave");
    let again = upload(&app, Some(&cookie), multipart("camt.xml", &fixture())).await;
    let page = app.get(&location(&again), Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("0 nouveaux, 9 déjà importés"));
    let proposals = app.db.payments(Scope::Gerance(ours), &[PaymentState::Proposal], None, 10).await.unwrap();
    assert_eq!(proposals.len(), 2);

    // Approved by the other gérance: nothing; by its own: one top-up; twice: still one.
    let ids = proposals.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join(",");
    let r = app.post_api("/payments/approve", Some(&theirs), &format!("ids={ids}")).await;
    assert_eq!(location(&r), "/payments?error=invalid");
    assert!(app.db.payments(Scope::All, &[PaymentState::Approved], None, 10).await.unwrap().is_empty());
    let one = proposals[0].id;
    let r = app.post_api("/payments/approve", Some(&cookie), &format!("ids={one}")).await;
    assert_eq!(location(&r), "/payments?approved=1");
    let r = app.post_api("/payments/approve", Some(&cookie), &format!("ids={one}")).await;
    assert_eq!(location(&r), "/payments?error=already");
    let approved = app.db.payment(Scope::All, one).await.unwrap().unwrap();
    let tx = app.db.transaction(Scope::All, approved.top_up.unwrap()).await.unwrap().unwrap();
    assert_eq!(
        (tx.payment, tx.sent_by.map(|e| e.to_string())),
        (Some(one), Some("admin@test.ch".to_owned()))
    );
    // The other gérance's page shows none of it.
    let page = app.get("/payments", Some(&theirs)).await.text().await.unwrap();
    assert!(
        !page.contains("Anna Keller") && !page.contains("waiting-payment"),
        "another gérance's payments leaked"
    );
}

#[tokio::test]
async fn refused_files_say_why_and_leave_nothing() {
    let app = spawn_app().await;
    setup(&app).await;
    let cookie = app.login("admin@test.ch").await;
    let cases: [(&[u8], &str); 4] = [
        (b"<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Document>&x;</Document>", "error=doctype"),
        (b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.052.001.08\"/>", "error=version&found=camt.052.001.08"),
        (b"not xml at all", "error=malformed"),
        (b"", "error=invalid"),
    ];
    for (bytes, wanted) in cases {
        let r = upload(&app, Some(&cookie), multipart("x.xml", bytes)).await;
        assert!(location(&r).contains(wanted), "{wanted}: {}", location(&r));
    }
    let other_account =
        String::from_utf8(fixture()).unwrap().replace("CH4431999123000889012", "CH5800791123000889012");
    let r = upload(&app, Some(&cookie), multipart("x.xml", other_account.as_bytes())).await;
    assert!(location(&r).starts_with("/payments?error=wrong-account&found=CH58"), "{}", location(&r));
    // Over 10 MB: refused before it is read whole.
    let big = vec![b' '; 11 * 1024 * 1024];
    let r = upload(&app, Some(&cookie), multipart("big.xml", &big)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let all =
        [PaymentState::Proposal, PaymentState::Exception, PaymentState::Listed, PaymentState::Suggestion];
    assert!(app.db.payments(Scope::All, &all, None, 10).await.unwrap().is_empty());
}

async fn upload_list(app: &TestApp, cookie: &str, station: &str, csv: &str) -> reqwest::Response {
    let mut body =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"station\"\r\n\r\n{station}\r\n")
            .into_bytes();
    body.extend_from_slice(&multipart("keys.csv", csv.as_bytes()));
    app.client
        .post(app.url("/keys/import"))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .header(COOKIE, cookie)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_and_their_bills_are_the_gerance_s_own() {
    let app = spawn_app().await;
    setup(&app).await;
    let cookie = app.login("admin@test.ch").await;
    let theirs = app.login("admin@voisine.ch").await;

    // A list with a bad row: refused whole, the row named on the page.
    let r = upload_list(&app, &cookie, "1", "clé;titulaire;langue\n12;Hans Müller;de\n70000;X;\n").await;
    assert_eq!(location(&r), "/keys?station=1&error=list&why=rows&found=&rows=3.key");
    let page = app.get(&location(&r), Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("ligne 3 : numéro de clé invalide"), "the page names the row");
    assert!(!page.contains("Hans Müller"), "nothing of the list was kept");
    let r =
        upload_list(&app, &cookie, "1", "clé;titulaire;langue\n12;Hans Müller;de\n34586;Anne Dupont;fr\n")
            .await;
    assert_eq!(location(&r), "/keys?station=1&imported=2");
    // Another gérance's admin can neither add to the station nor see its keys.
    let r = upload_list(&app, &theirs, "1", "clé\n99\n").await;
    assert_eq!(location(&r), "/keys?error=station");
    let r = app.post_api("/keys/save", Some(&theirs), "station=1&key=12&name=Eve&state=blocked").await;
    assert_eq!(location(&r), "/keys?error=station");
    let page = app.get("/keys?station=1", Some(&theirs)).await.text().await.unwrap();
    assert!(!page.contains("Hans Müller") && !page.contains("Anne Dupont"), "holder data leaked");
    let page = app.get("/keys?station=1", Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("Hans Müller") && page.contains("Anne Dupont"));

    // Edited by hand: blocked, then refused at the top-up form's level (the registry's state).
    let r = app
        .post_api(
            "/keys/save",
            Some(&cookie),
            "station=1&key=12&name=Hans+M%C3%BCller&flat=1.1&language=de&state=blocked&email=&note=",
        )
        .await;
    assert_eq!(location(&r), "/keys?station=1&saved=00012");
    let key = app.db.key(Scope::All, domain::StationId(1), domain::KeyNumber(12)).await.unwrap().unwrap();
    assert_eq!((key.state.as_str(), key.holder.flat.as_deref()), ("blocked", Some("1.1")));
    let r = app.post_api("/keys/save", Some(&cookie), "station=1&key=12&email=hans%40&state=active").await;
    assert_eq!(location(&r), "/keys?station=1&error=holder");

    // The bills: a PDF for the gérance, nothing for the neighbour.
    let r = app.get("/keys/qr-bill.pdf?station=1&key=34586", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() < 30_000);
    let r = app.get("/keys/qr-bills.pdf?station=1", Some(&cookie)).await;
    let all = r.bytes().await.unwrap();
    assert!(String::from_utf8_lossy(&all).contains("/Count 1"), "only the active key: 12 is blocked");
    let r = app.get("/keys/qr-bill.pdf?station=1&key=34586", Some(&theirs)).await;
    assert_eq!(location(&r), "/keys?error=station");
    let r = app.get("/keys/qr-bill.pdf?station=1&key=34586", None).await;
    assert!(location(&r).starts_with("/login"));
    // Statements: a key's even for an empty year; the station's only when something happened.
    let r = app.get("/keys/statement.pdf?station=1&key=34586&year=2026", Some(&cookie)).await;
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"statement-2026-1-34586.pdf\"");
    let r = app.get("/keys/statements.pdf?station=1&year=2026", Some(&cookie)).await;
    assert_eq!(location(&r), "/keys?station=1&error=nostatement");
    let r = app.get("/keys/statements.csv?station=1&year=1900", Some(&cookie)).await;
    assert_eq!(location(&r), "/keys?station=1&error=year");
    let r = app.get("/keys/statement.pdf?station=1&key=34586&year=2026", Some(&theirs)).await;
    assert_eq!(location(&r), "/keys?error=station");
    // The audit log: the gérance's own lines, none of them for the neighbour.
    let page = app.get("/payments/audit", Some(&cookie)).await.text().await.unwrap();
    assert!(
        page.contains("key list &quot;keys.csv&quot;: 2 keys")
            || page.contains("key list \"keys.csv\": 2 keys"),
        "{page}"
    );
    assert!(page.contains("admin@test.ch"));
    let page = app.get("/payments/audit", Some(&theirs)).await.text().await.unwrap();
    assert!(!page.contains("keys.csv") && page.contains("Aucune opération"), "another gérance's log leaked");
    let r = app.get("/keys/template.csv", Some(&cookie)).await;
    assert!(r.text().await.unwrap().starts_with("key;holder;flat;email;language;state;note"));
}
