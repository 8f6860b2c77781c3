//! The journal's live updates in the browser: an `EventSource` on `/api/events`, which the server feeds
//! with every change of a transaction one may see. The browser reconnects by itself and the server
//! resumes after the last event it got (`Last-Event-ID`). The server ends a stream whose session ended;
//! the browser's reconnection is then refused, and the page goes to the login (`session::check`).

use domain::journal::TxView;

/// Calls `on_tx` with every transaction change after journal version `since` (`None`: from now on), for
/// as long as the calling component lives. Does nothing on the server.
pub fn subscribe(since: Option<i64>, on_tx: impl Fn(TxView) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use futures::StreamExt;
        use gloo_net::eventsource::futures::EventSource;
        use leptos::prelude::on_cleanup;

        let url = since.map_or_else(|| "/api/events".to_owned(), |v| format!("/api/events?since={v}"));
        let Ok(mut source) = EventSource::new(&url) else { return };
        let Ok(mut stream) = source.subscribe("tx") else { return };
        // Set when the page closes the stream itself (it is left), which also ends `stream`.
        let left = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let leaving = left.clone();
        leptos::task::spawn_local(async move {
            while let Some(Ok((_, message))) = stream.next().await {
                if let Some(tx) =
                    message.data().as_string().and_then(|d| serde_json::from_str::<TxView>(&d).ok())
                {
                    on_tx(tx);
                }
            }
            // The browser gave up reconnecting: refused, perhaps because the session ended.
            if !left.load(std::sync::atomic::Ordering::Relaxed) {
                crate::session::check();
            }
        });
        let source = send_wrapper::SendWrapper::new(source);
        on_cleanup(move || {
            leaving.store(true, std::sync::atomic::Ordering::Relaxed);
            source.take().close();
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (since, on_tx);
}
