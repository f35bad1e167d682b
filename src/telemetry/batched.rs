//! The log's output, written in batches by a thread of its own.
//!
//! A request's log line used to cost its thread a `write` system call: half
//! of the log's cost and a twelfth of a token validation's CPU (perf,
//! `GET /v1/sessions/current`). tracing-appender's non-blocking writer moves
//! the call to a thread, but wakes that thread for nearly every line: the
//! context switches cost as much as the calls saved (measured). Here a line
//! is copied into a shared buffer, and the writer thread, once woken, lets
//! lines gather for [`GATHER`] before it writes them all in one call: under
//! load a few hundred lines per call and a wake-up per batch, when idle a
//! line is out at once. A line waits at most `GATHER` plus the write.
//!
//! Never lossy: when the output stalls and the buffer reaches [`LIMIT`], the
//! threads that log wait for room, as a slow stdout made them wait before.
//! Dropping the [`Flusher`] writes what is left and stops the thread; a line
//! logged after that (or after the thread ended any other way) is written
//! by the thread that logs it, as before.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets lines gather after a write.
const GATHER: Duration = Duration::from_millis(5);

/// Bytes buffered before the threads that log wait.
const LIMIT: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// The writer is asked to stop once the buffer is empty.
    closed: bool,
    /// The writer has stopped: whoever logs writes the output.
    stopped: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    output: Mutex<Box<dyn Write + Send>>,
    /// Lines arrived in an empty buffer, or the writer should stop.
    arrived: Condvar,
    /// The writer took the buffer: there is room again.
    taken: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock cannot leave the buffer half
        // changed (it only grows or is swapped whole): go on with it.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_out(&self, bytes: &[u8]) -> io::Result<()> {
        let mut output = self.output.lock().unwrap_or_else(|p| p.into_inner());
        output.write_all(bytes).and_then(|()| output.flush())
    }
}

/// Marks the writer stopped however its thread ends, so that nobody waits
/// for room that it would have made.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let mut pending = self.0.lock();
        pending.closed = true;
        pending.stopped = true;
        drop(pending);
        self.0.taken.notify_all();
    }
}

/// The `MakeWriter` for the log layer: cheap to clone, one per process.
#[derive(Clone)]
pub struct Batched(Arc<Shared>);

/// Keeps the writer thread; dropping it writes the lines still buffered.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `output`.
pub fn batched<W: Write + Send + 'static>(output: W) -> io::Result<(Batched, Flusher)> {
    let shared = Arc::new(Shared {
        pending: Mutex::default(),
        output: Mutex::new(Box::new(output)),
        arrived: Condvar::new(),
        taken: Condvar::new(),
    });
    let thread = std::thread::Builder::new()
        .name("portcullis-log".into())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared)
        })?;
    Ok((
        Batched(shared.clone()),
        Flusher {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches(shared: &Shared) {
    let _stopped = Stopped(shared);
    let mut batch = Vec::new();
    let mut failing = false;
    loop {
        let closed = {
            let mut pending = shared.lock();
            while pending.lines.is_empty() && !pending.closed {
                pending = shared
                    .arrived
                    .wait(pending)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if pending.lines.is_empty() {
                return;
            }
            batch.clear();
            std::mem::swap(&mut batch, &mut pending.lines);
            pending.closed
        };
        shared.taken.notify_all();
        match shared.write_out(&batch) {
            Ok(()) => failing = false,
            // Nowhere to report a failing output but stderr: once, not
            // for every batch while it fails, and never a panic.
            Err(error) if !failing => {
                failing = true;
                let _ = writeln!(io::stderr(), "portcullis: cannot write the log: {error}");
            }
            Err(_) => {}
        }
        if !closed {
            std::thread::sleep(GATHER);
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.arrived.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for Batched {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.0.lock();
        while pending.lines.len() >= LIMIT && !pending.closed {
            pending = self
                .0
                .taken
                .wait(pending)
                .unwrap_or_else(|p| p.into_inner());
        }
        if pending.stopped {
            drop(pending);
            self.0.write_out(line)?;
            return Ok(line.len());
        }
        let was_empty = pending.lines.is_empty();
        pending.lines.extend_from_slice(line);
        drop(pending);
        // Only the first line of a batch wakes the writer: under load it is
        // asleep in `GATHER`, not waiting here.
        if was_empty {
            self.0.arrived.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Batched;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Output {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
    }

    impl Write for Output {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            *self.writes.lock().unwrap() += 1;
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_in_each_threads_order_in_few_writes() {
        let output = Output::default();
        let (writer, flusher) = batched(output.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..5_000 {
                        let mut w = writer.make_writer();
                        w.write_all(format!("{t} {n}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flusher);
        let text = String::from_utf8(output.bytes.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let (t, n) = line.split_once(' ').unwrap();
            let t: usize = t.parse().unwrap();
            assert_eq!(n.parse::<usize>().unwrap(), next[t], "{line}");
            next[t] += 1;
        }
        assert_eq!(next, [5_000; 4]);
        assert!(*output.writes.lock().unwrap() < 20_000 / 10);
    }

    #[test]
    fn a_line_is_out_without_waiting_for_more() {
        let output = Output::default();
        let (writer, _flusher) = batched(output.clone()).unwrap();
        writer.make_writer().write_all(b"alone\n").unwrap();
        for _ in 0..200 {
            if output.bytes.lock().unwrap().as_slice() == b"alone\n" {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the line was not written within a second");
    }

    #[test]
    fn a_line_after_the_writer_stopped_is_written_by_its_logger() {
        let output = Output::default();
        let (writer, flusher) = batched(output.clone()).unwrap();
        writer.make_writer().write_all(b"before\n").unwrap();
        drop(flusher);
        writer.make_writer().write_all(b"after\n").unwrap();
        assert_eq!(output.bytes.lock().unwrap().as_slice(), b"before\nafter\n");
    }

    struct Failing;

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("the collector is gone"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_output_never_makes_loggers_wait_forever() {
        let (writer, flusher) = batched(Failing).unwrap();
        let line = vec![b'x'; 1023];
        let logger = std::thread::spawn(move || {
            for _ in 0..3 * LIMIT / 1024 {
                let mut w = writer.make_writer();
                w.write_all(&line).unwrap();
            }
        });
        for _ in 0..1000 {
            if logger.is_finished() {
                logger.join().unwrap();
                drop(flusher);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the logger still waits after 10 s");
    }

    /// An output that blocks until released, as a stalled pipe does.
    struct Stalled {
        inner: Output,
        release: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (released, cv) = &*self.release;
            let mut released = released.lock().unwrap();
            while !*released {
                released = cv.wait(released).unwrap();
            }
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_makes_loggers_wait_and_loses_nothing() {
        let output = Output::default();
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let stalled = Stalled {
            inner: output.clone(),
            release: release.clone(),
        };
        let (writer, flusher) = batched(stalled).unwrap();
        let line = vec![b'x'; 1023];
        let total = 3 * LIMIT / 1024;
        let logger = std::thread::spawn(move || {
            for _ in 0..total {
                let mut w = writer.make_writer();
                w.write_all(&line).unwrap();
                w.write_all(b"\n").unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!logger.is_finished(), "the logger should wait for room");
        {
            let (released, cv) = &*release;
            *released.lock().unwrap() = true;
            cv.notify_all();
        }
        logger.join().unwrap();
        drop(flusher);
        assert_eq!(output.bytes.lock().unwrap().len(), total * 1024);
    }
}
