//! *Journal d'audit*: every money action, newest first — bank files taken in (with their SHA-256),
//! approvals, assignments, set-asides, settings, typed top-ups, cancellations, keys. Read only: the
//! database refuses to change a line.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{AuditData, audit_page};
use crate::i18n::*;
use crate::pages::page_locale;

#[component]
pub fn Audit() -> impl IntoView {
    let locale = page_locale();
    let before = use_query_map().with_untracked(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    let page = AsyncDerived::new(move || audit_page(before));
    view! {
        {super::page_title(td_string!(locale, audit_title))}<h1>{td_string!(locale, audit_title)}</h1>
        <p class="muted">{td_string!(locale, audit_hint)}</p>
        <Suspense fallback=|| ()>
            {move || page.get().map(|p| match p {
                Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                Ok(page) => view! { <AuditBody locale page /> }.into_any(),
            })}
        </Suspense>
    }
}

fn action_label(locale: Locale, action: &str) -> &'static str {
    match action {
        "import" => td_string!(locale, audit_import),
        "approve" => td_string!(locale, audit_approve),
        "auto_approve" => td_string!(locale, audit_auto_approve),
        "assign" => td_string!(locale, audit_assign),
        "set_aside" => td_string!(locale, audit_set_aside),
        "settings" => td_string!(locale, audit_settings),
        "top_up" => td_string!(locale, audit_top_up),
        "cancel" => td_string!(locale, audit_cancel),
        _ => td_string!(locale, audit_key),
    }
}

#[component]
fn AuditBody(locale: Locale, page: AuditData) -> impl IntoView {
    if page.entries.is_empty() {
        return view! { <p class="muted">{td_string!(locale, audit_none)}</p> }.into_any();
    }
    let system = td_string!(locale, audit_system);
    let rows = page
        .entries
        .into_iter()
        .map(|e| {
            view! {
                <li class="card payment" data-testid="audit-entry" data-action=e.action.clone()>
                    <p class="payment-head"><strong>{action_label(locale, &e.action)}</strong>" "<span class="muted">{e.at}</span></p>
                    <p>{e.subject}</p>
                    <p class="muted mono">{e.details}</p>
                    <p class="muted">{e.by.unwrap_or_else(|| system.to_owned())}</p>
                </li>
            }
        })
        .collect_view();
    let older = page.older.map(|id| {
        view! { <p><a class="button plain" href=format!("/payments/audit?before={id}")>{td_string!(locale, audit_older)}</a></p> }
    });
    view! {
        <ul class="payments" data-testid="audit">{rows}</ul>
        {older}
    }
    .into_any()
}
