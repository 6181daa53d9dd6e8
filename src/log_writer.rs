//! Where the log goes: standard error, with INFO and DEBUG lines gathered and written out together.
//!
//! Every GraphQL request writes one INFO line (`crate::http::telemetry`); written one `write(2)` each,
//! the system calls were a measurable share of a small request's CPU (bench/README.md, "Results, part 5").
//! INFO and DEBUG lines are appended to a buffer that a thread of its own writes out every
//! [`FLUSH_INTERVAL`] (and at once when it passes [`MAX_BUFFERED`], by the line that passes it). WARN and
//! ERROR lines are written at once, after whatever is buffered, so that they are never late and the order
//! of lines is kept. [`LogFlush`] writes out what is left when the process ends.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long an INFO line may wait in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// Buffered bytes past which the line that passes them writes the buffer out itself.
pub const MAX_BUFFERED: usize = 256 * 1024;

#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `buffer` out to standard error and empties it (a failed write loses the lines: there is
    /// nowhere else to report it).
    fn drain(buffer: &mut Vec<u8>) {
        if !buffer.is_empty() {
            let _ = std::io::stderr().lock().write_all(buffer);
            buffer.clear();
        }
    }

    fn flush(&self) {
        Shared::drain(&mut self.lock());
    }
}

/// The writer of the log (a `tracing_subscriber` [`MakeWriter`]); see the module documentation.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
    /// Whether a thread writes the buffer out (if it could not start, every line is written at once).
    buffering: bool,
}

/// Writes out what the [`LogWriter`] still holds when dropped (keep it until the process ends).
pub struct LogFlush {
    shared: Arc<Shared>,
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.shared.flush();
    }
}

impl LogWriter {
    /// A writer and its flush guard, with the thread that writes the buffer out every
    /// [`FLUSH_INTERVAL`].
    pub fn new() -> (LogWriter, LogFlush) {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        let started = std::thread::Builder::new().name("capcom-log".to_owned()).spawn(move || {
            loop {
                std::thread::sleep(FLUSH_INTERVAL);
                let Some(shared) = weak.upgrade() else { return };
                // Written under the lock, so that a warning cannot overtake the lines before it.
                shared.flush();
            }
        });
        (LogWriter { shared: shared.clone(), buffering: started.is_ok() }, LogFlush { shared })
    }
}

/// Whether lines of `level` are buffered (INFO and below); WARN and ERROR are written at once.
fn buffered(level: &Level) -> bool {
    *level > Level::WARN
}

/// One line's writer: buffered, or written at once.
pub struct LineWriter<'a> {
    shared: &'a Shared,
    buffered: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.shared.lock();
        if self.buffered {
            buffer.extend_from_slice(bytes);
            if buffer.len() > MAX_BUFFERED {
                Shared::drain(&mut buffer);
            }
            return Ok(bytes.len());
        }
        // Held while writing, so that no buffered line can come between the two writes.
        Shared::drain(&mut buffer);
        std::io::stderr().lock().write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter { shared: &self.shared, buffered: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter<'a> {
        LineWriter { shared: &self.shared, buffered: self.buffering && buffered(meta.level()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lines_wait_in_the_buffer_and_a_warning_writes_them_out_first() {
        assert!(buffered(&Level::INFO) && buffered(&Level::DEBUG));
        assert!(!buffered(&Level::WARN) && !buffered(&Level::ERROR));
        let shared = Shared::default();
        LineWriter { shared: &shared, buffered: true }.write_all(b"").unwrap();
        LineWriter { shared: &shared, buffered: true }.write_all(b"a line\n").unwrap();
        assert_eq!(shared.lock().as_slice(), b"a line\n");
        // Written out (to the test's standard error) before the warning, which is not buffered.
        LineWriter { shared: &shared, buffered: false }.write_all(b"").unwrap();
        assert!(shared.lock().is_empty());
        let (writer, flush) = LogWriter::new();
        assert!(!writer.make_writer().buffered);
        drop(flush);
    }
}
