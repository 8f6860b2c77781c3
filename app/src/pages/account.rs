//! The person's own account: who they are, and changing their password (a real POST form to the server's
//! `/account/password`, like the login).

use domain::Role;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::current_account;
use crate::i18n::*;

#[component]
pub fn Account() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let account = AsyncDerived::new(current_account);
    let notice = move || {
        query.with(|q| {
            use domain::notice::PasswordNotice as Notice;
            let notice = Notice::from_query(|name| q.get_str(name))?;
            let text = match notice {
                Notice::Changed => t!(i18n, account_changed).into_any(),
                Notice::Current => t!(i18n, account_error_current).into_any(),
                Notice::Mismatch => t!(i18n, account_error_mismatch).into_any(),
                Notice::Short => t!(i18n, account_error_short).into_any(),
                Notice::Long => t!(i18n, account_error_long).into_any(),
                Notice::Throttled { retry_secs } => {
                    crate::words::fill(t_string!(i18n, login_error_throttled), &[("seconds", &retry_secs)])
                        .into_any()
                }
                Notice::Unavailable => t!(i18n, login_error_unavailable).into_any(),
                Notice::Invalid => t!(i18n, login_error_invalid).into_any(),
            };
            let class = if notice.is_error() { "notice error" } else { "notice info" };
            Some(view! { <p class=class role="alert" data-testid="account-notice">{text}</p> })
        })
    };
    view! {
        <div class="narrow">
            {super::page_title(t_string!(i18n, account_title))}<h1>{t!(i18n, account_title)}</h1>
            <Transition>
                {move || account.get().and_then(Result::ok).map(|a| {
                    let role = match a.role {
                        Role::Operator => t_string!(i18n, role_operator).to_string(),
                        Role::Admin => t_string!(i18n, role_admin).to_string(),
                    };
                    let gerance = a.gerance.map(|g| format!(" · {}", g.name)).unwrap_or_default();
                    view! {
                        <p class="card">
                            <strong>{a.email.to_string()}</strong>
                            <br />
                            <span class="muted">{role}{gerance}</span>
                        </p>
                    }
                })}
            </Transition>
            <h2>{t!(i18n, account_password)}</h2>
            {notice}
            <form method="post" action="/account/password" class="stack card">
                <label for="current">{t!(i18n, account_current)}</label>
                <input id="current" name="current" type="password" autocomplete="current-password" required />
                <label for="new">{t!(i18n, account_new)}</label>
                <input id="new" name="new" type="password" autocomplete="new-password" required minlength="10" maxlength="256" />
                <label for="confirm">{t!(i18n, account_confirm)}</label>
                <input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="10" maxlength="256" />
                <button type="submit" class="primary">{t!(i18n, account_submit)}</button>
            </form>
        </div>
    }
}
