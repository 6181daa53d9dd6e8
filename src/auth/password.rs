//! Password hashing with argon2id, off the async runtime, bounded in concurrency and memory.
//!
//! Each hash needs 19 MiB of working memory and tens of milliseconds of CPU. Computed on as many blocking
//! threads as requests arrive (tokio allows 512), a burst of anonymous sign-ins used to allocate 19 MiB per
//! thread, which glibc then kept in per-thread arenas: gigabytes resident that never came back. Now:
//!
//! - at most `CAPCOM_PASSWORD_HASHING_CONCURRENCY` hashes run at once (default: the number of cores, as
//!   more cannot run faster); the others wait for a turn, in order, for at most
//!   `CAPCOM_PASSWORD_HASHING_WAIT_MS`, after which they are answered UNAVAILABLE;
//! - the hashes run on threads of their own, one per turn, started with the hasher: a hash never waits for
//!   (or fails for want of) a thread created on demand. A hash that ran on a blocking thread spawned per
//!   hash kept its turn queued for good when the system refused the thread (a pids limit): after
//!   `concurrency` refusals every sign-in answered UNAVAILABLE until capcom restarted;
//! - a hash takes its working memory (an area) from those the earlier hashes gave back, the one given back
//!   last first, and maps one only when none is free; so there are never more areas than turns
//!   (concurrency × 19 MiB for the default parameters), and a burst of sign-ins reuses the same few
//!   without mapping more. Areas no hash took for [`KEEP_MEMORY_IDLE`] are unmapped (one to two of it
//!   after their last hash), which returns their memory to the system, so an idle capcom holds none (`capcom_password_hashing_memory_bytes`). Kept by each thread for good, as they were, the
//!   19 MiB of each thread that ever hashed stayed resident after the first sign-ins: on two cores, 38 MiB,
//!   a third of what capcom held serving a page of 200 members to 64 clients (bench/README.md, part 10);
//! - a request may cause at most one hash (SPEC §7), however many aliases or batched operations ask for
//!   one: each request holds a [`HashPermit`], and the hasher it uses ([`PasswordHasher::for_request`])
//!   refuses a second hash at once with BAD_USER_INPUT ([`MSG_ONE_HASH_PER_REQUEST`]). The permit is taken
//!   only by hashing, so every cheap check (invite token, sign-up rules, throttles) runs first. The
//!   anonymous sign-up and sign-in fields also claim the request's one password check before anything
//!   else ([`HashPermit::claim`]): the second `createUser` or `createToken` of a request is refused without
//!   a statement, so 200 of them carrying a garbage invite token cost one lookup, not 200;
//! - every hash computed is counted (`capcom_password_hashes_total`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// Minimum password length (SPEC §3).
pub const MIN_LENGTH: usize = 8;
/// Maximum password length: bounds the hashing work a request can ask for.
pub const MAX_LENGTH: usize = 1024;

/// Length of a generated salt, in bytes.
const SALT_LENGTH: usize = 16;

/// Why the second password hash of one request is refused (BAD_USER_INPUT on `password`).
pub const MSG_ONE_HASH_PER_REQUEST: &str =
    "Only one password may be checked per request: send each sign-in or sign-up in a request of its own";

/// The one password hash a request may cause (SPEC §7): HTTP requests (a batch as a whole) and each
/// WebSocket operation hold one. Taken by the first hash; every later one is refused.
#[derive(Debug, Default)]
pub struct HashPermit {
    spent: AtomicBool,
    /// Whether a sign-up or sign-in of the request claimed its one password check.
    claimed: AtomicBool,
}

impl HashPermit {
    /// A fresh permit, shared by every operation of one request.
    pub fn new() -> Arc<HashPermit> {
        Arc::new(HashPermit::default())
    }

    /// Claims the request's one password check, before its cheap checks run (`createUser` and
    /// `createToken`, SPEC §7): the first claim succeeds, every later one is refused at once with
    /// BAD_USER_INPUT on `password` ([`MSG_ONE_HASH_PER_REQUEST`]), whether or not the first one hashed.
    /// The hash itself still takes the permit, so a request never hashes twice either way.
    pub fn claim(&self) -> ApiResult<()> {
        if self.claimed.swap(true, Ordering::SeqCst) {
            return Err(ApiError::bad_input("password", MSG_ONE_HASH_PER_REQUEST));
        }
        Ok(())
    }

    /// Takes the permit; false when it was taken already.
    fn take(&self) -> bool {
        !self.spent.swap(true, Ordering::SeqCst)
    }
}

/// Most password hashes computed at once (`CAPCOM_PASSWORD_HASHING_CONCURRENCY`): each turn has a thread
/// for as long as capcom runs, and at most one working area (19 MiB for the default parameters) while
/// hashes keep coming.
pub const MAX_CONCURRENCY: usize = 256;

/// How long a working area no hash took is kept for the next one: long enough for the sign-ins of a burst
/// (a CI fleet starting, hashes back to back) to reuse it, short enough that capcom holds none soon after
/// the sign-ins end, before the requests they were made for arrive. An area is freed between one and two of
/// these after its last hash: the idle thread first in line for the next job wakes this often to check.
pub const KEEP_MEMORY_IDLE: Duration = Duration::from_millis(250);

/// One hash for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords on a fixed set of threads, with working areas reused from hash to hash.
/// The threads end when the last clone of the hasher is dropped.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    turns: Arc<Semaphore>,
    /// The hashing threads' queue; a job is sent only with a turn, so it never waits behind more than
    /// the threads' own work (a hash, or unmapping unused areas after one: a millisecond or two).
    jobs: Sender<Job>,
    wait: Duration,
    /// Hashes computed (`capcom_password_hashes_total`).
    hashes: prometheus::IntCounter,
    /// The request's permit; `None` for work that is not a request (seeding).
    permit: Option<Arc<HashPermit>>,
    /// The working areas, in use and free.
    areas: Arc<Areas>,
}

/// The hashes' working areas: those free, each with when it was given back (the last one last), and the
/// bytes of all of them, free or in use.
#[derive(Debug, Default)]
struct Areas {
    free: Mutex<Vec<(Area, Instant)>>,
    bytes: Arc<AtomicUsize>,
}

/// One hash's working memory, counted in [`Areas::bytes`] for as long as it exists. It holds the count,
/// not the [`Areas`] (which hold it when it is free): dropping the last hasher then unmaps the free areas.
#[derive(Debug)]
struct Area {
    blocks: Mapped,
    bytes: Arc<AtomicUsize>,
}

/// Blocks mapped from the system for one area (an anonymous private mapping), unmapped when dropped. Not taken from the allocator: mimalloc keeps freed pages mapped until it next needs them,
/// which left up to concurrency × 19 MiB resident in an idle capcom after the areas were freed; an
/// unmapped area leaves nothing behind.
#[derive(Debug)]
struct Mapped {
    start: std::ptr::NonNull<Block>,
    len: usize,
}

// Page alignment (4 KiB at least) covers `Block`'s, which `Mapped` relies on.
const _: () = assert!(std::mem::align_of::<Block>() <= 4096);

// SAFETY: a `Mapped` owns its mapping alone (nothing else holds its address), so moving it to another
// thread moves the whole of it, as moving a `Vec<Block>` would.
unsafe impl Send for Mapped {}

impl Mapped {
    /// `len` blocks, each `Block::new()`; `None` when the system refuses the memory.
    fn new(len: usize) -> Option<Mapped> {
        let bytes = std::alloc::Layout::array::<Block>(len).ok()?.size();
        if bytes == 0 {
            return Some(Mapped { start: std::ptr::NonNull::dangling(), len: 0 });
        }
        // SAFETY: an anonymous private mapping at an address of the system's choosing touches no memory
        // the program owns; it either fails (MAP_FAILED) or returns `bytes` of page-aligned memory.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        // Never null without MAP_FIXED; should it be, the mapping is given back rather than used.
        let Some(start) = std::ptr::NonNull::new(start.cast::<Block>()) else {
            // SAFETY: the mapping just made, of `bytes`, unmapped once and never used.
            unsafe { libc::munmap(start, bytes) };
            return None;
        };
        for k in 0..len {
            // SAFETY: `start` is page-aligned (a multiple of `Block`'s alignment, checked above) and maps
            // `len` blocks; each is written once, before any reference to it exists.
            unsafe { start.add(k).write(Block::new()) };
        }
        Some(Mapped { start, len })
    }

    fn bytes(&self) -> usize {
        self.len * std::mem::size_of::<Block>()
    }

    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: `start` is page-aligned (a multiple of `Block`'s alignment), or dangling and aligned for
        // an empty slice; it maps `len` blocks, each written by `new`, for as long as `self` lives,
        // borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the mapping `new` made, unmapped once; no slice of it outlives `self`.
            let unmapped = unsafe { libc::munmap(self.start.as_ptr().cast(), self.bytes()) };
            debug_assert_eq!(unmapped, 0, "munmap of a hashing area");
        }
    }
}

impl Areas {
    /// An area of at least `blocks` blocks: the free one given back last, or a new one when none is free
    /// (a free one too small, for a stored hash with larger parameters, is freed and replaced); `None` when
    /// the system refuses the memory.
    fn take(&self, blocks: usize) -> Option<Area> {
        let last = self.free.lock().ok().and_then(|mut free| free.pop());
        match last {
            Some((area, _)) if area.blocks.len >= blocks => Some(area),
            _ => {
                let area = Area { blocks: Mapped::new(blocks)?, bytes: self.bytes.clone() };
                self.bytes.fetch_add(area.blocks.bytes(), Ordering::Relaxed);
                Some(area)
            }
        }
    }

    /// Gives `area` back for the next hash.
    fn give_back(&self, area: Area) {
        if let Ok(mut free) = self.free.lock() {
            free.push((area, Instant::now()));
        }
    }

    /// Frees the areas no hash took for `keep`.
    fn free_unused(&self, keep: Duration) {
        // Taken out under the lock, unmapped after it. The list is in the order the areas were given back,
        // so the unused ones come first.
        let unused: Vec<(Area, Instant)> = match self.free.lock() {
            Ok(mut free) => {
                let now = Instant::now();
                let unused = free.partition_point(|(_, since)| now.duration_since(*since) >= keep);
                free.drain(..unused).collect()
            }
            Err(_) => return,
        };
        drop(unused);
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // Uncounted here, unmapped right after (by `Mapped`'s own drop).
        self.bytes.fetch_sub(self.blocks.bytes(), Ordering::Relaxed);
    }
}

/// A hashing thread: the queue it shares with the other threads, and the areas, which the thread first
/// in line for the next job frees once unused for `keep_idle`.
struct HashingThread {
    queue: Arc<Mutex<Receiver<Job>>>,
    keep_idle: Duration,
    areas: Arc<Areas>,
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` hashes at once (clamped to 1..=[`MAX_CONCURRENCY`]), on as
    /// many threads started now (`capcom-hash-K`); a hash waits at most `wait` for its turn.
    ///
    /// # Errors
    /// The system refused a thread.
    pub fn new(concurrency: usize, wait: Duration) -> std::io::Result<Self> {
        PasswordHasher::keeping_memory(concurrency, wait, KEEP_MEMORY_IDLE)
    }

    /// [`PasswordHasher::new`], keeping working areas no hash took for `keep_idle` (not zero: the thread
    /// first in line checks every `keep_idle`).
    fn keeping_memory(concurrency: usize, wait: Duration, keep_idle: Duration) -> std::io::Result<Self> {
        let concurrency = concurrency.clamp(1, MAX_CONCURRENCY);
        let keep_idle = keep_idle.max(Duration::from_millis(1));
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let areas = Arc::new(Areas::default());
        for k in 0..concurrency {
            let thread = HashingThread { queue: queue.clone(), keep_idle, areas: areas.clone() };
            // On an error the threads already started end with the dropped sender.
            std::thread::Builder::new().name(format!("capcom-hash-{k}")).spawn(move || thread.run())?;
        }
        Ok(PasswordHasher {
            turns: Arc::new(Semaphore::new(concurrency)),
            jobs,
            wait,
            hashes: unregistered_counter(),
            permit: None,
            areas,
        })
    }

    /// Bytes of working memory the hashes hold now, in use or kept for the next ones
    /// (`capcom_password_hashing_memory_bytes`).
    pub fn memory_held(&self) -> usize {
        self.areas.bytes.load(Ordering::Relaxed)
    }

    /// The same hasher, counting every hash it computes in `hashes`.
    pub fn counting(self, hashes: prometheus::IntCounter) -> Self {
        PasswordHasher { hashes, ..self }
    }

    /// The hasher one request uses: the same turns and memory, but at most one hash for as long as
    /// `permit` is shared (the other calls answer BAD_USER_INPUT, [`MSG_ONE_HASH_PER_REQUEST`]).
    pub fn for_request(&self, permit: Arc<HashPermit>) -> PasswordHasher {
        PasswordHasher { permit: Some(permit), ..self.clone() }
    }

    /// A hasher sized by the configuration: `CAPCOM_PASSWORD_HASHING_CONCURRENCY` (default: the cores) and
    /// `CAPCOM_PASSWORD_HASHING_WAIT_MS`.
    ///
    /// # Errors
    /// The system refused a hashing thread.
    pub fn from_config(config: &crate::config::Config) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        Self::new(
            config.password_hashing_concurrency.unwrap_or(cores),
            Duration::from_millis(config.password_hashing_wait_ms),
        )
    }

    /// Runs `work` on a hashing thread with working memory of at least `blocks` blocks, once a turn is free.
    /// The memory and the turn are given back when `work` ends, even if the caller stopped waiting; a
    /// `work` that panics frees its memory.
    async fn run<T: Send + 'static>(
        &self,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> ApiResult<T> {
        if self.permit.as_ref().is_some_and(|permit| !permit.take()) {
            return Err(ApiError::bad_input("password", MSG_ONE_HASH_PER_REQUEST));
        }
        let turn = match tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(closed)) => return Err(ApiError::internal(format!("password hashing: {closed}"))),
            Err(_) => {
                return Err(ApiError::unavailable(format!(
                    "no password hashing turn within {} ms",
                    self.wait.as_millis()
                )));
            }
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let areas = self.areas.clone();
        let hashes = self.hashes.clone();
        let job: Job = Box::new(move || {
            // No area (the system refused the memory): the caller is answered UNAVAILABLE.
            let result = areas.take(blocks).map(|mut area| {
                hashes.inc();
                let result = work(area.blocks.blocks());
                // Given back before the caller learns the hash is done, so that its next hash finds it.
                areas.give_back(area);
                result
            });
            drop(turn);
            // The caller may have stopped waiting; the hash is done all the same.
            let _ = done.send(result);
        });
        // A job that cannot be queued or that panics drops its turn with it.
        self.jobs.send(job).map_err(|_| ApiError::internal("password hashing: the hashing threads are gone"))?;
        result
            .await
            .map_err(|_| ApiError::internal("password hashing: the hash panicked"))?
            .ok_or_else(|| ApiError::unavailable("no memory for a password hash"))
    }

    /// Hashes `password` into a PHC string (argon2id, default parameters, random salt).
    pub async fn hash(&self, password: String) -> ApiResult<String> {
        let mut salt = [0u8; SALT_LENGTH];
        getrandom::fill(&mut salt).map_err(|e| ApiError::internal(format!("password salt: {e}")))?;
        let params = Params::default();
        self.run(params.block_count(), move |memory| hash_with(&params, password.as_bytes(), &salt, memory))
            .await?
            .map_err(|e| ApiError::internal(format!("password hashing: {e}")))
    }

    /// Whether `password` matches `stored`. With no stored hash, does the same work against a decoy hash and
    /// answers false, so that an unknown identity takes as long to refuse as a wrong password.
    pub async fn verify(&self, password: String, stored: Option<String>) -> ApiResult<bool> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DECOY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return Err(ApiError::internal("a stored password hash is not a PHC string"));
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return Err(ApiError::internal("a stored password hash has unusable argon2 parameters"));
        };
        let matches = self
            .run(params.block_count(), move |memory| verify_with(&parsed, &params, password.as_bytes(), memory))
            .await?;
        Ok(known && matches)
    }
}

impl HashingThread {
    /// Takes the next job from the queue until every hasher is gone.
    fn run(&self) {
        while let Some(job) = self.next_job() {
            // A panicking hash answers its caller INTERNAL (its result channel is dropped), and gives its
            // turn back and frees its area as it unwinds; the thread goes on.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            // Also after each hash: sign-ins coming more often than `keep_idle` reuse the area given back
            // last, and would otherwise keep the older ones from ever being freed.
            self.areas.free_unused(self.keep_idle);
        }
    }

    /// The next job, once there is one; `None` when every hasher is gone. The thread first in line frees
    /// the unused areas every `keep_idle` while it waits (and every thread after each hash, [`Self::run`]).
    fn next_job(&self) -> Option<Job> {
        // One idle thread waits on the queue at a time; the others wait for the lock.
        let queue = self.queue.lock().ok()?;
        loop {
            match queue.recv_timeout(self.keep_idle) {
                Ok(job) => return Some(job),
                Err(RecvTimeoutError::Timeout) => self.areas.free_unused(self.keep_idle),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

/// A counter nobody scrapes, for hashers made without metrics (tests, tools).
fn unregistered_counter() -> prometheus::IntCounter {
    prometheus::IntCounter::new("capcom_password_hashes_total", "Password hashes computed.")
        .unwrap_or_else(|_| unreachable!("the metric name is a valid constant"))
}

fn hash_with(params: &Params, password: &[u8], salt: &[u8], memory: &mut [Block]) -> Result<String, String> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon2.hash_password_into_with_memory(password, salt, &mut output, memory).map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&output).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

fn verify_with(stored: &PasswordHash, params: &Params, password: &[u8], memory: &mut [Block]) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else { return false };
    let version = stored.version.and_then(|version| Version::try_from(version).ok()).unwrap_or_default();
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut computed = vec![0u8; expected.as_bytes().len()];
    if argon2.hash_password_into_with_memory(password, salt, &mut computed, memory).is_err() {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&computed).is_ok_and(|computed| &computed == expected)
}

/// A hash of a password nobody knows, with the default parameters, verified against when the user does not
/// exist: an unknown identity then takes the same path, and as long, as a wrong password. A constant (the
/// hash of [`DECOY_PASSWORD`] with [`DECOY_SALT`], checked by a test): made at run time, the first unknown
/// identity of each process cost two hashes, and it was made on the async runtime.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Y2FwY29tLWRlY295LXNhbHQ$3ufNrcNXBwnjJL8tZL3G06jtYkkrKxbqI1mwXdAGaeg";

/// What [`DECOY_HASH`] is the hash of.
#[cfg(test)]
const DECOY_PASSWORD: &[u8] = b"capcom decoy password, never valid";

/// [`DECOY_HASH`]'s salt.
#[cfg(test)]
const DECOY_SALT: &[u8] = b"capcom-decoy-salt";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_standard_phc_strings() {
        let hasher = PasswordHasher::new(1, Duration::from_secs(60)).expect("hashing threads");
        let hash = hasher.hash("correct horse".to_owned()).await.unwrap_or_default();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(hasher.verify("correct horse".to_owned(), Some(hash.clone())).await.ok(), Some(true));
        assert_eq!(hasher.verify("wrong horse".to_owned(), Some(hash.clone())).await.ok(), Some(false));
        assert_eq!(hasher.verify("correct horse".to_owned(), None).await.ok(), Some(false));
        // Hashes made by the argon2 crate's own API verify too (and the other way round).
        use argon2::PasswordVerifier;
        assert!(Argon2::default().verify_password(b"correct horse", hash.as_str()).is_ok());
    }

    #[tokio::test]
    async fn a_caller_that_cannot_get_a_turn_in_time_is_told_to_retry() {
        let hasher = Arc::new(PasswordHasher::new(1, Duration::from_millis(1)).expect("hashing threads"));
        let busy = hasher.clone();
        let first = tokio::spawn(async move { busy.hash("first password".to_owned()).await });
        tokio::task::yield_now().await;
        let second = hasher.hash("second password".to_owned()).await;
        assert_eq!(second.err().map(|e| e.code()), Some(crate::error::code::UNAVAILABLE));
        assert!(first.await.is_ok_and(|hash| hash.is_ok()));
    }

    #[tokio::test]
    async fn a_request_gets_one_hash() {
        let hasher = PasswordHasher::new(1, Duration::from_secs(60)).expect("hashing threads");
        let request = hasher.for_request(HashPermit::new());
        assert!(request.verify("first password".to_owned(), None).await.is_ok());
        let second = request.hash("second password".to_owned()).await;
        assert_eq!(second.err().map(|e| e.code()), Some(crate::error::code::BAD_USER_INPUT));
        assert_eq!(hasher.hashes.get(), 1);
        // Another request has its own permit.
        assert!(hasher.for_request(HashPermit::new()).hash("third password".to_owned()).await.is_ok());
        assert_eq!(hasher.hashes.get(), 2);
    }

    #[tokio::test]
    async fn hashes_run_on_the_threads_started_with_the_hasher() {
        let hasher = PasswordHasher::new(2, Duration::from_secs(60)).expect("hashing threads");
        for _ in 0..4 {
            let name = hasher.run(1, |_| std::thread::current().name().map(str::to_owned)).await.ok().flatten();
            assert!(name.as_deref().is_some_and(|name| name.starts_with("capcom-hash-")), "{name:?}");
        }
    }

    #[tokio::test]
    async fn a_hash_that_panics_gives_its_turn_and_thread_back() {
        let hasher = PasswordHasher::new(1, Duration::from_millis(500)).expect("hashing threads");
        for _ in 0..3 {
            let failed: ApiResult<()> = hasher.run(1, |_| panic!("a hash that panics")).await;
            assert_eq!(failed.err().map(|e| e.code()), Some(crate::error::code::INTERNAL));
        }
        // With one turn and one thread, either lost would leave this hash waiting until UNAVAILABLE.
        assert!(hasher.hash("after the panics".to_owned()).await.is_ok());
    }

    /// Waits (at most 10 s) until the hasher holds `bytes` of working memory; what it holds then.
    async fn memory_settles_at(hasher: &PasswordHasher, bytes: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while hasher.memory_held() != bytes && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        hasher.memory_held()
    }

    #[tokio::test]
    async fn working_memory_is_reused_from_hash_to_hash_whichever_thread_runs_it() {
        let blocks = Params::default().block_count();
        let bytes = blocks * std::mem::size_of::<Block>();
        let hasher = PasswordHasher::keeping_memory(2, Duration::from_secs(60), Duration::from_secs(60))
            .expect("hashing threads");
        assert_eq!(hasher.memory_held(), 0);
        for _ in 0..4 {
            assert!(hasher.hash("a password".to_owned()).await.is_ok());
            // One area, given back before the hash answered, found by the next job on either thread.
            assert_eq!(hasher.memory_held(), bytes);
            assert_eq!(hasher.run(0, |memory| memory.len()).await.ok(), Some(blocks));
        }
        // Two at once need two areas; then both are kept, and no third is made.
        let (first, second) = tokio::join!(hasher.hash("one".to_owned()), hasher.hash("two".to_owned()));
        assert!(first.is_ok() && second.is_ok());
        assert!(hasher.memory_held() <= 2 * bytes, "{}", hasher.memory_held());
        let (first, second) = tokio::join!(hasher.hash("three".to_owned()), hasher.hash("four".to_owned()));
        assert!(first.is_ok() && second.is_ok());
        assert!(hasher.memory_held() <= 2 * bytes, "{}", hasher.memory_held());
    }

    #[tokio::test]
    async fn working_memory_no_hash_took_is_freed() {
        let hasher = PasswordHasher::keeping_memory(2, Duration::from_secs(60), Duration::from_millis(20))
            .expect("hashing threads");
        assert!(hasher.hash("a password".to_owned()).await.is_ok());
        assert!(hasher.memory_held() > 0);
        assert_eq!(memory_settles_at(&hasher, 0).await, 0);
        // The next job gets a fresh area of what it asks for, not the freed one.
        assert_eq!(hasher.run(0, |memory| memory.len()).await.ok(), Some(0));
        // Jobs closer together than `keep_idle` reuse the area given back last; the others are freed all the
        // same (they used to stay for as long as the jobs kept coming). Two areas made at once (each job
        // waits for the other inside its hash), then a trickle of cheap jobs every 2 ms, against 200 ms.
        let hasher = PasswordHasher::keeping_memory(2, Duration::from_secs(60), Duration::from_millis(200))
            .expect("hashing threads");
        let blocks = Params::default().block_count();
        let one_area = blocks * std::mem::size_of::<Block>();
        let both = Arc::new(std::sync::Barrier::new(2));
        let (first, second) = (both.clone(), both);
        let (first, second) =
            tokio::join!(hasher.run(blocks, move |_| first.wait()), hasher.run(blocks, move |_| second.wait()));
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(hasher.memory_held(), 2 * one_area);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while hasher.memory_held() > one_area && std::time::Instant::now() < deadline {
            assert!(hasher.run(blocks, |_| ()).await.is_ok());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(hasher.memory_held(), one_area);
        assert_eq!(memory_settles_at(&hasher, 0).await, 0);
        // A hash that panics frees its area as it unwinds.
        let failed: ApiResult<()> = hasher.run(64, |_| panic!("a hash that panics")).await;
        assert_eq!(failed.err().map(|e| e.code()), Some(crate::error::code::INTERNAL));
        assert_eq!(memory_settles_at(&hasher, 0).await, 0);
    }

    #[tokio::test]
    async fn a_hash_the_system_has_no_memory_for_is_unavailable_and_keeps_nothing() {
        let hasher = PasswordHasher::new(1, Duration::from_millis(500)).expect("hashing threads");
        let refused = hasher.run(usize::MAX, |_| ()).await;
        assert_eq!(refused.err().map(|e| e.code()), Some(crate::error::code::UNAVAILABLE));
        assert_eq!(hasher.hashes.get(), 0, "nothing was hashed");
        // The one turn came back.
        assert!(hasher.hash("after the refusal".to_owned()).await.is_ok());
    }

    #[test]
    fn the_decoy_is_the_hash_of_its_password() {
        let params = Params::default();
        let mut memory = vec![Block::new(); params.block_count()];
        let made = hash_with(&params, DECOY_PASSWORD, DECOY_SALT, &mut memory);
        assert_eq!(made.as_deref(), Ok(DECOY_HASH));
    }
}
