//! The Redis side of the four locks: key names, the Lua scripts (loaded from
//! `src/workload/lua/*.lua`, run with EVALSHA and a NOSCRIPT fallback by
//! redis-rs's `Script`), and one async function per lock step and per access
//! to the protected resource. Every call carries a timeout, so a frozen
//! master turns into an error the grabber can count, never a hang.
//!
//! Nothing here knows about grabbers, registries or metrics: these are the
//! lock algorithms alone, so the tests can drive them step by step.

use crate::workload::grabber::{KeySpace, OP_TIMEOUT};
use crate::workload::LockKind;
use redis::aio::ConnectionLike;
use redis::{RedisError, Script};
use std::future::Future;
use std::sync::LazyLock;

/// The lock scripts, hashed once per process.
pub struct LockScripts {
    pub release: Script,
    pub reentrant_acquire: Script,
    pub reentrant_release: Script,
    pub fenced_acquire: Script,
    pub fenced_read: Script,
    pub fenced_write: Script,
}

pub static SCRIPTS: LazyLock<LockScripts> = LazyLock::new(|| LockScripts {
    release: Script::new(include_str!("../lua/lock_release.lua")),
    reentrant_acquire: Script::new(include_str!("../lua/lock_reentrant_acquire.lua")),
    reentrant_release: Script::new(include_str!("../lua/lock_reentrant_release.lua")),
    fenced_acquire: Script::new(include_str!("../lua/fenced_acquire.lua")),
    fenced_read: Script::new(include_str!("../lua/fenced_read.lua")),
    fenced_write: Script::new(include_str!("../lua/fenced_write.lua")),
});

/// The Redis keys of one lock: the lock itself, the shared resource its
/// critical section updates, and (fenced lock) the token counter and the
/// highest token the resource has accepted. Built once per lock key at
/// start, so the hot path never formats a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockKeys {
    /// The lock (a string; a hash for the reentrant lock).
    pub lock: String,
    /// The protected resource: a counter incremented by read-modify-write.
    pub counter: String,
    /// Fenced lock: the monotonic fencing-token counter.
    pub fence: String,
    /// Fenced lock: the highest fencing token the resource has accepted.
    pub highest: String,
}

impl LockKeys {
    /// Keys of lock number `index` of `kind` in the run's key space, e.g.
    /// `gs:<run>:lock:safe:3`, `gs:<run>:res:safe:3`.
    pub fn new(space: &KeySpace, kind: LockKind, index: u64) -> LockKeys {
        let fence = space.fence(kind, index);
        LockKeys {
            lock: space.lock(kind, index),
            counter: space.resource(kind, index),
            highest: format!("{fence}:highest"),
            fence,
        }
    }

    /// All four keys, for clearing them before a run.
    pub fn all(&self) -> [&str; 4] {
        [&self.lock, &self.counter, &self.fence, &self.highest]
    }
}

/// Runs a Redis future under the engine's [`OP_TIMEOUT`]; a timeout becomes an I/O
/// `TimedOut` error, which `RedisError::is_timeout` recognises.
pub async fn timed<T>(fut: impl Future<Output = Result<T, RedisError>>) -> Result<T, RedisError> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "lock operation timed out",
        ))),
    }
}

/// Naive acquire, first half: `SETNX key token`. True when taken.
pub async fn naive_setnx<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    token: &str,
) -> Result<bool, RedisError> {
    timed(redis::cmd("SETNX").arg(key).arg(token).query_async(conn)).await
}

/// Naive acquire, second half: `PEXPIRE key ttl`. A client that dies before
/// sending this leaves a lock nobody will ever release.
pub async fn naive_expire<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    ttl_ms: u64,
) -> Result<bool, RedisError> {
    timed(redis::cmd("PEXPIRE").arg(key).arg(ttl_ms).query_async(conn)).await
}

/// Naive release as the tutorial writes it: `GET`, compare, then `DEL`, as
/// separate commands. Between the two the lock can expire and be taken by
/// someone else, whose lock the `DEL` then removes. True when deleted.
pub async fn naive_release<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    token: &str,
) -> Result<bool, RedisError> {
    let holder: Option<String> = timed(redis::cmd("GET").arg(key).query_async(conn)).await?;
    if holder.as_deref() != Some(token) {
        return Ok(false);
    }
    let deleted: u64 = timed(redis::cmd("DEL").arg(key).query_async(conn)).await?;
    Ok(deleted == 1)
}

/// Safe acquire: `SET key token NX PX ttl`, one atomic command. True when taken.
pub async fn safe_acquire<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    token: &str,
    ttl_ms: u64,
) -> Result<bool, RedisError> {
    let reply: Option<String> = timed(
        redis::cmd("SET")
            .arg(key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(conn),
    )
    .await?;
    Ok(reply.is_some())
}

/// Compare-and-delete release (safe and fenced locks): deletes the lock only
/// while it still holds `token`. True when deleted; false when it had
/// expired or belongs to another owner (left untouched).
pub async fn compare_and_delete<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    token: &str,
) -> Result<bool, RedisError> {
    let deleted: u64 = timed(SCRIPTS.release.key(key).arg(token).invoke_async(conn)).await?;
    Ok(deleted == 1)
}

/// Reentrant acquire: the owner's hold count after this acquire (1 on first
/// entry, 2 on re-entry, ...), or 0 when another owner holds the lock.
pub async fn reentrant_acquire<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    owner: &str,
    ttl_ms: u64,
) -> Result<u64, RedisError> {
    timed(
        SCRIPTS
            .reentrant_acquire
            .key(key)
            .arg(owner)
            .arg(ttl_ms)
            .invoke_async(conn),
    )
    .await
}

/// Reentrant release: the hold count left (0 = lock deleted), or `None` when
/// `owner` does not hold the lock (expired, or someone else's).
pub async fn reentrant_release<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    owner: &str,
    ttl_ms: u64,
) -> Result<Option<u64>, RedisError> {
    let left: i64 = timed(
        SCRIPTS
            .reentrant_release
            .key(key)
            .arg(owner)
            .arg(ttl_ms)
            .invoke_async(conn),
    )
    .await?;
    Ok(u64::try_from(left).ok())
}

/// Fenced acquire: the fencing token issued with the lock (>= 1, larger than
/// every token issued before for this lock), or `None` when the lock is held.
pub async fn fenced_acquire<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &LockKeys,
    owner: &str,
    ttl_ms: u64,
) -> Result<Option<u64>, RedisError> {
    let token: u64 = timed(
        SCRIPTS
            .fenced_acquire
            .key(&keys.lock)
            .key(&keys.fence)
            .arg(owner)
            .arg(ttl_ms)
            .invoke_async(conn),
    )
    .await?;
    Ok((token > 0).then_some(token))
}

/// What the fenced resource answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fenced<T> {
    Served(T),
    /// Refused: the resource has already accepted a newer token (given).
    Stale {
        highest: u64,
    },
}

/// Reads the protected counter through the fence: served (and the token
/// remembered) unless a newer token has been seen.
pub async fn fenced_read<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &LockKeys,
    token: u64,
) -> Result<Fenced<i64>, RedisError> {
    let (served, value): (i64, i64) = timed(
        SCRIPTS
            .fenced_read
            .key(&keys.counter)
            .key(&keys.highest)
            .arg(token)
            .invoke_async(conn),
    )
    .await?;
    Ok(if served == 1 {
        Fenced::Served(value)
    } else {
        Fenced::Stale {
            highest: value.max(0) as u64,
        }
    })
}

/// Writes the protected counter through the fence: refused when a newer
/// token has been seen.
pub async fn fenced_write<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &LockKeys,
    token: u64,
    value: i64,
) -> Result<Fenced<()>, RedisError> {
    let (written, highest): (i64, i64) = timed(
        SCRIPTS
            .fenced_write
            .key(&keys.counter)
            .key(&keys.highest)
            .arg(token)
            .arg(value)
            .invoke_async(conn),
    )
    .await?;
    Ok(if written == 1 {
        Fenced::Served(())
    } else {
        Fenced::Stale {
            highest: highest.max(0) as u64,
        }
    })
}

/// Plain read of the protected counter (non-fenced locks); a missing key is 0.
pub async fn counter_get<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &LockKeys,
) -> Result<i64, RedisError> {
    let value: Option<i64> = timed(redis::cmd("GET").arg(&keys.counter).query_async(conn)).await?;
    Ok(value.unwrap_or(0))
}

/// Plain write of the protected counter (non-fenced locks).
pub async fn counter_set<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &LockKeys,
    value: i64,
) -> Result<(), RedisError> {
    timed(
        redis::cmd("SET")
            .arg(&keys.counter)
            .arg(value)
            .query_async(conn),
    )
    .await
}

/// Remaining TTL of a key in ms: `Some(-1)` for a key without TTL, `None`
/// when the key does not exist.
pub async fn pttl<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
) -> Result<Option<i64>, RedisError> {
    let ttl: i64 = timed(redis::cmd("PTTL").arg(key).query_async(conn)).await?;
    Ok((ttl != -2).then_some(ttl))
}
