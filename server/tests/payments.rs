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
