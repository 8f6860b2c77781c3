//! Demo only: the simulated stations' four-line displays, and presenting a key as a tenant would.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::{PresentKey, station_screens};
use crate::i18n::*;

#[component]
pub fn Station() -> impl IntoView {
    let i18n = use_i18n();
    let screens = Resource::new(|| (), |_| station_screens());
    let present = ServerAction::<PresentKey>::new();
    // The display changes by itself over 15 s after a key: look every second while the page is open
    // (in the browser only: an effect never runs while the server renders).
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || screens.refetch(), Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
    });
    Effect::new(move |_| {
        if present.version().get() > 0 {
            screens.refetch();
        }
    });
    view! {
        <h1>{t!(i18n, station_title)}</h1>
        <Transition fallback=|| ()>
            {move || screens.get().map(|s| match s {
                Ok(None) => view! { <p class="empty">{t!(i18n, station_not_demo)}</p> }.into_any(),
                Ok(Some(list)) => view! {
                    <div class="stations">
                        {list.into_iter().map(|s| {
                            let key_id = format!("key-{}", s.id);
                            view! {
                                <section class="card station" data-testid=format!("station-{}", s.id)>
                                    <h2>{s.label.clone()}</h2>
                                    <pre class="lcd" data-testid="lcd" aria-label="LCD">{s.lines.join("\n")}</pre>
                                    <ActionForm action=present attr:class="inline-form">
                                        <input type="hidden" name="station" value=s.id.to_string() />
                                        <label for=key_id.clone()>{t!(i18n, station_key)}</label>
                                        <input id=key_id name="key" inputmode="numeric" required pattern="[0-9]{1,5}" maxlength="5" />
                                        <button type="submit" class="primary">{t!(i18n, station_present)}</button>
                                    </ActionForm>
                                </section>
                            }
                        }).collect_view()}
                    </div>
                }.into_any(),
                Err(_) => view! { <p class="notice error" role="alert">{t!(i18n, error_generic)}</p> }.into_any(),
            })}
        </Transition>
    }
}
