//! Live sessions remembered between requests, without ever answering for a
//! session that another instance or process has ended.
//!
//! Every authenticated request needs its session and user as they are now.
//! Reading them is the one database round trip of token validation; this
//! cache saves it while nothing has changed, under a lease:
//!
//! - The database keeps a counter, `liveness.epoch`, that triggers raise on
//!   every change to a user and every change to a session other than its
//!   `last_used_at` (migration `liveness`). Each instance reads it every
//!   quarter lease; when it moved, the instance forgets every entry.
//! - An instance answers from memory only while its last read of the counter
//!   *started* less than one lease ([`LEASE`], 40 ms) ago. A read that started after a change
//!   committed sees it, so from one lease after a commit on, no instance
//!   answers from an entry older than the change.
//! - So a change that must be seen everywhere at once (sign-out, revocation,
//!   ban, role, password, e-mail, profile, step-up) returns only one lease
//!   after its commit: [`Liveness::settle`], called by the store for those
//!   writes, in every process (servers and the command line alike). The
//!   instance that wrote forgets its own entries at once. The lease is a
//!   constant, not a setting, and every process waits it out even with its
//!   own cache off: a command run with another configuration than the
//!   servers' could otherwise return before their leases lapse.
//!
//! Service clients (the callers of introspection) are remembered the same
//! way, by `client_id`: deleting one, or changing anything of it but its
//! last use, moves the counter too (migration `service_client_liveness`).
//!
//! If the counter cannot be read (the database is down or slow), the lease
//! lapses and every request reads the database again, as without the cache.
//! An entry read from the database is kept only if nothing was forgotten
//! while it was being read (the generation), so a read that raced a change
//! cannot put an old row back.

use super::{ServiceClient, Session, Timestamp, User};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a read of the counter is trusted, and so how much later than
/// its commit a change that ends or alters a session returns. The counter
/// is read four times per lease, so that one slow read does not let it
/// lapse.
pub const LEASE: Duration = Duration::from_millis(40);

/// How long an entry is answered from at most. Using a session (a refresh
/// writes its `last_used_at`) moves no counter, so another instance would
/// show the use it remembered for ever; this bounds it, for one read per
/// session in use per second.
const MAX_AGE: Duration = Duration::from_secs(1);

/// Entries kept at most; when full, all are forgotten (a fresh start costs
/// one read per session in use).
const CAPACITY: usize = 16_384;

pub struct Liveness {
    /// How long this process trusts a read of the counter; zero when it
    /// remembers nothing.
    lease: Duration,
    state: Mutex<State>,
    remembered: AtomicU64,
    read: AtomicU64,
    unleased: AtomicU64,
}

/// How the lookups went (for the metrics): answered from memory, read while
/// the lease held, read with it lapsed (or the cache off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    pub remembered: u64,
    pub read: u64,
    pub unleased: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<Uuid, Entry>,
    /// Service clients by `client_id`, forgotten with the entries.
    clients: HashMap<String, (ServiceClient, Instant)>,
    /// Raised whenever entries are forgotten.
    generation: u64,
    /// The counter as last read, and when that read started.
    epoch: Option<(i64, Instant)>,
}

struct Entry {
    session: Session,
    user: User,
    remembered: Instant,
}

impl State {
    /// Forgets every session and client; a miss from before is not kept.
    fn forget(&mut self) {
        self.entries.clear();
        self.clients.clear();
        self.generation += 1;
    }
}

/// A miss that may be remembered once read: the generation it was seen at.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(Option<u64>);

impl Liveness {
    /// A cache whose entries are trusted for [`LEASE`] after each read of
    /// the counter; off, it remembers nothing (every request reads).
    pub fn new(on: bool) -> Self {
        Self::with_lease(if on { LEASE } else { Duration::ZERO })
    }

    /// The same with another lease (tests of this module, and of the store,
    /// where a test's pauses must not let it lapse).
    pub fn with_lease(lease: Duration) -> Self {
        Self {
            lease,
            state: Mutex::default(),
            remembered: AtomicU64::new(0),
            read: AtomicU64::new(0),
            unleased: AtomicU64::new(0),
        }
    }

    pub fn is_on(&self) -> bool {
        !self.lease.is_zero()
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, if this process may answer from memory now: the cache is
    /// on and its last read of the counter started within the lease.
    fn leased_state(&self) -> Option<std::sync::MutexGuard<'_, State>> {
        if !self.is_on() {
            return None;
        }
        let state = self.state();
        matches!(state.epoch, Some((_, read)) if read.elapsed() < self.lease).then_some(state)
    }

    /// The state, if nothing was forgotten since `ticket`'s miss: a row read
    /// after that miss may then be kept.
    fn state_since(&self, ticket: Ticket) -> Option<std::sync::MutexGuard<'_, State>> {
        let Ticket(Some(generation)) = ticket else {
            return None;
        };
        let state = self.state();
        (state.generation == generation).then_some(state)
    }

    /// The live session `id` of `user_id` and its user, if remembered and
    /// the lease holds; otherwise a ticket to [`remember`](Self::remember)
    /// what the database answers.
    pub fn lookup(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> Result<(Session, User), Ticket> {
        let count = |counter: &AtomicU64| counter.fetch_add(1, Ordering::Relaxed);
        let Some(state) = self.leased_state() else {
            count(&self.unleased);
            return Err(Ticket(None));
        };
        let found = match state.entries.get(&id) {
            // What the database query asks, asked of the remembered row. An
            // entry past its expiry is read again (never refused from here).
            Some(Entry {
                session,
                user,
                remembered,
            }) if session.user_id == user_id
                && session.revoked_at.is_none()
                && session.expires_at > now
                && remembered.elapsed() < MAX_AGE =>
            {
                Ok((session.clone(), user.clone()))
            }
            _ => Err(Ticket(Some(state.generation))),
        };
        count(if found.is_ok() {
            &self.remembered
        } else {
            &self.read
        });
        found
    }

    /// The service client `client_id`, if remembered and the lease holds;
    /// otherwise a ticket to [`remember_client`](Self::remember_client) what
    /// the database answers (a client that does not exist is not remembered).
    pub fn lookup_client(&self, client_id: &str) -> Result<ServiceClient, Ticket> {
        let Some(state) = self.leased_state() else {
            return Err(Ticket(None));
        };
        match state.clients.get(client_id) {
            Some((client, remembered)) if remembered.elapsed() < MAX_AGE => Ok(client.clone()),
            _ => Err(Ticket(Some(state.generation))),
        }
    }

    /// Keeps a service client read from the database after a miss, unless
    /// entries were forgotten since the miss.
    pub fn remember_client(&self, ticket: Ticket, client: &ServiceClient) {
        let Some(mut state) = self.state_since(ticket) else {
            return;
        };
        if state.clients.len() >= CAPACITY {
            state.clients.clear();
        }
        let entry = (client.clone(), Instant::now());
        state.clients.insert(client.client_id.clone(), entry);
    }

    /// This process recorded a use of the client `client_id` at `at`: the
    /// remembered copy shows it, so that the next request does not record
    /// it again.
    pub fn client_used(&self, client_id: &str, at: Timestamp) {
        if let Some((client, _)) = self.state().clients.get_mut(client_id) {
            client.last_used_at = Some(at);
        }
    }

    pub fn lookups(&self) -> Lookups {
        Lookups {
            remembered: self.remembered.load(Ordering::Relaxed),
            read: self.read.load(Ordering::Relaxed),
            unleased: self.unleased.load(Ordering::Relaxed),
        }
    }

    /// Keeps a live session read from the database after a miss, unless
    /// entries were forgotten since the miss (the row may predate that).
    pub fn remember(&self, ticket: Ticket, session: &Session, user: &User) {
        let Some(mut state) = self.state_since(ticket) else {
            return;
        };
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        let entry = Entry {
            session: session.clone(),
            user: user.clone(),
            remembered: Instant::now(),
        };
        state.entries.insert(session.id, entry);
    }

    /// This process used `session` (a refresh): the remembered copy, if
    /// any, shows the use.
    pub fn touched(&self, session: &Session) {
        if let Some(entry) = self.state().entries.get_mut(&session.id) {
            entry.session.last_used_at = session.last_used_at;
        }
    }

    /// Forgets every entry (this process changed a user or a session).
    pub fn forget_all(&self) {
        self.state().forget();
    }

    /// Records a read of the counter that started at `started`: entries
    /// are forgotten if it moved, and the lease runs from `started`.
    pub fn observe(&self, epoch: i64, started: Instant) {
        // One poller per process reads the counter, one read at a time.
        let mut state = self.state();
        if !matches!(state.epoch, Some((known, _)) if known == epoch) {
            state.forget();
        }
        state.epoch = Some((epoch, started));
    }

    /// After a change to a user or a session has committed: forgets this
    /// process's entries and waits one lease (the longer of [`LEASE`] and
    /// this process's own), until no instance can still answer from a row
    /// older than the change.
    pub async fn settle(&self) {
        self.forget_all();
        tokio::time::sleep(self.lease.max(LEASE)).await;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().entries.len()
    }
}

#[cfg(test)]
mod tests;
