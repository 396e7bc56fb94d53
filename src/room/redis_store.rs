//! The Redis line store: one line shared by every node.
//!
//! `deadpool-redis` opens the connections, but a pool checkout per request costs a round trip
//! of its own (measured: ~17k/s against ~60k/s, `docs/architecture.md`). So the store takes a
//! multiplexed connection out of the pool and clones it for every request; only when that
//! connection fails does it go back to the pool for a fresh one. Each thread (each HTTP
//! worker, and the node's own runtime for the pacer) has its own: a multiplexed connection's
//! driver runs on the runtime that opened it, and a command from another thread pays two
//! cross-thread wake-ups (measured: joins 34k/s with one connection for all, 43k/s with one
//! per worker, one worker, `cargo bench --bench room`). A worker that stops takes only its
//! own connection with it. Every key of an event carries
//! the event id as a hash tag (`fg:{<event>}:seq`) so one event's keys live on one Redis
//! Cluster slot and its Lua scripts stay legal there.
//!
//! Keys of one event: `line` (hash: seq, ceiling, serving, tick, credit, admitted, skipped,
//! rate, throttle, throttle_until, pq, seed, opened, left), `seen` (zset waiting index → last
//! seen ms), `left` (set of waiting indexes whose fans left), `left_seq` (set of join numbers
//! whose fans left before opening), `pending` (zset index → deadline to fetch the admission,
//! ms), `active` (zset index → admission end ms, once fetched), `adm` (hash index → admission
//! end ms), `skip` (set of skipped indexes), `owner` (the ownership lease: holder, with a
//! TTL), `published` (what the owner publishes for every node: counts and rules, with a TTL).

use parking_lot::RwLock;
use std::thread::ThreadId;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use deadpool_redis::{Config, Pool, Runtime, Timeouts};
use redis::aio::MultiplexedConnection;
use redis::Script;
use uuid::Uuid;

use super::{
    Advance, Advanced, Joined, Lease, Leaving, Left, LineError, LineState, LineStore, Marks,
    Opening, Turn,
};

/// How long one Redis command may take before the line counts as unavailable.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1_000);
/// How long opening a fresh connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);

/// The line in Redis.
pub struct RedisLineStore {
    pool: Pool,
    prefix: String,
    /// Each thread's multiplexed connection; absent after a failure until the thread's next
    /// request reconnects.
    conns: RwLock<HashMap<ThreadId, MultiplexedConnection>>,
    /// Held while connecting, so a burst of requests opens one connection, not hundreds.
    reconnect: tokio::sync::Mutex<()>,
}

impl RedisLineStore {
    /// Builds the store; connects lazily, so a node can start while Redis is still down.
    pub fn new(url: &str, prefix: &str) -> Result<Self, LineError> {
        let mut config = Config::from_url(url);
        let mut pool_config = deadpool_redis::PoolConfig::new(4);
        pool_config.timeouts = Timeouts {
            wait: Some(CONNECT_TIMEOUT),
            create: Some(CONNECT_TIMEOUT),
            recycle: Some(CONNECT_TIMEOUT),
        };
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| LineError::Unavailable(format!("REDIS_URL: {e}")))?;
        Ok(RedisLineStore {
            pool,
            prefix: prefix.to_string(),
            conns: RwLock::new(HashMap::new()),
            reconnect: tokio::sync::Mutex::new(()),
        })
    }

    /// The key `name` of an event's line, hash-tagged by the event id.
    pub fn key(&self, event: Uuid, name: &str) -> String {
        format!("{}:{{{event}}}:{name}", self.prefix)
    }

    fn shared(&self) -> Option<MultiplexedConnection> {
        self.conns.read().get(&std::thread::current().id()).cloned()
    }

    async fn connection(&self) -> Result<MultiplexedConnection, LineError> {
        if let Some(conn) = self.shared() {
            return Ok(conn);
        }
        let _single_flight = self.reconnect.lock().await;
        if let Some(conn) = self.shared() {
            return Ok(conn);
        }
        let fresh = self.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "cannot connect to redis");
            LineError::Unavailable(e.to_string())
        })?;
        let mut conn = deadpool_redis::Connection::take(fresh);
        // The client's own deadline (500 ms by default) would cut in before ours.
        conn.set_response_timeout(COMMAND_TIMEOUT);
        self.conns
            .write()
            .insert(std::thread::current().id(), conn.clone());
        Ok(conn)
    }

    /// Runs one command on the shared connection with a deadline.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, LineError> {
        let mut conn = self.connection().await?;
        self.guarded(cmd.query_async(&mut conn)).await
    }

    /// Runs a pipeline on the shared connection with a deadline.
    pub async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, LineError> {
        let mut conn = self.connection().await?;
        self.guarded(pipe.query_async(&mut conn)).await
    }

    /// Applies the command deadline; on an I/O failure or a timeout the shared connection is
    /// dropped so the next call reconnects.
    async fn guarded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LineError> {
        match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis command failed");
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    self.forget_connection();
                }
                Err(LineError::Unavailable(e.to_string()))
            }
            Err(_) => {
                self.forget_connection();
                Err(LineError::Unavailable("redis command timed out".into()))
            }
        }
    }

    fn forget_connection(&self) {
        self.conns.write().remove(&std::thread::current().id());
    }
}

/// Hands out the next join number within the reserved ceiling; `{-1, 0}` asks for more.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local line = redis.call('HMGET', KEYS[1], 'seq', 'ceiling', 'pq')
local seq, ceiling = tonumber(line[1] or '0'), tonumber(line[2] or '0')
if seq >= ceiling then return {-1, 0} end
seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if line[3] then
  redis.call('ZADD', KEYS[2], ARGV[1], seq)
  return {seq, 1}
end
return {seq, 0}
",
    )
});

/// Opens the line once; returns the opening that stands.
static OPEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], 'pq') == 0 then
  redis.call('HSET', KEYS[1], 'pq', redis.call('HGET', KEYS[1], 'seq') or '0',
             'seed', ARGV[1], 'opened', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'pq', 'seed', 'opened')
",
    )
});

/// One pacer tick, applied only if `tick` still holds the value the node read (so ticks from
/// several nodes never admit twice): takes back admissions nobody fetched in time (their fans
/// are skipped as no-shows), forgets sightings older than the liveness cut-off, then walks the
/// serving counter forward, admitting fans seen recently (or protected) and skipping fans who
/// left (counted when they left) and no-shows. A new admission is pending until its fan fetches it (`TURN`), and only
/// then counts as an active shopper.
static ADVANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local line, seen, active, adm, skip, pending, left = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local expected = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local protect = tonumber(ARGV[6])
local until_ms = ARGV[7]
local smoothing = tonumber(ARGV[8])
local max_walk = tonumber(ARGV[9])
local fetch_by = ARGV[10]
local tick = tonumber(redis.call('HGET', line, 'tick') or '0')
local serving = tonumber(redis.call('HGET', line, 'serving') or '0')
if tick ~= expected then return {0, 0, 0, serving} end
local admitted, skipped, walked = 0, 0, 0
for _, index in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf', now)) do
  redis.call('ZREM', pending, index)
  redis.call('HDEL', adm, index)
  redis.call('SADD', skip, index)
  skipped = skipped + 1
end
redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. ARGV[5])
local last = tonumber(redis.call('HGET', line, 'seq') or '0')
while admitted < budget and serving < last and walked < max_walk do
  local index = serving + 1
  if redis.call('SREM', left, index) == 1 then
    redis.call('SADD', skip, index)
  elseif index <= protect or redis.call('ZSCORE', seen, index) then
    redis.call('HSET', adm, index, until_ms)
    redis.call('ZADD', pending, fetch_by, index)
    admitted = admitted + 1
  else
    redis.call('SADD', skip, index)
    skipped = skipped + 1
  end
  redis.call('ZREM', seen, index)
  serving = index
  walked = walked + 1
end
local rate = tonumber(redis.call('HGET', line, 'rate') or '0')
if tick > 0 and now > tick then
  rate = rate + (admitted * 60000 / (now - tick) - rate) * smoothing
end
redis.call('HSET', line, 'serving', serving, 'tick', ARGV[2], 'credit', ARGV[4],
           'rate', string.format('%.6f', rate))
redis.call('HINCRBY', line, 'admitted', admitted)
redis.call('HINCRBY', line, 'skipped', skipped)
return {1, admitted, skipped, serving}
",
    )
});

/// A fan leaves. By join number before opening (`2` once the line opened: ask by index); by
/// index after: a waiting fan is marked to be skipped and stops counting as seen, an admitted
/// one gives back the admission (pending or active) and counts as skipped.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local line, seen, left, left_seq, pending, active, adm, skip = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local opened = redis.call('HEXISTS', line, 'pq') == 1
if ARGV[1] == 'seq' then
  if opened then return 2 end
  if redis.call('SADD', left_seq, ARGV[2]) == 1 then redis.call('HINCRBY', line, 'left', 1) end
  return 1
end
local serving = tonumber(redis.call('HGET', line, 'serving') or '0')
if tonumber(ARGV[2]) > serving then
  redis.call('ZREM', seen, ARGV[2])
  if redis.call('SADD', left, ARGV[2]) == 1 then redis.call('HINCRBY', line, 'left', 1) end
  return 1
end
if redis.call('HDEL', adm, ARGV[2]) == 1 then
  redis.call('ZREM', pending, ARGV[2])
  redis.call('ZREM', active, ARGV[2])
  redis.call('SADD', skip, ARGV[2])
  redis.call('HINCRBY', line, 'left', 1)
  return 1
end
return 0
",
    )
});

/// Takes the join numbers of the fans who left before opening.
static TAKE_LEFT_SEQ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local seqs = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return seqs
",
    )
});

/// What became of an index whose turn came; an admission fetched for the first time moves
/// from pending to the active shoppers.
static TURN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local until_ms = redis.call('HGET', KEYS[1], ARGV[1])
if until_ms then
  if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
    redis.call('ZADD', KEYS[4], until_ms, ARGV[1])
  end
  return {1, tonumber(until_ms)}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return {2, 0} end
return {0, 0}
",
    )
});

/// Raises counters to the durable marks (after a reservation or a wipe).
static RESTORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local function raise(field, value)
  local current = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if tonumber(value) > current then redis.call('HSET', KEYS[1], field, value) end
end
-- Join numbers below the floor may have been handed out before this line lost its data; a
-- line that still holds a ceiling never lost them (and two nodes reserving at once must not
-- skip each other's blocks).
local ceiling = tonumber(redis.call('HGET', KEYS[1], 'ceiling') or '0')
if ceiling == 0 then raise('seq', ARGV[1]) end
raise('ceiling', ARGV[2])
raise('serving', ARGV[3])
if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[1], 'pq') == 0 then
  redis.call('HSET', KEYS[1], 'pq', ARGV[4], 'seed', ARGV[5], 'opened', ARGV[6])
end
return 1
",
    )
});

/// Extends a lease only for its holder.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// Deletes a lease, and what its holder published, only for its holder.
static GIVE_UP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1], KEYS[2])
end
return 0
",
    )
});

fn field<T: std::str::FromStr + Default>(fields: &HashMap<String, String>, name: &str) -> T {
    fields
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

impl RedisLineStore {
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, LineError> {
        let mut conn = self.connection().await?;
        self.guarded(invocation.invoke_async(&mut conn)).await
    }
}

#[async_trait]
impl LineStore for RedisLineStore {
    async fn ping(&self) -> Result<(), LineError> {
        let pong: String = self.query(&redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(LineError::Unavailable(format!("PING answered {pong:?}")))
        }
    }

    async fn join(&self, event: Uuid, now_ms: i64) -> Result<Joined, LineError> {
        let (seq, opened): (i64, i64) = self
            .invoke(
                JOIN.key(self.key(event, "line"))
                    .key(self.key(event, "seen"))
                    .arg(now_ms),
            )
            .await?;
        Ok(if seq < 0 {
            Joined::NeedsReservation
        } else {
            Joined::Seq {
                seq: seq as u64,
                pre_queue: opened == 0,
            }
        })
    }

    async fn state(
        &self,
        event: Uuid,
        now_ms: i64,
        alive_after_ms: i64,
    ) -> Result<LineState, LineError> {
        let active = self.key(event, "active");
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&active)
            .arg("-inf")
            .arg(now_ms)
            .ignore()
            .cmd("ZCARD")
            .arg(&active)
            .cmd("ZCARD")
            .arg(self.key(event, "pending"))
            .cmd("ZCOUNT")
            .arg(self.key(event, "seen"))
            .arg(alive_after_ms)
            .arg("+inf")
            .cmd("SCARD")
            .arg(self.key(event, "left"))
            .cmd("SCARD")
            .arg(self.key(event, "left_seq"))
            .cmd("HGETALL")
            .arg(self.key(event, "line"));
        type Read = (u64, u64, u64, u64, u64, HashMap<String, String>);
        let (active, pending, seen_recently, left_waiting, left_before_opening, fields): Read =
            self.pipeline(&pipe).await?;
        let throttled = field::<i64>(&fields, "throttle_until") > now_ms;
        Ok(LineState {
            last_seq: field(&fields, "seq"),
            ceiling: field(&fields, "ceiling"),
            serving: field(&fields, "serving"),
            last_tick_ms: field(&fields, "tick"),
            credit: field(&fields, "credit"),
            admitted_total: field(&fields, "admitted"),
            skipped_total: field(&fields, "skipped"),
            rate_per_minute: field(&fields, "rate"),
            active,
            pending,
            throttle: if throttled {
                field(&fields, "throttle")
            } else {
                1.0
            },
            opening: fields.get("pq").map(|_| Opening {
                prequeue_size: field(&fields, "pq"),
                seed: field(&fields, "seed"),
                opened_at_ms: field(&fields, "opened"),
            }),
            seen_recently,
            left_waiting,
            left_before_opening,
            left_total: field(&fields, "left"),
        })
    }

    async fn open(&self, event: Uuid, seed: &str, now_ms: i64) -> Result<Opening, LineError> {
        let (size, seed, opened): (u64, String, i64) = self
            .invoke(OPEN.key(self.key(event, "line")).arg(seed).arg(now_ms))
            .await?;
        Ok(Opening {
            prequeue_size: size,
            seed,
            opened_at_ms: opened,
        })
    }

    async fn advance(&self, event: Uuid, tick: &Advance) -> Result<Advanced, LineError> {
        let (ticked, admitted, skipped, serving): (i64, u64, u64, u64) = self
            .invoke(
                ADVANCE
                    .key(self.key(event, "line"))
                    .key(self.key(event, "seen"))
                    .key(self.key(event, "active"))
                    .key(self.key(event, "adm"))
                    .key(self.key(event, "skip"))
                    .key(self.key(event, "pending"))
                    .key(self.key(event, "left"))
                    .arg(tick.expected_tick_ms)
                    .arg(tick.now_ms)
                    .arg(tick.admit)
                    .arg(tick.credit)
                    .arg(tick.alive_after_ms)
                    .arg(tick.protect_through)
                    .arg(tick.admitted_until_ms)
                    .arg(tick.smoothing)
                    .arg(tick.max_walk)
                    .arg(tick.fetch_by_ms),
            )
            .await?;
        Ok(Advanced {
            ticked: ticked == 1,
            admitted,
            skipped,
            serving,
        })
    }

    async fn touch(&self, seen: &[(Uuid, u64, i64)]) -> Result<(), LineError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for &(event, index, at) in seen {
            pipe.cmd("ZADD")
                .arg(self.key(event, "seen"))
                .arg(at)
                .arg(index)
                .ignore();
        }
        self.pipeline::<()>(&pipe).await
    }

    async fn turn(&self, event: Uuid, index: u64) -> Result<Turn, LineError> {
        let (kind, until_ms): (i64, i64) = self
            .invoke(
                TURN.key(self.key(event, "adm"))
                    .key(self.key(event, "skip"))
                    .key(self.key(event, "pending"))
                    .key(self.key(event, "active"))
                    .arg(index),
            )
            .await?;
        Ok(match kind {
            1 => Turn::Admitted { until_ms },
            2 => Turn::Skipped,
            _ => Turn::Unknown,
        })
    }

    async fn finished(&self, event: Uuid, index: u64) -> Result<(), LineError> {
        self.query(redis::cmd("ZREM").arg(self.key(event, "active")).arg(index))
            .await
    }

    async fn leave(&self, event: Uuid, who: Leaving) -> Result<Left, LineError> {
        let (mode, number) = match who {
            Leaving::Seq(seq) => ("seq", seq),
            Leaving::Index(index) => ("index", index),
        };
        let done: i64 = self
            .invoke(
                LEAVE
                    .key(self.key(event, "line"))
                    .key(self.key(event, "seen"))
                    .key(self.key(event, "left"))
                    .key(self.key(event, "left_seq"))
                    .key(self.key(event, "pending"))
                    .key(self.key(event, "active"))
                    .key(self.key(event, "adm"))
                    .key(self.key(event, "skip"))
                    .arg(mode)
                    .arg(number),
            )
            .await?;
        Ok(match done {
            1 => Left::Left,
            2 => Left::Opened,
            _ => Left::Nothing,
        })
    }

    async fn take_left_before_opening(&self, event: Uuid) -> Result<Vec<u64>, LineError> {
        self.invoke(&TAKE_LEFT_SEQ.key(self.key(event, "left_seq")))
            .await
    }

    async fn place_left(&self, event: Uuid, indexes: &[u64]) -> Result<(), LineError> {
        if indexes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SADD")
            .arg(self.key(event, "left"))
            .arg(indexes)
            .ignore()
            .cmd("ZREM")
            .arg(self.key(event, "seen"))
            .arg(indexes)
            .ignore();
        self.pipeline(&pipe).await
    }

    async fn throttle(&self, event: Uuid, factor: f64, until_ms: i64) -> Result<(), LineError> {
        self.query(
            redis::cmd("HSET")
                .arg(self.key(event, "line"))
                .arg("throttle")
                .arg(factor)
                .arg("throttle_until")
                .arg(until_ms),
        )
        .await
    }

    async fn claim_once(
        &self,
        event: Uuid,
        id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool, LineError> {
        let set: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.key(event, &format!("once:{id}")))
                    .arg(1)
                    .arg("PX")
                    .arg((expires_ms - now_ms).max(1))
                    .arg("NX"),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn release_once(&self, event: Uuid, id: &str) -> Result<(), LineError> {
        self.query(redis::cmd("DEL").arg(self.key(event, &format!("once:{id}"))))
            .await
    }

    async fn lease(&self, event: Uuid, holder: &str, ttl_ms: u64) -> Result<Lease, LineError> {
        let key = self.key(event, "owner");
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&key)
            .arg(holder)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .arg("NX")
            .cmd("GET")
            .arg(&key);
        let (set, now): (Option<String>, Option<String>) = self.pipeline(&pipe).await?;
        Ok(match (set, now) {
            (Some(_), _) => Lease::Taken,
            (None, Some(holder)) => Lease::Held(holder),
            // It expired between the two commands: free again, the caller asks once more.
            (None, None) => Lease::Held(String::new()),
        })
    }

    async fn renew(&self, event: Uuid, holder: &str, ttl_ms: u64) -> Result<bool, LineError> {
        let renewed: i64 = self
            .invoke(
                RENEW
                    .key(self.key(event, "owner"))
                    .arg(holder)
                    .arg(ttl_ms.max(1)),
            )
            .await?;
        Ok(renewed == 1)
    }

    async fn give_up(&self, event: Uuid, holder: &str) -> Result<(), LineError> {
        let _: i64 = self
            .invoke(
                GIVE_UP
                    .key(self.key(event, "owner"))
                    .key(self.key(event, "published"))
                    .arg(holder),
            )
            .await?;
        Ok(())
    }

    async fn publish(&self, event: Uuid, published: &str, ttl_ms: u64) -> Result<(), LineError> {
        self.query(
            redis::cmd("SET")
                .arg(self.key(event, "published"))
                .arg(published)
                .arg("PX")
                .arg(ttl_ms.max(1)),
        )
        .await
    }

    async fn published(&self, events: &[Uuid]) -> Result<Vec<Option<String>>, LineError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // One GET per event in one pipeline: the keys live on different cluster slots.
        let mut pipe = redis::pipe();
        for &event in events {
            pipe.cmd("GET").arg(self.key(event, "published"));
        }
        self.pipeline(&pipe).await
    }

    async fn restore(&self, event: Uuid, marks: &Marks) -> Result<(), LineError> {
        let mut invocation = RESTORE.key(self.key(event, "line"));
        invocation
            .arg(marks.seq_floor)
            .arg(marks.ceiling)
            .arg(marks.serving);
        match &marks.opening {
            Some(o) => invocation
                .arg(o.prequeue_size)
                .arg(&o.seed)
                .arg(o.opened_at_ms),
            None => invocation.arg("").arg("").arg(""),
        };
        self.invoke(&invocation).await
    }
}
