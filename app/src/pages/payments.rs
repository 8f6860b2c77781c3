//! *Paiements*: bank files in, what they became, one-click approvals; and the gérance's account.
//!
//! Server-rendered, without an island: every action is a plain form posting to the server's handlers
//! (`server::http::payments`), which answer with a redirect back here and a notice. The file picker is
//! the browser's own, which on a phone offers the files app and the cloud drives.

use domain::notice::{PaymentsNotice, PaymentsProblem as P};
use domain::payment::CreditorField;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{
    CreditorData, ImportView, PaymentView, PaymentsData, StationOption, creditor_page, payments_page,
};
use crate::i18n::*;
use crate::pages::page_locale;
use crate::words::fill;

#[component]
pub fn Payments() -> impl IntoView {
    let locale = page_locale();
    let query = use_query_map();
    let (notice, found) =
        query.with_untracked(|q| (PaymentsNotice::from_query(|name| q.get_str(name)), q.get("found")));
    let import = match notice {
        Some(PaymentsNotice::Imported { import }) => Some(import),
        _ => None,
    };
    let payment = query.with_untracked(|q| q.get("payment").and_then(|p| p.parse::<i64>().ok()));
    let page = AsyncDerived::new(move || payments_page(import, payment));
    view! {
        {super::page_title(td_string!(locale, payments_title))}<h1>{td_string!(locale, payments_title)}</h1>
        <Suspense fallback=|| ()>
            {move || page.get().map(|p| match p {
                Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                Ok(page) => view! { <PaymentsBody locale page notice found=found.clone() /> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn PaymentsBody(
    locale: Locale,
    page: PaymentsData,
    notice: Option<PaymentsNotice>,
    found: Option<String>,
) -> impl IntoView {
    let notice = notice.map(|n| notice_view(locale, n, page.import.as_ref(), found.as_deref()));
    let waiting_ids: Vec<String> = page.waiting.iter().map(|p| p.id.to_string()).collect();
    let approve_all = (waiting_ids.len() > 1).then(|| {
        let label = fill(td_string!(locale, payments_approve_all), &[("count", &waiting_ids.len())]);
        view! {
            <form method="post" action="/payments/approve" class="inline">
                <input type="hidden" name="ids" value=waiting_ids.join(",") />
                <button type="submit" class="primary" data-testid="approve-all">{label}</button>
            </form>
        }
    });
    let stations = StoredValue::new(page.stations.clone());
    let no_account = (!page.account_set).then(|| {
        view! {
            <p class="notice info" role="status">
                {td_string!(locale, payments_no_account)}" "
                <a href="/payments/account">{td_string!(locale, payments_account_link)}</a>
            </p>
        }
    });
    view! {
        {notice}
        {no_account}
        <section class="card stack" aria-labelledby="import-title">
            <h2 id="import-title">{td_string!(locale, payments_import_title)}</h2>
            <p class="muted">{td_string!(locale, payments_import_hint)}</p>
            <form method="post" action="/payments/import" enctype="multipart/form-data" class="stack">
                <label for="file">{td_string!(locale, payments_file)}</label>
                <input id="file" name="file" type="file" required
                    accept=".xml,application/xml,text/xml" data-testid="bank-file" />
                <button type="submit" class="primary">{td_string!(locale, payments_import)}</button>
            </form>
            <p><a href="/payments/account">{td_string!(locale, payments_account_link)}</a></p>
            <p><a href="/keys" data-testid="keys-link">{td_string!(locale, keys_link)}</a></p>
            <p><a href="/payments/audit" data-testid="audit-link">{td_string!(locale, audit_title)}</a></p>
        </section>
        <section aria-labelledby="waiting-title" data-testid="waiting">
            <h2 id="waiting-title">{td_string!(locale, payments_waiting)}" ("{page.waiting.len()}")"</h2>
            {approve_all}
            {if page.waiting.is_empty() {
                view! { <p class="muted">{td_string!(locale, payments_none_waiting)}</p> }.into_any()
            } else {
                view! {
                    <ul class="payments">
                        {page.waiting.into_iter().map(|p| view! { <Waiting locale p /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="exceptions-title" data-testid="exceptions">
            <h2 id="exceptions-title">{td_string!(locale, payments_exceptions)}" ("{page.exceptions.len()}")"</h2>
            {if page.exceptions.is_empty() {
                view! { <p class="muted">{td_string!(locale, payments_none_exceptions)}</p> }.into_any()
            } else {
                view! {
                    <ul class="payments">
                        {page.exceptions.into_iter().map(|p| view! { <ExceptionItem locale p stations=stations.get_value() /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        {(!page.done.is_empty()).then(|| view! {
            <section aria-labelledby="done-title" data-testid="done">
                <h2 id="done-title">{td_string!(locale, payments_done)}</h2>
                <ul class="payments">
                    {page.done.into_iter().map(|p| view! { <Done locale p /> }).collect_view()}
                </ul>
            </section>
        })}
    }
}

fn notice_view(
    locale: Locale,
    notice: PaymentsNotice,
    import: Option<&ImportView>,
    found: Option<&str>,
) -> impl IntoView + use<> {
    let text = match notice {
        PaymentsNotice::Imported { .. } => match import {
            Some(i) => fill(
                td_string!(locale, payments_imported),
                &[
                    ("file", &i.file),
                    ("format", &i.format),
                    ("new", &i.new),
                    ("duplicates", &i.duplicates),
                    ("proposals", &i.proposals),
                    ("suggestions", &i.suggestions),
                    ("exceptions", &i.exceptions),
                    ("listed", &i.listed),
                    ("approved", &i.approved),
                ],
            ),
            None => String::new(),
        },
        PaymentsNotice::Approved { count } => {
            fill(td_string!(locale, payments_approved), &[("count", &count)])
        }
        PaymentsNotice::SetAside => td_string!(locale, payments_set_aside).to_owned(),
        PaymentsNotice::Saved => td_string!(locale, creditor_saved).to_owned(),
        PaymentsNotice::Problem(p) => problem_text(locale, p),
    };
    let found = found.filter(|_| notice.is_error()).map(|f| {
        view! { <br /><span class="muted">{fill(td_string!(locale, payments_found), &[("found", &f)])}</span> }
    });
    let class = if notice.is_error() { "notice error" } else { "notice info" };
    view! { <p class=class role="alert" data-testid="payments-notice">{text}{found}</p> }
}

pub(crate) fn problem_text(locale: Locale, p: P) -> String {
    match p {
        P::Invalid => td_string!(locale, payments_error_invalid),
        P::TooLarge => td_string!(locale, payments_error_too_large),
        P::Malformed => td_string!(locale, payments_error_malformed),
        P::Doctype => td_string!(locale, payments_error_doctype),
        P::Entity => td_string!(locale, payments_error_entity),
        P::Encoding => td_string!(locale, payments_error_encoding),
        P::NotCamt => td_string!(locale, payments_error_not_camt),
        P::Version => td_string!(locale, payments_error_version),
        P::NoIban => td_string!(locale, payments_error_no_iban),
        P::BadEntry => td_string!(locale, payments_error_bad_entry),
        P::WrongAccount => td_string!(locale, payments_error_wrong_account),
        P::UnknownAccount => td_string!(locale, payments_error_unknown_account),
        P::NoCreditor => td_string!(locale, payments_error_no_creditor),
        P::AlreadyApproved => td_string!(locale, payments_error_already),
        P::NotOpen => td_string!(locale, payments_error_not_open),
        P::NoKey => td_string!(locale, payments_error_no_key),
        P::KeyBlocked => td_string!(locale, payments_error_key_blocked),
        P::KeyRetired => td_string!(locale, payments_error_key_retired),
        P::AboveMaximum => td_string!(locale, payments_error_maximum),
        P::NothingToLoad => td_string!(locale, payments_error_nothing),
        P::UnknownStation => td_string!(locale, payments_error_station),
        P::Key => td_string!(locale, payments_error_key),
        P::Reason => td_string!(locale, payments_error_reason),
        P::Creditor => td_string!(locale, payments_error_creditor),
        P::AccountTaken => td_string!(locale, payments_error_account_taken),
        P::Busy => td_string!(locale, payments_error_busy),
        P::Unavailable => td_string!(locale, payments_error_unavailable),
    }
    .to_owned()
}

fn reason_text(locale: Locale, code: &str) -> String {
    match code {
        "no_key" => td_string!(locale, exception_no_key),
        "reference_check_digit" => td_string!(locale, exception_reference_check_digit),
        "wrong_reference_kind" => td_string!(locale, exception_wrong_reference_kind),
        "not_our_station" => td_string!(locale, exception_not_our_station),
        "ambiguous" => td_string!(locale, exception_ambiguous),
        "key_blocked" => td_string!(locale, exception_key_blocked),
        "key_retired" => td_string!(locale, exception_key_retired),
        "above_maximum" => td_string!(locale, exception_above_maximum),
        "nothing_to_load" => td_string!(locale, exception_nothing_to_load),
        "debit" => td_string!(locale, listed_debit),
        "reversal" => td_string!(locale, listed_reversal),
        "not_chf" => td_string!(locale, listed_not_chf),
        "not_booked" => td_string!(locale, listed_not_booked),
        // A person's words (set aside).
        other => return other.to_owned(),
    }
    .to_owned()
}

/// What every payment shows: amount, date, who paid, reference or text.
fn facts(p: &PaymentView) -> impl IntoView + use<> {
    let who = p.debtor.clone().unwrap_or_default();
    let when = p.booked.clone().unwrap_or_default();
    let said = p.reference.clone().or_else(|| p.text.clone());
    let text = p.reference.as_ref().and(p.text.clone());
    view! {
        <p class="payment-head"><strong class="amount">{p.amount.clone()}</strong>" "<span class="muted">{when}</span></p>
        <p>{who}</p>
        {said.map(|s| view! { <p class="muted mono">{s}</p> })}
        {text.map(|s| view! { <p class="muted">{s}</p> })}
    }
}

#[component]
fn Waiting(locale: Locale, p: PaymentView) -> impl IntoView {
    let kind = if p.state == "proposal" {
        td_string!(locale, payments_by_reference)
    } else {
        td_string!(locale, payments_by_text)
    };
    let load = p.load.clone().map(|l| {
        let mut s = fill(td_string!(locale, payments_loads), &[("load", &l)]);
        if let Some(fee) = &p.fee {
            s.push_str(" · ");
            s.push_str(&fill(td_string!(locale, payments_fee), &[("fee", fee)]));
        }
        s
    });
    let id = p.id.to_string();
    view! {
        <li class="card payment" data-testid="waiting-payment" data-state=p.state.clone()>
            {facts(&p)}
            <p><span class="tag">{kind}</span></p>
            <p><strong>{p.key.clone()}</strong></p>
            <p>{load}</p>
            <form method="post" action="/payments/approve">
                <input type="hidden" name="ids" value=id />
                <button type="submit" class="primary" data-testid="approve">{td_string!(locale, payments_approve)}</button>
            </form>
        </li>
    }
}

#[component]
fn ExceptionItem(locale: Locale, p: PaymentView, stations: Vec<StationOption>) -> impl IntoView {
    let reason = p.reason.as_deref().map(|r| reason_text(locale, r));
    let id = p.id.to_string();
    let (station_id, key_id, reason_id) =
        (format!("station-{id}"), format!("key-{id}"), format!("reason-{id}"));
    let key_value = p.key_number.map(|k| k.to_string()).unwrap_or_default();
    let chosen = p.station;
    view! {
        <li class="card payment" data-testid="exception-payment">
            {facts(&p)}
            <p><span class="tag warn">{reason}</span></p>
            <details class="confirm">
                <summary class="action">{td_string!(locale, payments_assign_to)}</summary>
                <form method="post" action="/payments/assign" class="stack">
                    <input type="hidden" name="id" value=id.clone() />
                    <label for=station_id.clone()>{td_string!(locale, payments_station)}</label>
                    <select id=station_id name="station" required>
                        {stations.into_iter().map(|s| view! {
                            <option value=s.id.to_string() selected=chosen == Some(s.id)>{s.label}</option>
                        }).collect_view()}
                    </select>
                    <label for=key_id.clone()>{td_string!(locale, payments_key)}</label>
                    <input id=key_id name="key" value=key_value inputmode="numeric" pattern="[0-9]{1,5}" maxlength="5" required autocomplete="off" />
                    <button type="submit" class="primary" data-testid="assign">{td_string!(locale, payments_assign)}</button>
                </form>
            </details>
            <details class="confirm">
                <summary class="action">{td_string!(locale, payments_aside)}</summary>
                <form method="post" action="/payments/aside" class="stack">
                    <input type="hidden" name="id" value=id />
                    <label for=reason_id.clone()>{td_string!(locale, payments_aside_reason)}</label>
                    <input id=reason_id name="reason" maxlength="200" required />
                    <button type="submit" class="plain" data-testid="aside">{td_string!(locale, payments_aside)}</button>
                </form>
            </details>
        </li>
    }
}

#[component]
fn Done(locale: Locale, p: PaymentView) -> impl IntoView {
    let state = match p.state.as_str() {
        "approved" => td_string!(locale, payments_state_approved),
        "set_aside" => td_string!(locale, payments_state_set_aside),
        _ => td_string!(locale, payments_state_listed),
    };
    let by = match (&p.decided_by, p.state.as_str()) {
        (Some(who), _) => Some(fill(td_string!(locale, payments_by), &[("who", who)])),
        (None, "approved") => Some(td_string!(locale, payments_auto).to_owned()),
        _ => None,
    };
    let reason = p.reason.as_deref().map(|r| reason_text(locale, r));
    let link = match (p.top_up, p.station, p.key_number) {
        (Some(tx), Some(station), Some(key)) => Some(view! {
            <a href=format!("/transactions?station={station}&key={key}") data-testid="top-up-link">
                {fill(td_string!(locale, payments_topup_link), &[("id", &tx)])}
            </a>
        }),
        _ => None,
    };
    view! {
        <li class="card payment" data-testid="done-payment" id=format!("p-{}", p.id)>
            {facts(&p)}
            <p><span class="tag">{state}</span>" "{by}" "{reason}</p>
            <p>{p.key.clone()}" "{link}</p>
        </li>
    }
}

/// The gérance's account and payment settings.
#[component]
pub fn PaymentsAccount() -> impl IntoView {
    let locale = page_locale();
    let query = use_query_map();
    let (notice, chosen, bad, typed) = query.with_untracked(|q| {
        let notice = PaymentsNotice::from_query(|name| q.get_str(name));
        let chosen = q.get("gerance").and_then(|g| g.parse::<i64>().ok());
        let bad: Vec<CreditorField> =
            q.get("bad").unwrap_or_default().split(',').filter_map(CreditorField::from_code).collect();
        // What was typed, when the form came back refused.
        let typed = matches!(notice, Some(PaymentsNotice::Problem(_)))
            .then(|| domain::payment::CreditorInput {
                iban: q.get("iban").unwrap_or_default(),
                name: q.get("name").unwrap_or_default(),
                street: q.get("street").unwrap_or_default(),
                building: q.get("building").unwrap_or_default(),
                postcode: q.get("postcode").unwrap_or_default(),
                town: q.get("town").unwrap_or_default(),
                country: q.get("country").unwrap_or_default(),
                qrr_prefix: q.get("qrr_prefix").unwrap_or_default(),
                bill_amount: q.get("bill_amount").unwrap_or_default(),
                fee_fixed: q.get("fee_fixed").unwrap_or_default(),
                fee_percent: q.get("fee_percent").unwrap_or_default(),
                auto_approve: q.get("auto_approve").unwrap_or_default(),
            })
            .filter(|t| !t.iban.is_empty() || !t.name.is_empty());
        (notice, chosen, bad, typed)
    });
    let page = AsyncDerived::new(move || creditor_page(chosen));
    view! {
        <div class="narrow">
            {super::page_title(td_string!(locale, creditor_title))}<h1>{td_string!(locale, creditor_title)}</h1>
            <p><a href="/payments">{td_string!(locale, creditor_back)}</a></p>
            {notice.map(|n| notice_view(locale, n, None, None))}
            <Suspense fallback=|| ()>
                {move || page.get().map(|p| match p {
                    Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                    Ok(page) => view! { <CreditorForm locale page bad=bad.clone() typed=typed.clone() /> }.into_any(),
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn CreditorForm(
    locale: Locale,
    page: CreditorData,
    bad: Vec<CreditorField>,
    typed: Option<domain::payment::CreditorInput>,
) -> impl IntoView {
    let chooser = (!page.gerances.is_empty()).then(|| {
        let current = page.gerance.as_ref().map(|(id, _)| *id);
        view! {
            <form method="get" action="/payments/account" class="stack card">
                <label for="gerance-choice">{td_string!(locale, creditor_gerance)}</label>
                <select id="gerance-choice" name="gerance">
                    {page.gerances.iter().map(|(id, name)| view! {
                        <option value=id.to_string() selected=current == Some(*id)>{name.clone()}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class="plain">{td_string!(locale, creditor_choose)}</button>
            </form>
        }
    });
    let Some((gerance, gerance_name)) = page.gerance.clone() else {
        return view! { {chooser} }.into_any();
    };
    let v = typed.unwrap_or(page.input);
    let bad = StoredValue::new(bad);
    let error = move |fields: &'static [&'static str], id: &'static str| {
        let found = bad.with_value(|b| b.iter().copied().find(|f| fields.contains(&f.code())));
        found.map(|f| {
            let text = match f {
                CreditorField::Iban(domain::payment::PaymentError::IbanCheckDigits) => {
                    td_string!(locale, creditor_bad_iban_check)
                }
                CreditorField::Iban(domain::payment::PaymentError::IbanNotSwiss) => {
                    td_string!(locale, creditor_bad_iban_swiss)
                }
                CreditorField::Iban(_) => td_string!(locale, creditor_bad_iban),
                CreditorField::Country => td_string!(locale, creditor_bad_country),
                CreditorField::QrrPrefix(domain::payment::PaymentError::QrrNeedsQrIban) => {
                    td_string!(locale, creditor_bad_prefix_qr_iban)
                }
                CreditorField::QrrPrefix(_) => td_string!(locale, creditor_bad_prefix),
                CreditorField::BillAmount | CreditorField::AutoApprove => {
                    td_string!(locale, creditor_bad_amount)
                }
                CreditorField::Fee => td_string!(locale, creditor_bad_fee),
                _ => td_string!(locale, creditor_bad_text),
            };
            view! { <p class="field-error" id=id role="alert">{text}</p> }
        })
    };
    let invalid = move |fields: &'static [&'static str]| {
        bad.with_value(|b| b.iter().any(|f| fields.contains(&f.code()))).then_some("true")
    };
    const IBAN: &[&str] = &["iban", "iban-check", "iban-swiss"];
    const PREFIX: &[&str] = &["prefix", "prefix-qr-iban"];
    let kind = page.kind.as_deref().map(|k| match k {
        "QRR" => td_string!(locale, creditor_kind_qrr),
        _ => td_string!(locale, creditor_kind_scor),
    });
    view! {
        {chooser}
        <p class="muted">{td_string!(locale, creditor_intro)}</p>
        <form method="post" action="/payments/account" class="stack card" data-testid="creditor-form">
            <input type="hidden" name="gerance" value=gerance.to_string() />
            <p><strong>{gerance_name}</strong></p>
            <label for="iban">{td_string!(locale, creditor_iban)}</label>
            <input id="iban" name="iban" value=v.iban required maxlength="42" autocomplete="off" spellcheck="false"
                aria-describedby="iban-hint iban-error" aria-invalid=invalid(IBAN) />
            <p class="field-hint" id="iban-hint">{td_string!(locale, creditor_iban_hint)}" "{kind}</p>
            {error(IBAN, "iban-error")}
            <label for="name">{td_string!(locale, creditor_name)}</label>
            <input id="name" name="name" value=v.name required maxlength="70" autocomplete="organization"
                aria-describedby="name-error" aria-invalid=invalid(&["name"]) />
            {error(&["name"], "name-error")}
            <label for="street">{td_string!(locale, creditor_street)}</label>
            <input id="street" name="street" value=v.street required maxlength="70" autocomplete="address-line1"
                aria-describedby="street-error" aria-invalid=invalid(&["street"]) />
            {error(&["street"], "street-error")}
            <label for="building">{td_string!(locale, creditor_building)}</label>
            <input id="building" name="building" value=v.building maxlength="16"
                aria-describedby="building-error" aria-invalid=invalid(&["building"]) />
            {error(&["building"], "building-error")}
            <label for="postcode">{td_string!(locale, creditor_postcode)}</label>
            <input id="postcode" name="postcode" value=v.postcode required maxlength="16" autocomplete="postal-code"
                aria-describedby="postcode-error" aria-invalid=invalid(&["postcode"]) />
            {error(&["postcode"], "postcode-error")}
            <label for="town">{td_string!(locale, creditor_town)}</label>
            <input id="town" name="town" value=v.town required maxlength="35" autocomplete="address-level2"
                aria-describedby="town-error" aria-invalid=invalid(&["town"]) />
            {error(&["town"], "town-error")}
            <label for="country">{td_string!(locale, creditor_country)}</label>
            <input id="country" name="country" value=v.country required maxlength="2" autocomplete="country"
                aria-describedby="country-error" aria-invalid=invalid(&["country"]) />
            {error(&["country"], "country-error")}
            <h2>{td_string!(locale, creditor_settings)}</h2>
            <label for="qrr_prefix">{td_string!(locale, creditor_prefix)}</label>
            <input id="qrr_prefix" name="qrr_prefix" value=v.qrr_prefix maxlength="10" inputmode="numeric"
                aria-describedby="prefix-error" aria-invalid=invalid(PREFIX) />
            {error(PREFIX, "prefix-error")}
            <label for="bill_amount">{td_string!(locale, creditor_bill_amount)}</label>
            <input id="bill_amount" name="bill_amount" value=v.bill_amount inputmode="decimal"
                aria-describedby="bill-error" aria-invalid=invalid(&["bill_amount"]) />
            {error(&["bill_amount"], "bill-error")}
            <label for="fee_fixed">{td_string!(locale, creditor_fee_fixed)}</label>
            <input id="fee_fixed" name="fee_fixed" value=v.fee_fixed inputmode="decimal"
                aria-describedby="fee-error" aria-invalid=invalid(&["fee"]) />
            <label for="fee_percent">{td_string!(locale, creditor_fee_percent)}</label>
            <input id="fee_percent" name="fee_percent" value=v.fee_percent inputmode="decimal"
                aria-describedby="fee-error" aria-invalid=invalid(&["fee"]) />
            {error(&["fee"], "fee-error")}
            <label for="auto_approve">{td_string!(locale, creditor_auto)}</label>
            <input id="auto_approve" name="auto_approve" value=v.auto_approve inputmode="decimal"
                aria-describedby="auto-hint auto-error" aria-invalid=invalid(&["auto_approve"]) />
            <p class="field-hint" id="auto-hint">{td_string!(locale, creditor_auto_hint)}</p>
            {error(&["auto_approve"], "auto-error")}
            <button type="submit" class="primary" data-testid="save-creditor">{td_string!(locale, creditor_save)}</button>
        </form>
    }
    .into_any()
}
