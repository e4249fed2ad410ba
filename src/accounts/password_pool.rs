//! A fixed set of argon2id workers, each owning one reusable memory block.
//!
//! Why not `spawn_blocking`: every argon2id hash needs a 19 MiB block. Allocated per
//! hash on whichever blocking thread runs it, the blocks end up in per-thread malloc
//! arenas that are never given back, so resident memory grew with the number of
//! threads that ever hashed (370 MB after 40 parallel logins). Here the number of
//! blocks is bounded: `workers` threads, each hashing into its own block, so hashing
//! costs at most `workers × 19 MiB`.
//!
//! A worker allocates its block at its first job and gives it back after
//! [`KEEP_BLOCK_WHILE_IDLE`] without one: a burst of sign-ups and logins reuses the
//! blocks, and a server that is not hashing (most of the time, on most servers; a
//! replica that only serves the API and the gateway, always) does not keep 19 MiB per
//! worker resident for nothing.
//!
//! Callers queue their job on a bounded channel and wait for the answer. When the
//! queue is full the job is refused at once ([`PoolError::Busy`], a 503 with
//! `Retry-After`) rather than growing the queue. A job whose caller has gone away
//! (client disconnected, request timed out) is skipped instead of hashed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

/// Bytes of the salt given to each new hash (the PHC recommendation).
const SALT_LEN: usize = 16;

/// How long a worker keeps its memory block after its last job. Allocating the
/// block again costs faulting in and zeroing 19 MiB, a few milliseconds at memory
/// speed (not measured here), against the tens of milliseconds of a hash.
pub const KEEP_BLOCK_WHILE_IDLE: Duration = Duration::from_secs(30);

/// Why a hashing job did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The queue is full: the caller should come back shortly.
    #[error("password hashing queue is full")]
    Busy,
    /// Hashing failed or the workers are gone (an internal error).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// What a worker is asked to do.
enum Work {
    /// Hash a new password into a PHC string.
    Hash { password: String },
    /// Check a password against a stored PHC string.
    Verify { password: String, stored: Arc<str> },
}

/// What a worker answers.
enum Answer {
    Hashed(String),
    Verified(bool),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Answer, PoolError>>,
}

/// The handle callers use; cheap to clone.
#[derive(Clone)]
pub struct HashPool {
    jobs: Sender<Job>,
    workers: usize,
    queue_capacity: usize,
    blocks_held: Arc<AtomicUsize>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("workers", &self.workers)
            .field("queue_capacity", &self.queue_capacity)
            .field("blocks_held", &self.blocks_held())
            .finish()
    }
}

impl HashPool {
    /// Starts `workers` hashing threads (at least one) behind a queue holding at most
    /// `queue_capacity` waiting jobs. The threads end when the last handle is dropped.
    pub fn start(workers: usize, queue_capacity: usize) -> anyhow::Result<Self> {
        Self::start_keeping_blocks(workers, queue_capacity, KEEP_BLOCK_WHILE_IDLE)
    }

    /// [`HashPool::start`], with each worker giving its block back after `keep_idle`
    /// without a job.
    pub fn start_keeping_blocks(
        workers: usize,
        queue_capacity: usize,
        keep_idle: Duration,
    ) -> anyhow::Result<Self> {
        let workers = workers.max(1);
        let (jobs, receiver) = crossbeam_channel::bounded(queue_capacity);
        let blocks_held = Arc::new(AtomicUsize::new(0));
        for index in 0..workers {
            let worker = Worker {
                receiver: receiver.clone(),
                keep_idle,
                blocks_held: Arc::clone(&blocks_held),
            };
            std::thread::Builder::new()
                .name(format!("udam-hash-{index}"))
                .spawn(move || worker.run())?;
        }
        Ok(Self {
            jobs,
            workers,
            queue_capacity,
            blocks_held,
        })
    }

    /// How many workers hold their memory block now (each 19 MiB with the default
    /// parameters).
    pub fn blocks_held(&self) -> usize {
        self.blocks_held.load(Ordering::Relaxed)
    }

    /// How many hashes run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$...`).
    pub async fn hash(&self, password: String) -> Result<String, PoolError> {
        match self.submit(Work::Hash { password }).await? {
            Answer::Hashed(phc) => Ok(phc),
            Answer::Verified(_) => Err(PoolError::Failed("unexpected answer".into())),
        }
    }

    /// Checks a password against a stored PHC string.
    pub async fn verify(&self, password: String, stored: Arc<str>) -> Result<bool, PoolError> {
        match self.submit(Work::Verify { password, stored }).await? {
            Answer::Verified(ok) => Ok(ok),
            Answer::Hashed(_) => Err(PoolError::Failed("unexpected answer".into())),
        }
    }

    async fn submit(&self, work: Work) -> Result<Answer, PoolError> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { work, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PoolError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(PoolError::Failed("the hashing workers have stopped".into()));
            }
        }
        answer
            .await
            .map_err(|_| PoolError::Failed("a hashing worker stopped mid-job".into()))?
    }
}

/// One hashing thread's share of the pool.
struct Worker {
    receiver: Receiver<Job>,
    keep_idle: Duration,
    blocks_held: Arc<AtomicUsize>,
}

impl Worker {
    /// Takes jobs until every sender is gone, hashing into its one block, which it
    /// allocates at the first job and drops after `keep_idle` without one.
    fn run(self) {
        let params = Params::default();
        let mut blocks: Option<Vec<Block>> = None;
        loop {
            let Some(next) = self.next_job(blocks.is_some()) else {
                return;
            };
            let Some(job) = next else {
                // Idle for `keep_idle`: give the block back.
                blocks = None;
                self.blocks_held.fetch_sub(1, Ordering::Relaxed);
                continue;
            };
            if job.reply.is_closed() {
                continue;
            }
            let blocks = blocks.get_or_insert_with(|| {
                self.blocks_held.fetch_add(1, Ordering::Relaxed);
                vec![Block::new(); params.block_count()]
            });
            let answer = match job.work {
                Work::Hash { password } => hash_new(&params, password.as_bytes(), blocks)
                    .map(Answer::Hashed)
                    .map_err(PoolError::Failed),
                Work::Verify { password, stored } => {
                    verify_stored(password.as_bytes(), &stored, blocks)
                        .map(Answer::Verified)
                        .map_err(PoolError::Failed)
                }
            };
            let _ = job.reply.send(answer);
        }
    }

    /// The next job; `Some(None)` when a worker holding a block (`holding`) waited
    /// `keep_idle` for none, and `None` once every sender is gone.
    fn next_job(&self, holding: bool) -> Option<Option<Job>> {
        if !holding {
            return self.receiver.recv().ok().map(Some);
        }
        match self.receiver.recv_timeout(self.keep_idle) {
            Ok(job) => Some(Some(job)),
            Err(RecvTimeoutError::Timeout) => Some(None),
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }
}

/// A fresh salt and an argon2id hash with `params`, as a PHC string.
fn hash_new(params: &Params, password: &[u8], blocks: &mut [Block]) -> Result<String, String> {
    let salt = crate::ids::random_bytes::<SALT_LEN>();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = blocks
        .get_mut(..params.block_count())
        .ok_or("the worker's memory block is too small")?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, &mut out, blocks)
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Re-hashes `password` with the stored hash's own parameters and salt, and compares
/// the outputs in constant time.
fn verify_stored(password: &[u8], stored: &str, blocks: &mut [Block]) -> Result<bool, String> {
    let parsed = PasswordHash::new(stored).map_err(|e| e.to_string())?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err("the stored hash has no salt or no output".into());
    };
    // A stored hash made with more memory than a worker owns is refused rather than
    // allocating for it: the footprint stays fixed whatever the database holds.
    let blocks = blocks
        .get_mut(..params.block_count())
        .ok_or("the stored hash needs more memory than a hashing worker owns")?;
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..expected.len())
        .ok_or("the stored hash's output is too long")?;
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), out, blocks)
        .map_err(|e| e.to_string())?;
    let actual = Output::new(out).map_err(|e| e.to_string())?;
    Ok(actual == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier as _;
    use argon2::password_hash::PasswordHasher as _;

    #[tokio::test]
    async fn hashes_verify_both_ways_with_the_reference_implementation() {
        let pool = HashPool::start(1, 4).unwrap();
        let ours = pool.hash("correct horse".into()).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        Argon2::default()
            .verify_password(b"correct horse", ours.as_str())
            .unwrap();
        let theirs = Argon2::default()
            .hash_password(b"battery staple")
            .unwrap()
            .to_string();
        assert!(
            pool.verify("battery staple".into(), theirs.clone().into())
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("battery stapler".into(), theirs.into())
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("correct horse!".into(), ours.into())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_growing() {
        // One worker and a queue of two: of many jobs submitted together, at most
        // three are accepted (one hashing, two waiting); the rest are refused
        // without waiting, and every accepted one completes.
        let pool = HashPool::start(1, 2).unwrap();
        let jobs: Vec<_> = (0..12)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.hash(format!("password-{i}")).await })
            })
            .collect();
        let mut done = 0;
        let mut busy = 0;
        for job in jobs {
            match job.await.unwrap() {
                Ok(phc) => {
                    assert!(phc.starts_with("$argon2id$"));
                    done += 1;
                }
                Err(PoolError::Busy) => busy += 1,
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert!((1..=3).contains(&done), "accepted {done}");
        assert_eq!(done + busy, 12);
    }

    #[tokio::test]
    async fn a_worker_holds_its_block_only_while_it_has_work() {
        let pool = HashPool::start_keeping_blocks(1, 4, Duration::from_millis(200)).unwrap();
        assert_eq!(pool.blocks_held(), 0, "no block before the first job");
        let phc = pool.hash("pw".into()).await.unwrap();
        assert_eq!(pool.blocks_held(), 1, "the worker hashed");
        // A second job holds one block still (reused, or made again had the machine
        // stalled past the idle time): never a second one.
        assert!(pool.verify("pw".into(), phc.into()).await.unwrap());
        assert_eq!(pool.blocks_held(), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pool.blocks_held() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the block was never given back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // And a later job allocates it again.
        pool.hash("again".into()).await.unwrap();
        assert_eq!(pool.blocks_held(), 1);
    }

    #[tokio::test]
    async fn a_hash_needing_more_memory_than_a_worker_owns_is_refused() {
        let big = Params::new(Params::DEFAULT_M_COST * 2, 1, 1, None).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, big)
            .hash_password(b"pw")
            .unwrap()
            .to_string();
        let pool = HashPool::start(1, 1).unwrap();
        assert!(matches!(
            pool.verify("pw".into(), stored.into()).await,
            Err(PoolError::Failed(_))
        ));
    }
}
