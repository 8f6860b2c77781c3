//! Server functions: the browser's only way to read or change data besides login and logout.
//!
//! Every one of them is behind the server's session check (`/api/…` answers 401 without a valid session)
//! and reads the verified [`Account`] from the request; nothing the browser sends is taken as identity.

use domain::Account;
use leptos::prelude::*;

/// The logged-in account, for the header.
#[server(endpoint = "account")]
pub async fn current_account() -> Result<Account, ServerFnError> {
    ssr::account().await
}

/// Remembers the language the person chose, so that it follows them to other devices.
#[server(endpoint = "locale")]
pub async fn save_locale(locale: String) -> Result<(), ServerFnError> {
    let account = ssr::account().await?;
    if crate::locale_from_code(&locale).is_none() {
        return Err(ServerFnError::new("unknown language"));
    }
    ssr::db()?.set_locale(account.id, &locale).await.map_err(ssr::internal)?;
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! What server functions need from the host: the verified account and the database.

    use axum::Extension;
    use axum::http::StatusCode;
    use domain::Account;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    /// The account the server's session check attached to this request.
    pub async fn account() -> Result<Account, ServerFnError> {
        match leptos_axum::extract::<Extension<Account>>().await {
            Ok(Extension(account)) => Ok(account),
            Err(_) => {
                if let Some(response) = use_context::<ResponseOptions>() {
                    response.set_status(StatusCode::UNAUTHORIZED);
                }
                Err(ServerFnError::new("not logged in"))
            }
        }
    }

    pub fn db() -> Result<db::Db, ServerFnError> {
        use_context::<db::Db>().ok_or_else(|| ServerFnError::new("the database is not available"))
    }

    /// Logs the details of an internal error and tells the browser only that something failed.
    pub fn internal(e: impl std::fmt::Display) -> ServerFnError {
        tracing::error!(error = %e, "server function failed");
        if let Some(response) = use_context::<ResponseOptions>() {
            response.set_status(StatusCode::INTERNAL_SERVER_ERROR);
        }
        ServerFnError::new("internal error")
    }
}
