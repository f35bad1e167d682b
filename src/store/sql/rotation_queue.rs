//! Refresh rotations, many to a transaction (a group commit), on a
//! connection of the store's own.
//!
//! Rotations queue in the process; whichever arrive while one transaction
//! runs go together into the next, one commit for all of them (on
//! PostgreSQL one statement, one round trip and one wait for the log's
//! flush; on SQLite one write turn and one hand-over). Each rotation first
//! checks that its token is current and its session live, and writes only
//! then, so a rotation that is refused writes nothing and leaves the others
//! of its transaction alone. The backend's part, running one such transaction, is a
//! [`RotateAll`] (`sqlite_writer`, `postgres_rotations`).
//!
//! The queue is drained by a task of its own, never by a request's: a
//! client that goes away must not strand the rotations queued behind its
//! own, and a connection is never left in the middle of a statement.
//! A rotation checks and writes with its request's `now`, which is at most
//! the caller's wait (the pool's acquire timeout) old: a caller that stopped
//! waiting is skipped.
//!
//! Anything unusual (no connection, a statement fails, a lock not granted
//! at once) answers "not done here" to every rotation of that transaction,
//! with nothing written (it rolls back), and each caller runs its rotation
//! through the pool, which reports errors, trips the breaker and answers
//! 503 as everywhere else.

use crate::store::{Session, Timestamp};
use futures_util::future::BoxFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

/// Rotations per transaction at most: the transaction (and on SQLite the
/// write turn) stays short for the writers queued behind it.
const MAX_BATCH: usize = 64;

/// Rotations waiting at most; more are refused at once (503) rather than
/// queued behind work that cannot finish within their wait.
const MAX_QUEUED: usize = 4096;

/// What the rotation needs, owned: it runs on another task or thread.
pub(super) struct Rotation {
    pub token_hash: String,
    pub successor_hash: String,
    pub now: Timestamp,
    pub idle_cutoff: Timestamp,
}

/// Why a rotation was not done here.
#[derive(Debug)]
pub(super) enum NotHere {
    /// It failed here (nothing written): the pool may do it.
    Failed,
    /// The turn did not come within the wait, or too many rotations wait
    /// already (the database is busy), or its group failed after it may
    /// have committed: a 503, and not to be done again (a rotation whose
    /// caller stopped waiting while queued is skipped).
    Busy,
}

/// Why a group of rotations failed.
#[derive(Debug, Clone)]
pub(super) enum GroupError {
    /// Nothing was written (the database rolled it back, or it was never
    /// sent): the pool may do each rotation.
    NotWritten(String),
    /// It may have committed (the connection failed after sending, or the
    /// group ran out of time): nothing may be done again, or a retry would
    /// look like a reuse of the old token.
    Unknown(String),
}

/// A backend's transaction of rotations.
pub(super) trait RotateAll: Send + Sync + 'static {
    /// Every rotation in one transaction, committed, each answered in
    /// order: the rotated session, or `None` where the token is not current
    /// or its session not live. All or nothing where anything fails.
    fn rotate_all(
        self: Arc<Self>,
        rotations: Vec<Rotation>,
    ) -> BoxFuture<'static, Result<Vec<Option<Session>>, GroupError>>;
}

/// A job's state: its caller may withdraw it only while it is queued; once
/// taken into a group, its caller waits for the group's answer.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

/// The queue of one store's rotations.
#[derive(Clone)]
pub(super) struct RotationQueue {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn RotateAll>,
    /// Where writes take turns (SQLite: the process's one writer, shared
    /// with the pool's writers).
    turn: Option<Arc<Semaphore>>,
    /// Transactions at once at most (SQLite: one, it has one writer).
    at_once: usize,
    /// How long a rotation waits for its answer before giving up.
    wait: Duration,
    /// Named in the warning when rotations are left to the pool.
    database: String,
    /// Where the draining task runs: the runtime that opened the store (the
    /// process's own). Spawned on a request's runtime instead (an actix
    /// worker's, busy with requests), its connection's socket would be
    /// polled there: a batch of 16 took 6.7 ms, 0.4 ms per round trip.
    runtime: tokio::runtime::Handle,
    queue: Mutex<Queue>,
    /// The first failure is a warning; later ones are debug lines.
    warned: AtomicBool,
    /// Rotations answered by a group (written, or refused as not current).
    grouped: AtomicU64,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Tasks taking the queue's rotations to the database.
    draining: usize,
}

struct Job {
    rotation: Rotation,
    answer: oneshot::Sender<Result<Option<Session>, GroupError>>,
    state: Arc<AtomicU8>,
}

impl RotationQueue {
    /// Must be called inside the Tokio runtime that is to run the queue's
    /// transactions (where the store is opened).
    pub(super) fn new(
        backend: Arc<dyn RotateAll>,
        turn: Option<Arc<Semaphore>>,
        at_once: usize,
        wait: Duration,
        database: String,
    ) -> Self {
        let inner = Inner {
            backend,
            turn,
            at_once: at_once.max(1),
            wait,
            database,
            runtime: tokio::runtime::Handle::current(),
            queue: Mutex::default(),
            warned: AtomicBool::new(false),
            grouped: AtomicU64::new(0),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Rotations answered by a group since the store opened.
    pub(super) fn grouped(&self) -> u64 {
        self.inner.grouped.load(Ordering::Relaxed)
    }

    /// `SessionRepo::rotate_and_issue_refresh_token`, committed: `None`
    /// where the token is not current or its session not live (nothing
    /// written). A rotation whose caller stops waiting (timed out, or its
    /// client went away) while it is queued is skipped; once its group
    /// has taken it, the caller waits for the group's answer (bounded by
    /// the group's own time limit), so that it never answers 503 for a
    /// rotation that then commits.
    pub(super) async fn rotate_refresh(
        &self,
        rotation: Rotation,
    ) -> Result<Option<Session>, NotHere> {
        let (answer, mut answered) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let start = {
            let mut queue = self.inner.lock_queue();
            if queue.jobs.len() >= MAX_QUEUED {
                return Err(NotHere::Busy);
            }
            let job = Job {
                rotation,
                answer,
                state: Arc::clone(&state),
            };
            queue.jobs.push(job);
            let start = queue.draining < self.inner.at_once;
            if start {
                queue.draining += 1;
            }
            start
        };
        if start {
            self.inner.runtime.spawn(Arc::clone(&self.inner).drain());
        }
        let answer = match tokio::time::timeout(self.inner.wait, &mut answered).await {
            Ok(answer) => answer,
            Err(_) => {
                let withdrawn =
                    state.compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire);
                if withdrawn.is_ok() {
                    return Err(NotHere::Busy);
                }
                answered.await
            }
        };
        let (error, not_here) = match answer {
            Ok(Ok(rotated)) => return Ok(rotated),
            Ok(Err(GroupError::NotWritten(error))) => (error, NotHere::Failed),
            Ok(Err(GroupError::Unknown(error))) => (error, NotHere::Busy),
            // Dropped: its group panicked (perhaps after writing), or the
            // queue was given up before taking it.
            Err(_) if state.load(Ordering::Acquire) == TAKEN => {
                ("the group stopped unanswered".to_owned(), NotHere::Busy)
            }
            Err(_) => ("the queue stopped".to_owned(), NotHere::Failed),
        };
        if self.inner.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(%error, "refresh rotation left to the pool");
        } else {
            tracing::warn!(
                %error,
                database = %self.inner.database,
                "refresh rotations fail on the store's own connection: left to the pool \
                 where nothing was written, 503 where it may have been"
            );
        }
        Err(not_here)
    }
}

impl Inner {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the queued rotations to the database, a transaction at a time
    /// (each in its own turn, where writes take turns), until the queue is
    /// empty. Up to `at_once` of these run together: while one waits for
    /// its commit, the next group forms and goes.
    async fn drain(self: Arc<Self>) {
        // Counts this task out however it ends, a panic included, so that
        // the queue never waits for a task that is gone.
        let mut draining = Draining {
            inner: &self,
            counted: true,
        };
        loop {
            {
                // Under the lock a rotation is queued in: the next one
                // queued starts another task.
                let mut queue = self.lock_queue();
                if queue.jobs.is_empty() {
                    queue.draining -= 1;
                    draining.counted = false;
                    return;
                }
            }
            // The semaphore is never closed; should it be, the queued jobs
            // are dropped, and their callers go to the pool.
            let permit = match &self.turn {
                Some(turn) => match Arc::clone(turn).acquire_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        self.lock_queue().jobs.clear();
                        return;
                    }
                },
                None => None,
            };
            // Everything queued until the turn came, up to `MAX_BATCH`.
            let jobs = {
                let mut queue = self.lock_queue();
                let take = queue.jobs.len().min(MAX_BATCH);
                queue.jobs.drain(..take).collect::<Vec<_>>()
            };
            self.run(jobs).await;
            drop(permit);
        }
    }

    /// One transaction for `jobs`, each answered.
    async fn run(&self, jobs: Vec<Job>) {
        // Not for a caller that stopped waiting: its client got a 503 (or
        // went away), and a rotation committed now would make its retry
        // look like a reuse of the old token. The others are taken: from
        // now on their callers wait for this answer.
        let (rotations, answers): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .filter(|job| {
                !job.answer.is_closed()
                    && job
                        .state
                        .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
            })
            .map(|job| (job.rotation, job.answer))
            .unzip();
        if rotations.is_empty() {
            return;
        }
        let count = rotations.len();
        let started = std::time::Instant::now();
        // Its callers wait for it past their own wait: bounded here. A
        // panic there drops the answers (their callers answer 503).
        let group = Arc::clone(&self.backend).rotate_all(rotations);
        let outcome = match tokio::time::timeout(self.wait, group).await {
            Ok(outcome) => outcome,
            Err(_) => Err(GroupError::Unknown(
                "the group took longer than a caller waits".to_owned(),
            )),
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(
            rotations = count,
            micros,
            ok = outcome.is_ok(),
            "refresh rotations"
        );
        match outcome {
            // One answer per rotation, in order, by each backend's making.
            Ok(rotated) => {
                self.grouped
                    .fetch_add(rotated.len() as u64, Ordering::Relaxed);
                for (answer, rotated) in answers.into_iter().zip(rotated) {
                    let _ = answer.send(Ok(rotated));
                }
            }
            Err(error) => {
                for answer in answers {
                    let _ = answer.send(Err(error.clone()));
                }
            }
        }
    }
}

/// A draining task, counted in `Queue::draining` until it ends.
struct Draining<'a> {
    inner: &'a Inner,
    counted: bool,
}

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.inner.lock_queue().draining -= 1;
        }
    }
}

#[cfg(test)]
mod tests;
