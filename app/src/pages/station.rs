//! Demo only: the simulated stations' four-line displays, and presenting a key as a tenant would.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::{PresentKey, StationPower, StationScreen, station_screens};
use crate::i18n::*;
use crate::pages::page_locale;

#[component]
pub fn Station() -> impl IntoView {
    let locale = page_locale();
    let screens = AsyncDerived::new(station_screens);
    view! {
        {super::page_title(td_string!(locale, station_title))}<h1>{td_string!(locale, station_title)}</h1>
        <Suspense fallback=|| ()>
            {move || screens.get().map(|s| match s {
                Ok(None) => view! { <p class="empty">{td_string!(locale, station_not_demo)}</p> }.into_any(),
                Ok(Some(screens)) => view! { <Screens locale screens /> }.into_any(),
                Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
            })}
        </Suspense>
    }
}

/// The displays, read again every second, and a key to present at each station.
#[island(lazy)]
fn Screens(locale: Locale, screens: Vec<StationScreen>) -> impl IntoView {
    let screens = RwSignal::new(screens);
    let present = ServerAction::<PresentKey>::new();
    let power = ServerAction::<StationPower>::new();
    let refresh = move || {
        leptos::task::spawn_local(async move {
            if let Ok(Some(list)) = station_screens().await {
                screens.set(list);
            }
        })
    };
    // The display changes by itself over 15 s after a key: look every second while the page is open.
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(refresh, Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
    });
    Effect::new(move |_| {
        if present.version().get() + power.version().get() > 0 {
            refresh();
        }
    });
    view! {
        <div class="stations">
            <For each=move || screens.get() key=|s| s.id let(s)>
                <StationDisplay locale id=s.id label=s.label.clone() screens present power />
            </For>
        </div>
    }
}

/// One station's display (kept while the page reads the displays again, so that a key being typed
/// stays) and its key form.
#[component]
fn StationDisplay(
    locale: Locale,
    id: domain::StationId,
    label: String,
    screens: RwSignal<Vec<StationScreen>>,
    present: ServerAction<PresentKey>,
    power: ServerAction<StationPower>,
) -> impl IntoView {
    let on = move || screens.with(|l| l.iter().find(|s| s.id == id).is_some_and(|s| s.on));
    let key_id = format!("key-{id}");
    let lines = move || {
        screens.with(|l| l.iter().find(|s| s.id == id).map(|s| s.lines.join("\n"))).unwrap_or_default()
    };
    view! {
        <section class="card station" data-testid=format!("station-{id}")>
            <h2>{label}</h2>
            <pre class="lcd" class:off=move || !on() data-testid="lcd" aria-label="LCD">{lines}</pre>
            <form action=crate::form::url(power) method="post" class="inline-form" on:submit=crate::form::submit(power)>
                <input type="hidden" name="station" value=id.to_string() />
                <input type="hidden" name="on" value=move || (!on()).to_string() />
                <button type="submit" class="button plain" data-testid="power">
                    {move || if on() { td_string!(locale, station_power_off) } else { td_string!(locale, station_power_on) }}
                </button>
            </form>
            <form action=crate::form::url(present) method="post" class="inline-form" on:submit=crate::form::submit(present)>
                <input type="hidden" name="station" value=id.to_string() />
                <label for=key_id.clone()>{td_string!(locale, station_key)}</label>
                <input id=key_id name="key" inputmode="numeric" required pattern="[0-9]{1,5}" maxlength="5" />
                <button type="submit" class="primary">{td_string!(locale, station_present)}</button>
            </form>
        </section>
    }
}
