//! Forms that call a server function, for the islands.
//!
//! What Leptos's `<ActionForm>` does, without wrapping the form's contents in a type-erased view: that
//! wrapper compiles every form's view once more for each way of hydrating it, and the islands have a dozen
//! forms. A form is `<form action=S::url() method="post" on:submit=submit(action)>`: without WebAssembly
//! it posts to the server function like any form; with it, the submission becomes the action's call and
//! its answer shows in place.

use leptos::form::FromFormData;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// The `submit` handler that dispatches `action` with the form's fields (the button that submitted
/// included); fields that do not make the function's arguments answer an error like the server would.
/// A submission while the previous one is still on its way is ignored (a double click sends once, and
/// its answer is not replaced by the duplicate's). An error answer checks whether the session ended
/// (`session::check`).
pub fn submit<S>(action: ServerAction<S>) -> impl Fn(leptos::ev::SubmitEvent) + 'static
where
    S: ServerFn + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: FromServerFnError + Send + Sync + 'static,
{
    // An answer that is an error may mean the session ended meanwhile.
    Effect::new(move |_| {
        if action.value().with(|answer| matches!(answer, Some(Err(_)))) {
            crate::session::check();
        }
    });
    move |ev| {
        ev.prevent_default();
        if action.pending().get_untracked() {
            return;
        }
        match S::from_event(&ev) {
            Ok(input) => {
                action.dispatch(input);
            }
            Err(err) => {
                let error = S::Error::from_server_fn_error(ServerFnErrorErr::Serialization(err.to_string()));
                action.value().set(Some(Err(error)));
                action.version().update(|n| *n += 1);
            }
        }
    }
}

/// The address the form posts to without WebAssembly: the server function's own.
pub fn url<S>(_: ServerAction<S>) -> &'static str
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    S::url()
}
