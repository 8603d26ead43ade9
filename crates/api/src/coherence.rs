//! Cache coherence between the catalog leader and the frontends (DESIGN.md section 6): leases,
//! write notices, and the read index every catalog read is tagged with.

use serde::{Deserialize, Serialize};

/// Header of a catalog read answer: the log index the read was served at (a lower bound of
/// the state it shows).
pub const X_READ_INDEX: &str = "x-pygmy-read-index";

/// Route of a catalog replica where frontends take their leases ([`LeaseRequest`]).
pub const LEASE_PATH: &str = "/cache/lease";

/// Route of a frontend where the catalog leader sends [`CacheNotice`]s.
pub const NOTICE_PATH: &str = "/internal/cache/notice";

/// The `ETag` of a representation read at catalog log index `index`.
pub fn etag(index: u64) -> String {
    format!("\"c{index}\"")
}

/// The catalog log index inside an `ETag` made by [`etag`], if it is one.
pub fn parse_etag(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("\"c")?
        .strip_suffix('"')?
        .parse()
        .ok()
}

/// A part of the catalog that cached answers depend on and writes change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// Everything (a write that may touch any book, such as seeding).
    Everything,
    /// The list of every book.
    AllBooks,
    /// One book.
    Book(u64),
    /// The books of one topic.
    Topic(String),
}

/// A write as its leader numbers them: unique within a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WriteId {
    /// Term of the leader that sent it.
    pub term: u64,
    /// Sequence number within that leader's term, from 1.
    pub seq: u64,
}

/// A write in flight and what it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteNotice {
    /// Which write.
    pub write: WriteId,
    /// What it changes.
    pub slots: Vec<Slot>,
}

/// Body of `POST /internal/cache/notice` (catalog leader to frontend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CacheNotice {
    /// The write is about to be proposed: stop serving its slots from the cache.
    Begin(WriteNotice),
    /// The write applied at `index`: cache its slots again, from values read at `index` or later.
    Done {
        /// The write.
        notice: WriteNotice,
        /// Log index it applied at.
        index: u64,
    },
}

/// Answer of a frontend to a [`CacheNotice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeAck {
    /// The highest catalog term the frontend knows; above the sender's, the sender is deposed.
    pub term: u64,
}

/// Body of `POST /cache/lease` (frontend to catalog leader): register or renew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// The frontend process (a random id per start).
    pub frontend: String,
    /// Where it takes [`CacheNotice`]s: `http://host:port`.
    pub notify_url: String,
}

/// Answer of the catalog leader to a [`LeaseRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    /// The leader's term.
    pub term: u64,
    /// Registration session: a new one means the frontend may have missed notices.
    pub session: u64,
    /// Lease length from the moment the frontend sent its request, in ms.
    pub lease_ms: u64,
    /// The leader's applied index when it granted (after every write not in `in_flight`).
    pub applied_index: u64,
    /// Writes begun and not yet done.
    pub in_flight: Vec<WriteNotice>,
    /// Sequence number the leader's next write will take.
    pub next_seq: u64,
}
