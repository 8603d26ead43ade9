//! Errors of the storage and replication runtime.

use std::path::PathBuf;

use api::{ApiError, ErrorCode};

/// What failed in storage, replication or configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the sled lock of this directory.
    #[error(
        "data directory {path} is in use by another process (is this replica already running?)"
    )]
    DataDirLocked {
        /// The replica directory.
        path: PathBuf,
    },
    /// sled could not open or recover the directory.
    #[error("data directory {path} cannot be opened: {reason} (it is damaged or not a Pygmy replica directory)")]
    DataDirUnreadable {
        /// The replica directory.
        path: PathBuf,
        /// sled's description of the failure.
        reason: String,
    },
    /// The path is not a replica directory (nor, where one is accepted, a data directory).
    #[error("{path} is not a Pygmy replica directory: {reason}")]
    NotAReplicaDir {
        /// The path given.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The replica directory holds no data and this start is not a bootstrap.
    #[error(
        "replica directory {path} is empty or missing, and this start is not a bootstrap: the \
         replica's Raft vote and log are lost, and a voter that forgot them can make its group \
         lose acknowledged writes, so it is not started. Restore the directory as it was, or \
         replace the replica by a membership change (`pygmy member replace`: a new id, its \
         directory started with `--join`). Only a new cluster starts empty: `pygmy up --fresh`, \
         or `--bootstrap` on every replica"
    )]
    EmptyReplicaDir {
        /// The replica directory.
        path: PathBuf,
    },
    /// The replica stopped because its group removed it while it ran.
    #[error("{reason}")]
    Retired {
        /// The removal, as the group's leader told it.
        reason: String,
    },
    /// A backup is damaged, incomplete or of another version, or cannot be restored there.
    #[error("backup {path}: {reason}")]
    BadBackup {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The replica was removed from its group by a membership change.
    #[error(
        "{group} replica {id} was removed from its group (the membership at log index \
         {config_index} has replicas {members:?}): its directory is retired and must not serve \
         again. Add a replica under a new id instead (`pygmy member add`)"
    )]
    Removed {
        /// Group name.
        group: String,
        /// The replica's id.
        id: u64,
        /// Log index of the membership in effect.
        config_index: u64,
        /// The members it names.
        members: Vec<u64>,
    },
    /// The replica directory belongs to another cluster.
    #[error(
        "replica directory {path} belongs to cluster {recorded}, not to this cluster \
         ({expected}, from <data_dir>/cluster_id): it is another cluster's directory; give this \
         cluster's data directory"
    )]
    WrongCluster {
        /// The replica directory.
        path: PathBuf,
        /// The cluster id the directory records.
        recorded: String,
        /// The cluster id this start is for.
        expected: String,
    },
    /// The replica directory has Raft state but records no cluster id.
    #[error(
        "replica directory {path} holds Raft state but no cluster id (it was made by a Pygmy \
         older than cluster ids): start a new cluster with `pygmy up --fresh`"
    )]
    UnidentifiedReplicaDir {
        /// The replica directory.
        path: PathBuf,
    },
    /// A peer rejected this replica's token or cluster id when greeted before Raft started.
    #[error(
        "{peer} refused this replica: {reason}. Not starting: a replica its peers reject would \
         only raise its group's term with elections it cannot win; fix the configuration \
         (cluster_token, data directory) and start it again"
    )]
    PeerRefused {
        /// The peer: group, id, address.
        peer: String,
        /// What it answered.
        reason: String,
    },
    /// A replica directory could not be copied for offline inspection.
    #[error("cannot copy {path} for inspection: {source}")]
    CopyFailed {
        /// The file or directory that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cluster configuration is invalid, or a replica's address cannot be bound.
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    /// A sled operation failed.
    #[error("storage I/O failed: {0}")]
    Sled(#[from] sled::Error),
    /// A replica's own configuration is invalid (its cluster id file, its Raft settings).
    #[error("{0}")]
    Config(String),
    /// openraft refused to start or stopped.
    #[error("raft of replica {replica_id} failed: {reason}")]
    Raft {
        /// The replica.
        replica_id: u64,
        /// What openraft said.
        reason: String,
    },
    /// No leader could be reached before the deadline; the write was not applied.
    #[error("group {group} has no reachable leader: {reason}")]
    NoLeader {
        /// Group name.
        group: &'static str,
        /// Last failure seen.
        reason: String,
    },
    /// The write was sent but its outcome could not be learned before the deadline.
    #[error("outcome of the write to group {group} is unknown: {reason}")]
    OutcomeUnknown {
        /// Group name.
        group: &'static str,
        /// Why it could not be learned.
        reason: String,
    },
}

/// Result with the storage [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::NoLeader { .. } | Error::Raft { .. } => ErrorCode::NoLeader,
            Error::OutcomeUnknown { .. } => ErrorCode::OutcomeUnknown,
            Error::DataDirLocked { .. }
            | Error::DataDirUnreadable { .. }
            | Error::EmptyReplicaDir { .. }
            | Error::WrongCluster { .. }
            | Error::UnidentifiedReplicaDir { .. }
            | Error::PeerRefused { .. }
            | Error::Removed { .. }
            | Error::BadBackup { .. }
            | Error::Retired { .. }
            | Error::NotAReplicaDir { .. }
            | Error::CopyFailed { .. }
            | Error::Sled(_)
            | Error::Config(_)
            | Error::Runtime(_) => ErrorCode::Internal,
        };
        let message = match code {
            // 5xx bodies stay generic; the cause is logged where it happened.
            ErrorCode::Internal => "internal error".to_string(),
            ErrorCode::OutcomeUnknown => format!("{e}; retrying with the same key is safe"),
            _ => e.to_string(),
        };
        if code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error");
        }
        ApiError::new(code, message)
    }
}
