//! The journal's live updates in the browser: an `EventSource` on `/api/events`, which the server feeds
//! with every change of a transaction one may see.
//!
//! The browser reconnects by itself after a lost connection, and the server resumes after the last
//! event it got (`Last-Event-ID`). A connection error does not end the subscription: the page is told
//! that it is not live (and since when), and when the stream opens again it is told so, to read its
//! data again at once rather than wait for the next change. When the browser gives up (a reconnection
//! refused: perhaps the session ended, or the server was restarting) the session is checked — an ended
//! session leads to the login (`session::check`) — and a new stream is opened a few seconds later,
//! from the last event received.

use domain::journal::TxView;

/// Whether a page's live updates arrive.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LiveState {
    /// The stream is open.
    Live,
    /// The connection was lost at this time (browser milliseconds since 1970); changes arrive again,
    /// from where they stopped, once it is back.
    Down { since_ms: f64 },
}

/// What a subscriber is told.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum LiveEvent {
    /// A transaction changed.
    Tx(Box<TxView>),
    /// The stream's state changed. After `Down`, a `Live` means it is open again: changes made
    /// meanwhile follow, and a page that shows more than rows (totals) reads itself again.
    State(LiveState),
}

/// Calls `on_event` with every transaction change after journal version `since` (`None`: from now on),
/// and with every change of the stream's state, for as long as the calling component lives. Does
/// nothing on the server.
pub fn subscribe(since: Option<i64>, on_event: impl Fn(LiveEvent) + 'static) {
    #[cfg(feature = "hydrate")]
    browser::subscribe(since, std::rc::Rc::new(on_event));
    #[cfg(not(feature = "hydrate"))]
    let _ = (since, on_event);
}

/// Calls `on_change` whenever the alerts the account may see change (and when the stream opens again
/// after a loss, since changes may have been missed), for as long as the calling component lives. One
/// stream of alerts alone (`/api/events?alerts`). Does nothing on the server.
pub fn on_alerts(on_change: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    browser::on_alerts(std::rc::Rc::new(on_change));
    #[cfg(not(feature = "hydrate"))]
    let _ = on_change;
}

/// Whether the browser believes it is connected (`navigator.onLine`): `false` is certain (nothing
/// can leave), `true` is only hopeful. Always `true` on the server.
pub fn browser_online() -> bool {
    #[cfg(feature = "hydrate")]
    {
        let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into());
        let online = navigator.and_then(|n| js_sys::Reflect::get(&n, &"onLine".into()));
        online.ok().and_then(|v| v.as_bool()).unwrap_or(true)
    }
    #[cfg(not(feature = "hydrate"))]
    true
}

/// A browser time (milliseconds since 1970) as the time of day in Zurich, `23:41:05`, by the browser's
/// own clock and time-zone data (the server formats every other time; this one is the browser's).
pub fn zurich_time(ms: f64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"timeZone".into(), &"Europe/Zurich".into());
        js_sys::Date::new(&ms.into()).to_locale_time_string_with_options("fr-CH", &options).into()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ms;
        String::new()
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use futures::StreamExt;
    use futures::channel::mpsc;
    use gloo_net::eventsource::State;
    use gloo_net::eventsource::futures::EventSource;
    use leptos::prelude::*;

    use super::{LiveEvent, LiveState};

    /// How long after the browser gave up a new stream is opened.
    const REOPEN_AFTER: Duration = Duration::from_secs(5);
    /// The server pings every 20 s: a stream silent for this long is taken for dead (a connection cut
    /// somewhere without either end being told, as a phone changing networks leaves it).
    const SILENT_FOR: f64 = 65_000.0;
    /// How often the silence is checked.
    const CHECK_EVERY: Duration = Duration::from_secs(10);

    /// What the loop below is woken by besides the stream.
    enum Signal {
        Online,
        Offline,
        Check,
    }

    /// After the browser gave up a stream: the session is checked (an ended one leads to the login),
    /// and a new stream is opened a little later.
    async fn gave_up_wait() {
        crate::session::check();
        let (wake, woken) = futures::channel::oneshot::channel::<()>();
        set_timeout(
            move || {
                let _ = wake.send(());
            },
            REOPEN_AFTER,
        );
        let _ = woken.await;
    }

    pub fn on_alerts(on_change: Rc<dyn Fn()>) {
        let left = Arc::new(AtomicBool::new(false));
        let current = StoredValue::new_local(None::<EventSource>);
        leptos::task::spawn_local({
            let left = left.clone();
            async move {
                let mut first = true;
                while !left.load(Ordering::Relaxed) {
                    let Ok(mut source) = EventSource::new("/api/events?alerts") else { return };
                    let (Ok(alerts), Ok(opened)) = (source.subscribe("alerts"), source.subscribe("open"))
                    else {
                        return;
                    };
                    current.set_value(Some(source));
                    let mut events = futures::stream::select(alerts, opened);
                    while let Some(event) = events.next().await {
                        match event {
                            // The first opening is the page's own count; a later one may follow a loss.
                            Ok((kind, _)) if kind == "open" && std::mem::take(&mut first) => {}
                            Ok(_) => on_change(),
                            Err(_) => {
                                if left.load(Ordering::Relaxed) {
                                    return;
                                }
                                let state = current.try_with_value(|s| s.as_ref().map(EventSource::state));
                                if !matches!(state, Some(Some(State::Connecting | State::Open))) {
                                    break;
                                }
                            }
                        }
                    }
                    current.set_value(None);
                    if left.load(Ordering::Relaxed) {
                        return;
                    }
                    // The browser gave up: perhaps the session ended.
                    gave_up_wait().await;
                }
            }
        });
        on_cleanup(move || {
            left.store(true, Ordering::Relaxed);
            if let Some(source) = current.try_update_value(Option::take).flatten() {
                source.close();
            }
        });
    }

    pub fn subscribe(since: Option<i64>, on_event: Rc<dyn Fn(LiveEvent)>) {
        // Set when the page closes the stream itself (it is left).
        let left = Arc::new(AtomicBool::new(false));
        // The stream open now, closed when the page is left.
        let current = StoredValue::new_local(None::<EventSource>);
        let (signal, mut signals) = mpsc::unbounded::<Signal>();
        let online = {
            let signal = signal.clone();
            window_event_listener(leptos::ev::online, move |_| drop(signal.unbounded_send(Signal::Online)))
        };
        let offline = {
            let signal = signal.clone();
            window_event_listener(leptos::ev::offline, move |_| drop(signal.unbounded_send(Signal::Offline)))
        };
        let checks =
            set_interval_with_handle(move || drop(signal.unbounded_send(Signal::Check)), CHECK_EVERY).ok();
        leptos::task::spawn_local({
            let left = left.clone();
            async move {
                let mut last_id = since;
                let mut down: Option<f64> = None;
                let tell_down = |down: &mut Option<f64>| {
                    if down.is_none() {
                        let now = js_sys::Date::now();
                        *down = Some(now);
                        on_event(LiveEvent::State(LiveState::Down { since_ms: now }));
                    }
                };
                'streams: while !left.load(Ordering::Relaxed) {
                    let url = last_id
                        .map_or_else(|| "/api/events".to_owned(), |v| format!("/api/events?since={v}"));
                    let Ok(mut source) = EventSource::new(&url) else { return };
                    // An `open` listener gets the browser's plain `Event`: only its name is used.
                    let subscribed =
                        (source.subscribe("tx"), source.subscribe("ping"), source.subscribe("open"));
                    let (Ok(txs), Ok(pings), Ok(opened)) = subscribed else { return };
                    current.set_value(Some(source));
                    let mut events = futures::stream::select(txs, futures::stream::select(pings, opened));
                    let mut heard = js_sys::Date::now();
                    // Why this stream ends: the browser gave up, or we stop listening to it.
                    let gave_up = loop {
                        let event = futures::select! {
                            event = events.next() => event,
                            signal = signals.next() => match signal {
                                Some(Signal::Offline) => {
                                    tell_down(&mut down);
                                    continue;
                                }
                                // Back online, or silent too long: a new stream at once, from the last
                                // event received (a dead connection would otherwise be waited out).
                                Some(Signal::Online) => break false,
                                Some(Signal::Check) if js_sys::Date::now() - heard > SILENT_FOR => {
                                    tell_down(&mut down);
                                    break false;
                                }
                                Some(Signal::Check) => continue,
                                None => return,
                            },
                        };
                        let Some(event) = event else { break true };
                        match event {
                            Ok((kind, message)) => {
                                heard = js_sys::Date::now();
                                if kind == "open" || kind == "ping" {
                                    if kind == "open" && down.take().is_some() {
                                        on_event(LiveEvent::State(LiveState::Live));
                                    }
                                    continue;
                                }
                                if let Ok(id) = message.last_event_id().parse::<i64>() {
                                    last_id = Some(id);
                                }
                                if let Some(tx) =
                                    message.data().as_string().and_then(|d| serde_json::from_str(&d).ok())
                                {
                                    on_event(LiveEvent::Tx(Box::new(tx)));
                                }
                            }
                            // Each subscription hears the error: told once.
                            Err(_) => {
                                if left.load(Ordering::Relaxed) {
                                    return;
                                }
                                tell_down(&mut down);
                                let state = current.try_with_value(|s| s.as_ref().map(EventSource::state));
                                if !matches!(state, Some(Some(State::Connecting | State::Open))) {
                                    break true;
                                }
                            }
                        }
                    };
                    // Closed before the next one opens.
                    current.set_value(None);
                    if left.load(Ordering::Relaxed) {
                        return;
                    }
                    if !gave_up {
                        continue 'streams;
                    }
                    // The browser gave up reconnecting: refused, perhaps because the session ended.
                    gave_up_wait().await;
                }
            }
        });
        let handles = send_wrapper::SendWrapper::new((online, offline, checks));
        on_cleanup(move || {
            left.store(true, Ordering::Relaxed);
            let (online, offline, checks) = handles.take();
            online.remove();
            offline.remove();
            if let Some(checks) = checks {
                checks.clear();
            }
            if let Some(source) = current.try_update_value(Option::take).flatten() {
                source.close();
            }
        });
    }
}
