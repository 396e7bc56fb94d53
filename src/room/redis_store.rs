//! The Redis line store: one line shared by every node.
//!
//! `deadpool-redis` opens the connections, but a pool checkout per request costs a round trip
//! of its own (ARCHITECTURE.md, Measured facts: ~17k/s against ~60k/s). So the store takes one
//! multiplexed connection out of the pool and clones it for every request; only when that
//! connection fails does it go back to the pool for a fresh one. Every key of an event carries
//! the event id as a hash tag (`fg:{<event>}:seq`) so one event's keys live on one Redis
//! Cluster slot and its Lua scripts stay legal there.

use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{Config, Pool, Runtime, Timeouts};
use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use super::{LineError, LineStore};

/// How long one Redis command may take before the line counts as unavailable.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1_000);
/// How long opening a fresh connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);

/// The line in Redis.
pub struct RedisLineStore {
    pool: Pool,
    prefix: String,
    /// The shared multiplexed connection; `None` after a failure until the next request
    /// reconnects.
    conn: RwLock<Option<MultiplexedConnection>>,
    /// Held while reconnecting, so a burst of requests opens one connection, not hundreds.
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
            conn: RwLock::new(None),
            reconnect: tokio::sync::Mutex::new(()),
        })
    }

    /// The key `name` of an event's line, hash-tagged by the event id.
    pub fn key(&self, event: Uuid, name: &str) -> String {
        format!("{}:{{{event}}}:{name}", self.prefix)
    }

    fn shared(&self) -> Option<MultiplexedConnection> {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
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
        let conn = deadpool_redis::Connection::take(fresh);
        *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
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
        *self.conn.write().unwrap_or_else(|p| p.into_inner()) = None;
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

    async fn next_seq(&self, event: Uuid) -> Result<u64, LineError> {
        self.query(redis::cmd("INCR").arg(self.key(event, "seq")))
            .await
    }

    async fn last_seq(&self, event: Uuid) -> Result<u64, LineError> {
        let seq: Option<u64> = self
            .query(redis::cmd("GET").arg(self.key(event, "seq")))
            .await?;
        Ok(seq.unwrap_or(0))
    }
}
