//! *Stations*: every station one may see with what it last told (last heard, pending top-ups, signal, SIM
//! credit), and a button to ask it now. Operators also see the server's modem, register stations (the
//! provisioning string is shown once) and change them.

use std::time::Duration;

use domain::Amount;
use domain::station::StationField;
use leptos::prelude::*;

use crate::api::{
    ModemView, RequestStationStatus, SaveStation, SimProblem, StationInfo, StationProblem, StationSaved,
    StationsView, StatusAsked, stations_page,
};
use crate::i18n::*;
use crate::pages::page_locale;

#[component]
pub fn Stations() -> impl IntoView {
    let locale = page_locale();
    let page = AsyncDerived::new(stations_page);
    view! {
        {super::page_title(td_string!(locale, stations_title))}<h1>{td_string!(locale, stations_title)}</h1>
        {crate::pages::script_notice(locale)}
        <Suspense fallback=|| ()>
            {move || page.get().map(|p| match p {
                Err(_) => view! { <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p> }.into_any(),
                Ok(page) => view! {
                    {page.admin.as_ref().map(|a| view! { <Modem locale modem=a.modem.clone() /> })}
                    <StationsPanel locale page />
                }.into_any(),
            })}
        </Suspense>
    }
}

/// The stations' cards and, for operators, the form to register one.
#[island(lazy)]
fn StationsPanel(locale: Locale, page: StationsView) -> impl IntoView {
    let page = RwSignal::new(page);
    // Heartbeats arrive without anyone asking: the facts are read again every 15 s while the page is open
    // into `live`, which only the facts' text follows, so that a form being filled in stays.
    let live = RwSignal::new(Vec::<StationInfo>::new());
    let poll = move || {
        leptos::task::spawn_local(async move {
            match stations_page().await {
                Ok(p) => live.set(p.stations),
                Err(_) => crate::session::check(),
            }
        })
    };
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(poll, Duration::from_secs(15)) {
            on_cleanup(move || handle.clear());
        }
    });
    let create = ServerAction::<SaveStation>::new();
    Effect::new(move |_| {
        if let Some(Ok(StationSaved::Created { .. })) = create.value().get() {
            leptos::task::spawn_local(async move {
                if let Ok(p) = stations_page().await {
                    page.set(p);
                }
            });
        }
    });
    view! {
        {move || {
            let p = page.get();
            let gerances = p.admin.as_ref().map(|a| a.gerances.clone());
            view! {
                {p.stations.is_empty().then(|| view! { <p class="empty">{td_string!(locale, stations_empty)}</p> })}
                <div class="stations">
                    {p.stations.into_iter().map(|s| {
                        view! { <StationCard locale station=s editable=gerances.is_some() live=live refresh=poll /> }
                    }).collect_view()}
                </div>
                {gerances.map(|g| view! {
                    <section class="card" data-testid="new-station">
                        <h2>{td_string!(locale, stations_new)}</h2>
                        <StationForm locale action=create station=None gerances=g />
                    </section>
                })}
            }
        }}
        {move || match create.value().get() {
            Some(Ok(StationSaved::Created { name, provisioning, server_number_known, .. })) => Some(view! {
                <section class="notice info once" role="status" data-testid="provisioning">
                    <h2>{crate::words::fill(td_string!(locale, stations_created), &[("name", &name)])}</h2>
                    <p>{td_string!(locale, stations_provisioning_intro)}</p>
                    <code data-testid="provisioning-string">{provisioning}</code>
                    {(!server_number_known).then(|| view! { <p>{td_string!(locale, stations_provisioning_placeholder)}</p> })}
                </section>
            }),
            _ => None,
        }}
    }
}

/// The server's modem, for operators.
#[component]
fn Modem(locale: Locale, modem: ModemView) -> impl IntoView {
    let state = if modem.connected {
        td_string!(locale, modem_connected).to_string()
    } else {
        td_string!(locale, modem_disconnected).to_string()
    };
    let kind = if modem.demo {
        td_string!(locale, modem_demo).to_string()
    } else {
        modem.model.clone().unwrap_or_default()
    };
    view! {
        <section class="card modem" data-testid="modem">
            <h2>{td_string!(locale, modem_title)}</h2>
            <dl class="facts">
                <dt>{td_string!(locale, modem_state)}</dt>
                <dd class:bad=!modem.connected data-testid="modem-state">
                    {state}{modem.since.map(|s| format!(" ({s})"))}
                </dd>
                {(!kind.is_empty()).then(|| view! { <dt>{td_string!(locale, modem_model)}</dt><dd>{kind}</dd> })}
                {modem.error.filter(|_| !modem.connected).map(|e| view! { <dt>{td_string!(locale, modem_error)}</dt><dd>{e}</dd> })}
                {modem.sim_problem.filter(|_| !modem.connected).map(|p| view! {
                    <dt>{td_string!(locale, modem_sim)}</dt>
                    <dd class="bad" role="alert" data-testid="modem-sim">{sim_problem_text(locale, p)}</dd>
                })}
                <dt>{td_string!(locale, stations_signal)}</dt>
                <dd>{signal_text(locale, modem.signal_dbm)}</dd>
                {modem.operator.map(|o| view! { <dt>{td_string!(locale, modem_operator)}</dt><dd>{o}</dd> })}
                <dt>{td_string!(locale, stations_credit)}</dt>
                <dd data-testid="modem-credit">{modem.credit.map(|c| format!("{c}{}", modem.credit_at.map(|t| format!(" ({t})")).unwrap_or_default()))
                    .unwrap_or_else(|| td_string!(locale, stations_unknown).to_string())}
                    {modem.credit_unanswered_at.map(|t| format!(" — {} ({t})", td_string!(locale, modem_credit_unanswered)))}</dd>
                <dt>{td_string!(locale, modem_outbox)}</dt>
                <dd data-testid="modem-outbox">{modem.outbox}</dd>
                {(modem.unreadable > 0).then(|| view! {
                    <dt>{td_string!(locale, modem_unreadable)}</dt>
                    <dd data-testid="modem-unreadable">{modem.unreadable}</dd>
                })}
            </dl>
        </section>
    }
}

fn sim_problem_text(locale: Locale, problem: SimProblem) -> String {
    match problem {
        SimProblem::PinMissing => td_string!(locale, modem_sim_pin_missing).to_string(),
        SimProblem::PinInvalid => td_string!(locale, modem_sim_pin_invalid).to_string(),
        SimProblem::PinRefused => td_string!(locale, modem_sim_pin_refused).to_string(),
        SimProblem::PukRequired => td_string!(locale, modem_sim_puk_required).to_string(),
        SimProblem::NotReady => td_string!(locale, modem_sim_not_ready).to_string(),
    }
}

fn signal_text(locale: Locale, dbm: Option<i64>) -> String {
    match dbm {
        None => td_string!(locale, stations_unknown).to_string(),
        Some(d) => {
            let level = if d >= -75 {
                td_string!(locale, signal_good)
            } else if d >= -90 {
                td_string!(locale, signal_fair)
            } else {
                td_string!(locale, signal_weak)
            };
            format!("{d} dBm ({level})")
        }
    }
}

/// How long ago, in the person's language.
fn age_text(locale: Locale, age: domain::Age) -> String {
    use domain::Age;
    match age {
        Age::Now => td_string!(locale, age_now).to_owned(),
        Age::Minutes(n) => crate::words::fill(td_string!(locale, age_minutes), &[("n", &n)]),
        Age::Hours(n) => crate::words::fill(td_string!(locale, age_hours), &[("n", &n)]),
        Age::Days(n) => crate::words::fill(td_string!(locale, age_days), &[("n", &n)]),
    }
}

fn chf(rappen: i64) -> String {
    Amount::from_rappen(rappen).map(|a| a.to_string()).unwrap_or_else(|_| "0.00 CHF".into())
}

/// One station with its live facts (`live`: the latest of every station, once read again; `refresh`
/// reads them again); operators can change it.
#[component]
fn StationCard(
    locale: Locale,
    station: StationInfo,
    editable: bool,
    live: RwSignal<Vec<StationInfo>>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ask = ServerAction::<RequestStationStatus>::new();
    let save = ServerAction::<SaveStation>::new();
    let id = station.id;
    let initial = station.clone();
    let s =
        Memo::new(move |_| live.with(|l| l.iter().find(|x| x.id == id).cloned()).unwrap_or(initial.clone()));
    Effect::new(move |_| {
        if let Some(Ok(StationSaved::Updated { .. })) = save.value().get() {
            refresh();
        }
    });
    // The answer takes a few seconds over SMS: look a few times.
    Effect::new(move |_| {
        if let Some(Ok(StatusAsked::Sent)) = ask.value().get() {
            for seconds in [2, 5, 10, 20] {
                set_timeout(refresh, Duration::from_secs(seconds));
            }
        }
    });
    view! {
        <section class="card station" data-testid=format!("station-{id}")>
            {move || s.with(|s| facts(locale, s))}
            <form action=crate::form::url(ask) method="post" class="inline-form" on:submit=crate::form::submit(ask)>
                <input type="hidden" name="id" value=id.to_string() />
                <button type="submit" class="plain" data-testid="ask-status" disabled=move || ask.pending().get()>
                    {td_string!(locale, stations_ask)}
                </button>
            </form>
            {move || {
                let text = match ask.value().get() {
                    Some(Ok(StatusAsked::Sent)) => td_string!(locale, stations_asked),
                    Some(Ok(StatusAsked::Recently)) => td_string!(locale, stations_asked_recently),
                    _ => return None,
                };
                Some(view! { <p class="notice info" role="status" data-testid="asked">{text.to_string()}</p> })
            }}
            {editable.then(|| view! {
                <details class="edit">
                    <summary>{td_string!(locale, stations_edit)}</summary>
                    <StationForm locale action=save station=Some(station.clone()) gerances=Vec::new() />
                </details>
            })}
        </section>
    }
}

/// What a station last told, rendered again as a whole when it is read again.
fn facts(locale: Locale, s: &StationInfo) -> impl IntoView + use<> {
    let unknown = || td_string!(locale, stations_unknown).to_string();
    view! {
        <h2>{s.name.clone()}</h2>
        <p class="muted">{format!("{}, {}", s.gerance, s.place)}</p>
        <dl class="facts">
            <dt>{td_string!(locale, stations_phone)}</dt>
            <dd>{s.phone.shown()}</dd>
            <dt>{td_string!(locale, stations_max)}</dt>
            <dd>{s.max.to_string()}</dd>
            <dt>{td_string!(locale, stations_last_heard)}</dt>
            <dd data-testid="last-heard">{s.last_heard.clone().unwrap_or_else(|| td_string!(locale, stations_never).to_string())}</dd>
            <dt>{td_string!(locale, stations_waiting)}</dt>
            <dd data-testid="waiting">{s.waiting_for_key}</dd>
            <dt>{td_string!(locale, stations_pending)}</dt>
            <dd>
                <span data-testid="pending">{s.pending.map(|p| p.to_string()).unwrap_or_else(unknown)}</span>
                {s.reported.map(|age| view! { <span class="muted" data-testid="reported">{" · "}{age_text(locale, age)}</span> })}
            </dd>
            <dt>{td_string!(locale, stations_signal)}</dt>
            <dd data-testid="signal">{signal_text(locale, s.signal_dbm)}</dd>
            <dt>{td_string!(locale, stations_credit)}</dt>
            <dd data-testid="credit">{s.sim_credit_rappen.map(chf).unwrap_or_else(unknown)}</dd>
            <dt>{td_string!(locale, stations_firmware)}</dt>
            <dd data-testid="firmware">{s.firmware.clone().unwrap_or_else(unknown)}</dd>
            <dt>{td_string!(locale, stations_rejected)}</dt>
            <dd class:bad={s.rejected > 0} data-testid="rejected">{s.rejected}</dd>
        </dl>
    }
}

/// The form to register a station (`station` empty) or change one.
#[component]
fn StationForm(
    locale: Locale,
    action: ServerAction<SaveStation>,
    station: Option<StationInfo>,
    gerances: Vec<(domain::GeranceId, String)>,
) -> impl IntoView {
    let prefix = station.as_ref().map_or_else(|| "new".to_owned(), |s| format!("s{}", s.id));
    let id = move |field: &str| format!("{prefix}-{field}");
    let value = |f: fn(&StationInfo) -> String| station.as_ref().map(f).unwrap_or_default();
    let (name, place, phone) =
        (value(|s| s.name.clone()), value(|s| s.place.clone()), value(|s| s.phone.shown()));
    let max = station.as_ref().map_or_else(
        || "500.00".to_owned(),
        |s| format!("{}.{:02}", s.max.rappen() / 100, s.max.rappen() % 100),
    );
    let station_id = station.as_ref().map(|s| s.id);
    let problems = move || match action.value().get() {
        Some(Ok(StationSaved::Invalid(p))) => p,
        _ => Vec::new(),
    };
    let error = move |wanted: StationProblem, message: fn(Locale) -> String, id: String| {
        move || {
            problems()
                .contains(&wanted)
                .then(|| view! { <p class="field-error" id=id.clone() role="alert">{message(locale)}</p> })
        }
    };
    let creating = station.is_none();
    view! {
        <form action=crate::form::url(action) method="post" class="stack" on:submit=crate::form::submit(action)>
            {station_id.map(|sid| view! { <input type="hidden" name="id" value=sid.to_string() /> })}
            {creating.then(|| view! {
                <label for=id("gerance")>{td_string!(locale, stations_gerance)}</label>
                <select id=id("gerance") name="gerance" required>
                    {gerances.iter().map(|(gid, name)| view! { <option value=gid.to_string()>{name.clone()}</option> }).collect_view()}
                </select>
                {error(StationProblem::Gerance, |l| td_string!(l, stations_error_gerance).to_string(), id("gerance-error"))}
            })}
            <label for=id("name")>{td_string!(locale, stations_name)}</label>
            <input id=id("name") name="name" required maxlength="80" value=name aria-describedby=id("name-error") />
            {error(StationProblem::Field(StationField::Name), |l| td_string!(l, stations_error_name).to_string(), id("name-error"))}
            {error(StationProblem::NameTaken, |l| td_string!(l, stations_error_name_taken).to_string(), id("name-error"))}
            <label for=id("place")>{td_string!(locale, stations_place)}</label>
            <input id=id("place") name="place" required maxlength="80" value=place aria-describedby=id("place-error") />
            {error(StationProblem::Field(StationField::Place), |l| td_string!(l, stations_error_place).to_string(), id("place-error"))}
            <label for=id("phone")>{td_string!(locale, stations_phone)}</label>
            <input id=id("phone") name="phone" type="tel" required autocomplete="off" placeholder="+41 79 123 45 67"
                value=phone aria-describedby=id("phone-error") />
            {error(StationProblem::Field(StationField::Phone), |l| td_string!(l, stations_error_phone).to_string(), id("phone-error"))}
            {error(StationProblem::PhoneTaken, |l| td_string!(l, stations_error_phone_taken).to_string(), id("phone-error"))}
            <label for=id("max")>{td_string!(locale, stations_max_chf)}</label>
            <input id=id("max") name="max" inputmode="decimal" required autocomplete="off"
                value=max
                aria-describedby=id("max-error") />
            {error(StationProblem::Field(StationField::Max), |l| td_string!(l, stations_error_max).to_string(), id("max-error"))}
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {if creating { td_string!(locale, stations_create) } else { td_string!(locale, stations_save) }}
            </button>
            {move || matches!(action.value().get(), Some(Ok(StationSaved::Updated { .. }))).then(|| view! {
                <p class="notice info" role="status">{td_string!(locale, stations_saved)}</p>
            })}
            {move || matches!(action.value().get(), Some(Err(_))).then(|| view! {
                <p class="notice error" role="alert">{td_string!(locale, error_generic)}</p>
            })}
        </form>
    }
}
