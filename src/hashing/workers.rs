//! Dedicated hashing threads at a lower scheduling priority.
//!
//! On tokio's blocking pool, Argon2 competed with the request threads as an
//! equal: a sign-in storm took both cores and token validation's p99 grew
//! tenfold. These threads run at `nice` (10 by default): when nothing else
//! wants the CPU they hash at full speed, and a request thread that wakes
//! up preempts them at once. `HASH_CONCURRENCY` threads, each with its own
//! Argon2 arena, so at most `threads × m_cost` of working memory.

use super::HashError;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

type Job = Box<dyn FnOnce(&mut argon2_rust::Hasher) + Send>;

pub(super) struct Workers {
    jobs: mpsc::Sender<Job>,
}

impl Workers {
    /// Starts `threads` threads; they end when the `Workers` is dropped.
    pub(super) fn start(
        threads: usize,
        nice: i8,
        configured: argon2_rust::Argon2,
    ) -> Result<Self, HashError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("portcullis-hash-{n}"))
                .spawn(move || {
                    lower_priority(nice);
                    let mut arena = configured.hasher();
                    loop {
                        // The lock is held only while waiting for the next
                        // job, never while hashing.
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            Ok(job) => job(&mut arena),
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| HashError::Hash(format!("starting a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a hashing thread and waits for its answer.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut argon2_rust::Hasher) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |arena| {
            // A request dropped while its job waited in line (the client
            // went away) costs no hash.
            if answer.is_closed() {
                return;
            }
            // Nobody waits any more when the request was dropped: fine.
            let _ = answer.send(job(arena));
        });
        self.jobs.send(job).map_err(|_| HashError::Cancelled)?;
        answered.await.map_err(|_| HashError::Cancelled)
    }
}

/// Lowers the calling thread's priority (Linux: `nice` is per thread).
#[cfg(target_os = "linux")]
fn lower_priority(nice: i8) {
    if nice == 0 {
        return;
    }
    // SAFETY: plain system calls on the calling thread's own id.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(
            libc::PRIO_PROCESS,
            tid as libc::id_t,
            libc::c_int::from(nice),
        )
    };
    if result != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not lower the hashing threads' priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i8) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn configured() -> argon2_rust::Argon2 {
        let (id, v13) = (
            argon2_rust::Algorithm::Argon2id,
            argon2_rust::Version::V0x13,
        );
        super::super::engine::argon2id(id, v13, 8, 1, 1, 32).unwrap()
    }

    #[tokio::test]
    async fn jobs_run_on_named_threads_at_the_configured_nice() {
        let workers = Workers::start(2, 19, configured()).unwrap();
        let (name, nice) = workers
            .run(|_| {
                // SAFETY: reads the calling thread's own priority.
                let nice =
                    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
                (std::thread::current().name().map(str::to_owned), nice)
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("portcullis-hash-"));
        assert_eq!(nice, 19);
        // The request threads keep theirs.
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert_eq!(here, 0);
    }

    #[tokio::test]
    async fn a_job_whose_request_went_away_is_not_run() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let workers = Arc::new(Workers::start(1, 0, configured()).unwrap());
        // The only thread is busy until `release` is sent.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let workers = Arc::clone(&workers);
            async move { workers.run(move |_| held.recv().is_ok()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // A second request queues its job behind it, then goes away.
        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = tokio::spawn({
            let (workers, ran) = (Arc::clone(&workers), Arc::clone(&ran));
            async move {
                workers
                    .run(move |_| ran.store(true, Ordering::SeqCst))
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        // The thread passed the abandoned job by and answers the next one.
        assert_eq!(workers.run(|_| 7).await.unwrap(), 7);
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
    }
}
