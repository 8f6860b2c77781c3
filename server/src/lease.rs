//! Exactly one modem owner among the instances serving one database. The owner drives the modem (or the
//! demo's network), the modem task and the alert checks — its *duties*; the others serve pages, server
//! functions and event streams, and take the duties over when the owner is gone.
//!
//! The lease is one row (`db::lease`). Its holder renews it every second; a holder acts only until
//! [`HOLD`] after its last renewal *began* ([`Hold`], checked before each SMS is handed to the modem), and
//! stops its duties then if it could not renew. Another instance takes the lease over when it has seen
//! the row unchanged for [`STALE`] by its own clock — later than the holder can still act, whatever the
//! clocks of the machines say, since the holder's deadline counts from before the renewal it last saw
//! (both clocks only have to run at the same rate). Taking over counts the epoch up, so an old owner
//! that comes back (a frozen process, a network cut healed) finds its renewals refused and does not
//! start again. A clean stop lets go of the lease, and a holder that died on the same machine is seen
//! dead at once (its process is gone): a restart takes the duties back without waiting.
//!
//! The decisions are [`Watch::observe`] (pure, tested here); [`start`] is the shell around it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use db::Db;
use db::lease::{Instance, Lease};
use domain::Timestamp;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::sms::ModemStatus;

/// How often the holder renews the lease (and followers look at it).
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a holder may act after its last renewal began.
pub const HOLD: Duration = Duration::from_secs(3);
/// How long a follower sees the lease unchanged before it takes it over. Longer than [`HOLD`] by two
/// renewals: the holder has stopped by then. The worst failover is about `STALE` plus two looks.
pub const STALE: Duration = Duration::from_secs(5);

/// What a follower does after a look at the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try to take it (as it was seen).
    Take,
    Wait,
}

/// A follower's memory of the lease: what it last saw move, and when.
#[derive(Debug, Default)]
pub struct Watch {
    seen: Option<(i64, i64, Instant)>,
}

impl Watch {
    /// Looks at `lease` at `now`: `me` is this instance; `dead_here` whether its holder is a process of
    /// this machine that no longer exists.
    pub fn observe(&mut self, lease: &Lease, me: &Instance, dead_here: bool, now: Instant) -> Verdict {
        let Some(holder) = &lease.holder else { return Verdict::Take };
        // This instance's own lease, which it stopped acting on: taken back (in a new epoch).
        if holder == me || dead_here {
            return Verdict::Take;
        }
        match self.seen {
            Some((epoch, beat, since)) if (epoch, beat) == (lease.epoch, lease.beat) => {
                if now.duration_since(since) >= STALE { Verdict::Take } else { Verdict::Wait }
            }
            _ => {
                self.seen = Some((lease.epoch, lease.beat, now));
                Verdict::Wait
            }
        }
    }
}

/// Until when this instance may act as the modem's owner: checked before anything is handed to the
/// modem. Cheap to clone; every clone sees the same deadline.
#[derive(Clone, Debug)]
pub struct Hold(Arc<AtomicU64>, Instant);

impl Hold {
    fn new() -> Self {
        Self(Arc::new(AtomicU64::new(0)), Instant::now())
    }

    /// Whether the lease is still this instance's to act on.
    pub fn holds(&self) -> bool {
        let now = Instant::now().duration_since(self.1).as_millis();
        u128::from(self.0.load(Ordering::SeqCst)) > now
    }

    fn until(&self, deadline: Instant) {
        let ms = deadline.duration_since(self.1).as_millis();
        self.0.store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    fn end(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

/// What the owner runs while it holds the lease; stopped (aborted) when it lets go.
pub struct Duties {
    pub tasks: Vec<JoinHandle<()>>,
    /// Run once they are stopped.
    pub on_stop: Option<Box<dyn FnOnce() + Send>>,
}

impl Duties {
    fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
        if let Some(then) = self.on_stop {
            then();
        }
    }
}

/// Starts the duties, given the hold they act under.
pub type StartDuties =
    Arc<dyn Fn(Hold) -> Pin<Box<dyn Future<Output = anyhow::Result<Duties>> + Send>> + Send + Sync>;

/// Whether this instance owns the modem now, and who does, for `/readyz`, the metrics and the logs.
#[derive(Clone)]
pub struct Ownership {
    owner: watch::Receiver<bool>,
    handovers: Handovers,
}

/// How many times this instance took the lease, and lost it (its renewals refused or late; a clean stop
/// does not count), since it started: counters for the metrics.
#[derive(Clone, Default, Debug)]
pub struct Handovers {
    pub taken: Counter,
    pub lost: Counter,
}

impl Ownership {
    pub fn owns(&self) -> bool {
        *self.owner.borrow()
    }

    pub fn handovers(&self) -> &Handovers {
        &self.handovers
    }

    /// Completes when this instance owns the modem.
    pub async fn owned(&mut self) {
        let _ = self.owner.wait_for(|owns| *owns).await;
    }
}

/// The lease's task: stopped with [`Leasing::stop`], which lets go of the lease.
pub struct Leasing {
    task: JoinHandle<()>,
    state: Arc<tokio::sync::Mutex<Held>>,
    db: Db,
    me: Arc<Instance>,
    ownership: Ownership,
}

#[derive(Default)]
struct Held {
    epoch: Option<i64>,
    duties: Option<Duties>,
}

impl Leasing {
    pub fn ownership(&self) -> Ownership {
        self.ownership.clone()
    }

    /// Stops the duties and lets go of the lease (another instance takes it at once).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let mut held = self.state.lock().await;
        if let Some(duties) = held.duties.take() {
            duties.stop();
        }
        if let Some(epoch) = held.epoch.take()
            && let Err(e) = self.db.release_modem_lease(&self.me, epoch, Timestamp::now()).await
        {
            tracing::warn!(error = %e, "could not let go of the modem lease; another instance waits it out");
        }
    }
}

/// Looks at the lease once and, if it is free (or this machine's dead process's), takes it and starts
/// the duties before returning — a single instance starts as it always did, its modem running when the
/// server is built. Then follows the lease in the background: renewing it while held, taking it over
/// when its holder is gone.
pub async fn start(db: Db, status: ModemStatus, duties: StartDuties) -> anyhow::Result<Leasing> {
    let me = Arc::new(this_instance());
    let hold = Hold::new();
    let (owner, owner_rx) = watch::channel(false);
    let handovers = Handovers::default();
    let state = Arc::new(tokio::sync::Mutex::new(Held::default()));
    let mut watch = Watch::default();
    let lease = db.modem_lease().await?;
    if watch.observe(&lease, &me, dead_here(&lease, &me), Instant::now()) == Verdict::Take {
        let began = Instant::now();
        if let Some(epoch) = db.take_modem_lease(&me, &lease, Timestamp::now()).await? {
            hold.until(began + HOLD);
            let started = duties(hold.clone()).await;
            let mut held = state.lock().await;
            held.epoch = Some(epoch);
            match started {
                Ok(d) => held.duties = Some(d),
                Err(e) => {
                    hold.end();
                    let _ = db.release_modem_lease(&me, epoch, Timestamp::now()).await;
                    return Err(e);
                }
            }
            owner.send_replace(true);
            handovers.taken.inc();
            tracing::info!(instance = %me.name, epoch, "this instance drives the modem");
        }
    }
    let runner = Runner {
        db: db.clone(),
        me: me.clone(),
        hold,
        owner,
        status,
        duties,
        state: state.clone(),
        handovers: handovers.clone(),
    };
    let task = tokio::spawn(runner.run(watch));
    Ok(Leasing { task, state, db, me, ownership: Ownership { owner: owner_rx, handovers } })
}

struct Runner {
    db: Db,
    me: Arc<Instance>,
    hold: Hold,
    owner: watch::Sender<bool>,
    status: ModemStatus,
    duties: StartDuties,
    state: Arc<tokio::sync::Mutex<Held>>,
    handovers: Handovers,
}

impl Runner {
    async fn run(self, mut watch: Watch) {
        loop {
            let epoch = self.state.lock().await.epoch;
            match epoch {
                Some(epoch) => {
                    self.keep(epoch).await;
                    watch = Watch::default();
                }
                None => self.follow(&mut watch).await,
            }
        }
    }

    /// Renews the lease every second until it cannot be renewed in time, then stops the duties.
    async fn keep(&self, epoch: i64) {
        // Renewed at once: starting the duties may have taken a part of the hold the take gave.
        let mut deadline = Instant::now() + HOLD;
        let mut next = Instant::now();
        let lost = loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = tokio::time::sleep_until(deadline) => break "its renewals did not get through in time",
            }
            let began = Instant::now();
            next = began + RENEW_EVERY;
            let facts = self.status.to_json();
            let renewed = tokio::time::timeout_at(
                deadline,
                self.db.renew_modem_lease(&self.me, epoch, Some(&facts), Timestamp::now()),
            )
            .await;
            match renewed {
                Ok(Ok(true)) => {
                    deadline = began + HOLD;
                    self.hold.until(deadline);
                }
                Ok(Ok(false)) => break "another instance took it over",
                Ok(Err(e)) => tracing::warn!(error = %e, "renewing the modem lease failed; trying again"),
                Err(_) => break "its renewals did not get through in time",
            }
        };
        self.hold.end();
        let mut held = self.state.lock().await;
        if let Some(duties) = held.duties.take() {
            duties.stop();
        }
        held.epoch = None;
        self.owner.send_replace(false);
        self.handovers.lost.inc();
        tracing::warn!(instance = %self.me.name, epoch, "this instance stopped driving the modem: {lost}");
    }

    /// Looks at the lease every second; takes it over when its holder is gone, and starts the duties.
    async fn follow(&self, watch: &mut Watch) {
        tokio::time::sleep(RENEW_EVERY).await;
        let lease = match self.db.modem_lease().await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the modem lease");
                return;
            }
        };
        if lease.holder.as_ref() != Some(&*self.me)
            && let Some(facts) = lease.facts.as_deref()
        {
            self.status.set_from_json(facts);
        }
        if watch.observe(&lease, &self.me, dead_here(&lease, &self.me), Instant::now()) == Verdict::Wait {
            return;
        }
        let began = Instant::now();
        let epoch = match self.db.take_modem_lease(&self.me, &lease, Timestamp::now()).await {
            Ok(Some(epoch)) => epoch,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "taking the modem lease failed");
                return;
            }
        };
        self.hold.until(began + HOLD);
        // Known as held before the duties start: a stop meanwhile lets it go rather than leave it to go
        // stale.
        self.state.lock().await.epoch = Some(epoch);
        let previous = lease.holder.map_or_else(|| "nobody".to_owned(), |h| h.name);
        match (self.duties)(self.hold.clone()).await {
            Ok(duties) => {
                self.state.lock().await.duties = Some(duties);
                self.owner.send_replace(true);
                self.handovers.taken.inc();
                tracing::warn!(instance = %self.me.name, epoch, previous, "this instance took the modem over");
            }
            Err(e) => {
                self.hold.end();
                self.state.lock().await.epoch = None;
                tracing::error!(error = %e, "cannot start the modem's duties; letting the lease go");
                let _ = self.db.release_modem_lease(&self.me, epoch, Timestamp::now()).await;
            }
        }
    }
}

/// This process as the lease names it: its host and PID for people; its machine's boot id, its PID
/// namespace and PID to be found dead by a process of the same machine.
fn this_instance() -> Instance {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into());
    let pid = std::process::id();
    // Several servers in one process (tests) are several instances.
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let name = match STARTED.fetch_add(1, Ordering::SeqCst) {
        0 => format!("{host} pid {pid}"),
        n => format!("{host} pid {pid} ({})", n + 1),
    };
    Instance { name, place: format!("{}/{pid}", machine()) }
}

/// This machine and PID namespace: where a PID names a process. Empty when unknown (then no holder is
/// ever found dead here, only stale).
fn machine() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|b| b.trim().to_owned());
    let ns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.to_string_lossy().into_owned());
    match (boot, ns) {
        (Ok(boot), Ok(ns)) if !boot.is_empty() => format!("{boot}/{ns}"),
        _ => String::new(),
    }
}

/// Whether the lease's holder is a process of this machine (and PID namespace) that no longer exists.
fn dead_here(lease: &Lease, me: &Instance) -> bool {
    let Some(holder) = &lease.holder else { return false };
    holder_is_dead(&holder.place, &me.place, process_alive)
}

/// Whether process `pid` of this PID namespace runs (a zombie, killed but not yet reaped, does not).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) state …`: the state follows the last parenthesis (a command may hold some).
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| !matches!(state, 'Z' | 'X')),
        Err(_) => false,
    }
}

/// `place` and `mine` are `<machine>/<pid>`; a holder is dead here when both name the same known machine
/// and its PID is not alive.
fn holder_is_dead(place: &str, mine: &str, alive: impl Fn(u32) -> bool) -> bool {
    let split =
        |p: &str| p.rsplit_once('/').and_then(|(m, pid)| Some((m.to_owned(), pid.parse::<u32>().ok()?)));
    match (split(place), split(mine)) {
        (Some((machine, pid)), Some((here, _))) if !machine.is_empty() && machine == here => !alive(pid),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(n: u32) -> Instance {
        Instance { name: format!("host pid {n}"), place: format!("boot/pid:[1]/{n}") }
    }

    fn lease(holder: Option<u32>, epoch: i64, beat: i64) -> Lease {
        Lease { holder: holder.map(instance), epoch, beat, renewed_at: Timestamp(0), facts: None }
    }

    #[test]
    fn a_free_lease_is_taken_at_once_and_a_held_one_only_after_it_stood_still_for_the_stale_time() {
        let me = instance(2);
        let t0 = Instant::now();
        let mut watch = Watch::default();
        assert_eq!(watch.observe(&lease(None, 4, 9), &me, false, t0), Verdict::Take);

        let mut watch = Watch::default();
        let held = lease(Some(1), 4, 9);
        assert_eq!(watch.observe(&held, &me, false, t0), Verdict::Wait, "first seen: its time starts now");
        assert_eq!(watch.observe(&held, &me, false, t0 + STALE - Duration::from_millis(1)), Verdict::Wait);
        // It moved: the wait starts again from this look.
        let renewed = lease(Some(1), 4, 10);
        assert_eq!(watch.observe(&renewed, &me, false, t0 + STALE), Verdict::Wait);
        assert_eq!(
            watch.observe(&renewed, &me, false, t0 + STALE * 2 - Duration::from_millis(1)),
            Verdict::Wait
        );
        assert_eq!(watch.observe(&renewed, &me, false, t0 + STALE * 2), Verdict::Take);
        // Another instance took it over meanwhile (a new epoch, beat 0): waited for anew.
        let other = lease(Some(3), 5, 0);
        assert_eq!(watch.observe(&other, &me, false, t0 + STALE * 2), Verdict::Wait);
    }

    #[test]
    fn a_holder_dead_on_this_machine_or_this_instance_itself_is_taken_over_at_once() {
        let me = instance(2);
        let t0 = Instant::now();
        assert_eq!(Watch::default().observe(&lease(Some(1), 4, 9), &me, true, t0), Verdict::Take);
        assert_eq!(Watch::default().observe(&lease(Some(2), 4, 9), &me, false, t0), Verdict::Take);
    }

    #[test]
    fn a_holder_is_found_dead_only_on_the_same_machine_and_pid_namespace() {
        let alive = |pid: u32| pid == 10;
        assert!(holder_is_dead("boot-a/pid:[1]/11", "boot-a/pid:[1]/10", alive));
        assert!(!holder_is_dead("boot-a/pid:[1]/10", "boot-a/pid:[1]/12", alive), "alive");
        assert!(!holder_is_dead("boot-b/pid:[1]/11", "boot-a/pid:[1]/10", alive), "another machine");
        assert!(!holder_is_dead("boot-a/pid:[2]/11", "boot-a/pid:[1]/10", alive), "another container");
        assert!(!holder_is_dead("/11", "/10", alive), "machine unknown");
        assert!(!holder_is_dead("garbage", "boot-a/pid:[1]/10", alive));
    }

    #[test]
    fn this_process_is_alive_and_a_pid_that_does_not_exist_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn a_holder_stops_acting_before_a_follower_may_take_over() {
        // The holder's deadline counts from before the renewal a follower last saw; the follower's wait
        // from after it: the two never overlap, with a renewal's worth to spare.
        assert!(HOLD + RENEW_EVERY < STALE);
        let hold = Hold::new();
        assert!(!hold.holds(), "nothing held yet");
        hold.until(Instant::now() + HOLD);
        assert!(hold.holds());
        hold.until(Instant::now() - Duration::from_millis(1));
        assert!(!hold.holds(), "past its deadline");
    }
}
