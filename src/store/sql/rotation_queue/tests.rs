//! The queue's promises to its callers, with a stand-in backend: a rotation
//! taken into a group is answered by that group even when its caller's
//! wait runs out meanwhile (never a 503 for a rotation that then commits);
//! one still queued when the wait runs out is withdrawn and never written;
//! a group that wrote nothing sends its callers to the pool, one that may
//! have written answers 503.

use super::*;
use std::sync::atomic::AtomicUsize;

/// Answers every rotation `None` after `delay`, or fails with `error`;
/// counts the rotations it was given.
struct StandIn {
    delay: Duration,
    error: Option<GroupError>,
    given: AtomicUsize,
}

impl RotateAll for StandIn {
    fn rotate_all(
        self: Arc<Self>,
        rotations: Vec<Rotation>,
    ) -> BoxFuture<'static, Result<Vec<Option<Session>>, GroupError>> {
        Box::pin(async move {
            self.given.fetch_add(rotations.len(), Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            match &self.error {
                Some(error) => Err(error.clone()),
                None => Ok(rotations.iter().map(|_| None).collect()),
            }
        })
    }
}

const WAIT: Duration = Duration::from_millis(400);

fn stand_in_queue(
    delay: Duration,
    error: Option<GroupError>,
) -> (RotationQueue, Arc<StandIn>, Arc<Semaphore>) {
    let backend = Arc::new(StandIn {
        delay,
        error,
        given: AtomicUsize::new(0),
    });
    let turn = Arc::new(Semaphore::new(1));
    let queue = RotationQueue::new(
        backend.clone(),
        Some(Arc::clone(&turn)),
        1,
        WAIT,
        "stand-in".into(),
    );
    (queue, backend, turn)
}

fn rotation() -> Rotation {
    let now = Timestamp::now();
    Rotation {
        token_hash: "t".into(),
        successor_hash: "s".into(),
        now,
        idle_cutoff: now.minus(Duration::from_secs(60)),
    }
}

#[tokio::test]
async fn a_rotation_taken_into_a_group_is_answered_by_it_past_the_callers_wait() {
    // The turn comes 100 ms in; the group then takes 350 ms (within its own
    // limit, a caller's wait): the caller's 400 ms run out while its
    // rotation is being written.
    let (queue, backend, turn) = stand_in_queue(Duration::from_millis(350), None);
    let held = Arc::clone(&turn).acquire_owned().await.unwrap();
    let caller = tokio::spawn({
        let queue = queue.clone();
        async move { queue.rotate_refresh(rotation()).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    let answer = caller.await.unwrap();
    assert!(matches!(answer, Ok(None)), "{answer:?}");
    assert_eq!(backend.given.load(Ordering::SeqCst), 1);
    assert_eq!(queue.grouped(), 1);
}

#[tokio::test]
async fn a_rotation_still_queued_when_the_wait_runs_out_is_withdrawn() {
    let (queue, backend, turn) = stand_in_queue(Duration::ZERO, None);
    let held = Arc::clone(&turn).acquire_owned().await.unwrap();
    let answer = queue.rotate_refresh(rotation()).await;
    assert!(matches!(answer, Err(NotHere::Busy)), "{answer:?}");
    drop(held);
    // The next rotation gets its turn; the withdrawn one is never written.
    let next = queue.rotate_refresh(rotation()).await;
    assert!(matches!(next, Ok(None)), "{next:?}");
    assert_eq!(backend.given.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_group_that_wrote_nothing_goes_to_the_pool_one_that_may_have_answers_503() {
    let not_written = GroupError::NotWritten("refused".into());
    let (queue, _, _) = stand_in_queue(Duration::ZERO, Some(not_written));
    let answer = queue.rotate_refresh(rotation()).await;
    assert!(matches!(answer, Err(NotHere::Failed)), "{answer:?}");

    let unknown = GroupError::Unknown("connection lost".into());
    let (queue, _, _) = stand_in_queue(Duration::ZERO, Some(unknown));
    let answer = queue.rotate_refresh(rotation()).await;
    assert!(matches!(answer, Err(NotHere::Busy)), "{answer:?}");

    // A group slower than a caller waits: it may commit late, so 503.
    let (queue, _, _) = stand_in_queue(WAIT * 2, None);
    let answer = queue.rotate_refresh(rotation()).await;
    assert!(matches!(answer, Err(NotHere::Busy)), "{answer:?}");
    assert_eq!(queue.grouped(), 0);
}
