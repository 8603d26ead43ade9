//! A cluster's identity: a random id made when the cluster is bootstrapped, recorded in every
//! replica directory, carried on every peer request, and checked with the peers before Raft
//! starts.
//!
//! Why: a replica started on an emptied directory (or on another cluster's) would otherwise
//! initialize or join a group as if nothing had happened, although Raft forbids a voter
//! forgetting its vote and log: two wiped replicas of three elected a new group whose
//! acknowledged orders later vanished. So:
//! - a group is created only by an explicit bootstrap (`pygmy up` on a data directory without
//!   replica directories or with `--fresh`, or `pygmy serve ... --bootstrap`), which records the
//!   cluster id (from `<data_dir>/cluster_id`) in each new replica directory;
//! - a replica started without bootstrap refuses an empty or missing directory
//!   ([`refuse_empty_dir`]), and any start refuses a directory of another cluster ([`settle`]);
//! - peers refuse Raft traffic carrying another cluster id ([`CLUSTER_ID_HEADER`], checked by
//!   `peer_routes`);
//! - before Raft starts, a replica greets its reachable peers ([`greet_peers`]) and refuses to
//!   start if one rejects its token or cluster id. openraft 0.9 has no pre-vote, so a replica
//!   that cannot authenticate would otherwise campaign alone, raise its term, and force a
//!   re-election once it is let in.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::ReplicaDb;
use crate::error::{Error, Result};
use crate::network::{PeerCallError, PeerClient};
use crate::spec::ReplicaSpec;

/// Header carrying the sender's cluster id on every peer request.
pub const CLUSTER_ID_HEADER: &str = "x-pygmy-cluster";
/// File of the data directory holding the id a bootstrap records in new replica directories.
pub const CLUSTER_ID_FILE: &str = "cluster_id";
/// Route a starting replica greets its peers on.
pub const HELLO_PATH: &str = "/raft/hello";
/// `raft_meta` key under which a replica directory records its cluster id (a JSON string).
pub(crate) const CLUSTER_ID_KEY: &[u8] = b"cluster_id";
/// Random bytes of a cluster id (128 bits, 32 hex characters).
const CLUSTER_ID_BYTES: usize = 16;
/// Longest cluster id accepted from a file (a header value must stay short).
const CLUSTER_ID_CHARS_MAX: usize = 64;
/// Time a peer gets to answer the greeting; one that does not answer is left unchecked.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// What a replica says of itself when it greets a peer, and what the peer answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Group name.
    pub group: String,
    /// Replica id.
    pub replica_id: u64,
}

/// A new random cluster id.
pub fn new_cluster_id() -> String {
    runtime::tokens::random_hex(CLUSTER_ID_BYTES)
}

/// Whether `id` can be a cluster id: 1 to 64 ASCII letters, digits, `-` or `_`.
fn is_valid_id(id: &str) -> bool {
    (1..=CLUSTER_ID_CHARS_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn id_file_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Config(format!("cluster id file {}: {reason}", path.display()))
}

/// The id in `<data_dir>/cluster_id`, if that file exists.
///
/// # Errors
/// [`Error::Config`] if the file cannot be read or holds no valid id.
pub fn read_id_file(data_dir: &Path) -> Result<Option<String>> {
    let path = data_dir.join(CLUSTER_ID_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(id_file_error(&path, e)),
    };
    let id = text.trim();
    if !is_valid_id(id) {
        return Err(id_file_error(
            &path,
            "holds no cluster id (1 to 64 letters, digits, - or _); `pygmy up --fresh` writes a new one",
        ));
    }
    Ok(Some(id.to_string()))
}

/// Writes a new random id into `<data_dir>/cluster_id` (mode 0600), replacing any; creates the
/// data directory (mode 0700) if needed. Returns the id.
///
/// # Errors
/// [`Error::Config`] if the directory or the file cannot be written.
pub fn write_new_id_file(data_dir: &Path) -> Result<String> {
    let id = new_cluster_id();
    let written = write_temporary(data_dir, &id)?;
    let path = data_dir.join(CLUSTER_ID_FILE);
    std::fs::rename(&written, &path).map_err(|e| id_file_error(&path, e))?;
    Ok(id)
}

/// The id in `<data_dir>/cluster_id`, which is created with a new random id if missing. Replicas
/// bootstrapping at once on one machine all get the first id written: the file appears whole
/// (a hard link of a complete temporary file), or not at all.
///
/// # Errors
/// [`Error::Config`] if the file cannot be read or written.
pub fn ensure_id_file(data_dir: &Path) -> Result<String> {
    if let Some(id) = read_id_file(data_dir)? {
        return Ok(id);
    }
    let id = new_cluster_id();
    let written = write_temporary(data_dir, &id)?;
    let path = data_dir.join(CLUSTER_ID_FILE);
    let linked = std::fs::hard_link(&written, &path);
    let _ = std::fs::remove_file(&written);
    match linked {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_id_file(data_dir)?
            .ok_or_else(|| id_file_error(&path, "vanished while being created")),
        Err(e) => Err(id_file_error(&path, e)),
    }
}

/// Writes `id` into a new temporary file (mode 0600) of `data_dir`; its path.
fn write_temporary(data_dir: &Path, id: &str) -> Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| id_file_error(&data_dir.join(CLUSTER_ID_FILE), e))?;
    let temporary = data_dir.join(format!(".{CLUSTER_ID_FILE}.{}.tmp", new_cluster_id()));
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|e| id_file_error(&temporary, e))?;
    file.write_all(format!("{id}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| id_file_error(&temporary, e))?;
    Ok(temporary)
}

/// Refuses a replica directory that holds no sled files (emptied, or never made), unless this
/// start is a bootstrap. Runs before the Db is opened, so a refused start creates nothing.
///
/// # Errors
/// [`Error::EmptyReplicaDir`].
pub(crate) fn refuse_empty_dir(spec: &ReplicaSpec) -> Result<()> {
    let has_data = ["conf", "db"]
        .iter()
        .any(|f| spec.data_dir.join(f).is_file());
    if spec.bootstrap || has_data {
        return Ok(());
    }
    Err(Error::EmptyReplicaDir {
        path: spec.data_dir.clone(),
    })
}

/// The id of the cluster this replica belongs to, as its directory records it. A bootstrap
/// records the spec's id in a directory without Raft state (`raft_empty`: no vote, no log) and
/// flushes it before Raft starts.
///
/// # Errors
/// [`Error::EmptyReplicaDir`] (no id, no Raft state, not a bootstrap: sled files but nothing in
/// them), [`Error::UnidentifiedReplicaDir`] (Raft state without an id),
/// [`Error::WrongCluster`] (another cluster's directory), or a storage error.
pub(crate) async fn settle(db: &ReplicaDb, spec: &ReplicaSpec, raft_empty: bool) -> Result<String> {
    let path = || spec.data_dir.clone();
    let recorded =
        match db.raft_meta.get(CLUSTER_ID_KEY)? {
            Some(raw) => Some(serde_json::from_slice::<String>(&raw).map_err(|e| {
                Error::DataDirUnreadable {
                    path: path(),
                    reason: format!("its cluster id does not decode: {e}"),
                }
            })?),
            None => None,
        };
    match (recorded, &spec.cluster_id) {
        (Some(recorded), Some(expected)) if recorded != *expected => Err(Error::WrongCluster {
            path: path(),
            recorded,
            expected: expected.clone(),
        }),
        (Some(recorded), _) => Ok(recorded),
        (None, _) if !raft_empty => Err(Error::UnidentifiedReplicaDir { path: path() }),
        (None, Some(id)) if spec.bootstrap => {
            let raw = serde_json::to_vec(id).expect("a string always serializes");
            db.raft_meta.insert(CLUSTER_ID_KEY, raw)?;
            db.flush().await?;
            tracing::info!(cluster_id = %id, "bootstrap: recorded the cluster id");
            Ok(id.clone())
        }
        (None, None) if spec.bootstrap => Err(Error::Config(
            "a bootstrap needs the cluster id of <data_dir>/cluster_id".into(),
        )),
        (None, _) => Err(Error::EmptyReplicaDir { path: path() }),
    }
}

/// Greets every other replica of the group that answers, within a short timeout each (all at
/// once), and refuses to start if one rejects this replica's token or cluster id, or answers as
/// another replica than the configuration says. Peers that do not answer are not checked.
///
/// # Errors
/// [`Error::PeerRefused`] naming the peer and its answer.
pub(crate) async fn greet_peers(spec: &ReplicaSpec, peers: &PeerClient) -> Result<()> {
    let me = Hello {
        group: spec.group.as_str().to_string(),
        replica_id: spec.id,
    };
    let me = &me;
    let calls = spec
        .peers
        .iter()
        .filter(|(id, _)| **id != spec.id)
        .map(|(id, addr)| async move {
            let answer = peers
                .post::<_, Hello>(addr, HELLO_PATH, me, HELLO_TIMEOUT)
                .await;
            (*id, addr, answer)
        });
    for (id, addr, answer) in futures::future::join_all(calls).await {
        let peer = format!("{} replica {id} at {addr}", me.group);
        let refused = |reason: String| {
            Err(Error::PeerRefused {
                peer: peer.clone(),
                reason,
            })
        };
        match answer {
            Ok(hello) if hello.group == me.group && hello.replica_id == id => {}
            Ok(hello) => {
                return refused(format!(
                    "it answered as {} replica {}: the configured addresses are not this \
                     cluster's",
                    hello.group, hello.replica_id
                ))
            }
            Err(PeerCallError::Failed {
                status: Some(401),
                reason,
                ..
            }) => {
                return refused(format!(
                    "it rejected this replica's cluster token ({reason})"
                ))
            }
            Err(PeerCallError::Failed {
                status: Some(403),
                reason,
                ..
            }) => return refused(format!("it belongs to another cluster ({reason})")),
            Err(e) => tracing::info!(%peer, error = %e, "peer not greeted; it cannot vouch now"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use runtime::cluster::{GroupName, RaftTimings};

    fn spec(dir: &Path, bootstrap: bool, cluster_id: Option<&str>) -> ReplicaSpec {
        let ms = Duration::from_millis;
        ReplicaSpec {
            group: GroupName::Catalog,
            id: 1,
            peers: BTreeMap::from([(1, "127.0.0.1:1".to_string())]),
            data_dir: dir.to_path_buf(),
            cluster_token: "test-cluster-token".into(),
            cluster_id: cluster_id.map(str::to_string),
            bootstrap,
            raft: RaftTimings {
                heartbeat: ms(250),
                election_min: ms(1000),
                election_max: ms(1500),
                install_snapshot_timeout: ms(5000),
                snapshot_logs_since_last: 10,
                snapshot_logs_kept: 1,
                write_timeout: ms(5000),
                read_timeout: ms(3000),
            },
            sled_cache_bytes: 1 << 20,
        }
    }

    #[tokio::test]
    async fn an_empty_directory_is_refused_unless_bootstrapping() {
        // Goal: without bootstrap, a missing directory is refused before anything is created
        // in it, and so is one whose sled files hold nothing; a bootstrap records its id once.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("catalog-1");
        let plain = spec(&dir, false, Some("c1"));
        let e = refuse_empty_dir(&plain).unwrap_err();
        assert!(matches!(e, Error::EmptyReplicaDir { .. }), "{e}");
        assert!(e.to_string().contains("member replace"), "{e}");
        assert!(!dir.exists(), "a refused start creates nothing");
        let db = ReplicaDb::open(&dir, 1 << 20, &[]).unwrap();
        refuse_empty_dir(&plain).unwrap();
        let e = settle(&db, &plain, true).await.unwrap_err();
        assert!(matches!(e, Error::EmptyReplicaDir { .. }), "{e}");
        let boot = spec(&dir, true, Some("c1"));
        assert_eq!(settle(&db, &boot, true).await.unwrap(), "c1");
        // Recorded: an ordinary restart (and a repeated bootstrap) finds it.
        assert_eq!(settle(&db, &plain, false).await.unwrap(), "c1");
        assert_eq!(settle(&db, &boot, false).await.unwrap(), "c1");
        assert_eq!(
            settle(&db, &spec(&dir, false, None), false).await.unwrap(),
            "c1"
        );
    }

    #[tokio::test]
    async fn another_clusters_or_an_unidentified_directory_is_refused() {
        // Goal: a directory recording another cluster id is refused, bootstrap or not; one with
        // Raft state but no id (made before ids existed) is refused rather than adopted.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("orders-2");
        let db = ReplicaDb::open(&dir, 1 << 20, &[]).unwrap();
        let e = settle(&db, &spec(&dir, true, Some("old")), false)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::UnidentifiedReplicaDir { .. }), "{e}");
        settle(&db, &spec(&dir, true, Some("old")), true)
            .await
            .unwrap();
        for bootstrap in [false, true] {
            let e = settle(&db, &spec(&dir, bootstrap, Some("new")), false)
                .await
                .unwrap_err();
            assert!(
                matches!(&e, Error::WrongCluster { recorded, expected, .. }
                    if recorded == "old" && expected == "new"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_id_file_is_created_once_and_replaced_only_on_purpose() {
        // Goal: ensure_id_file keeps an existing id (every bootstrapping replica gets the same),
        // write_new_id_file replaces it; both 0600; junk in the file is a clear error.
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        assert_eq!(read_id_file(&data).unwrap(), None);
        let first = ensure_id_file(&data).unwrap();
        assert_eq!(first.len(), 2 * CLUSTER_ID_BYTES);
        assert_eq!(ensure_id_file(&data).unwrap(), first);
        let second = write_new_id_file(&data).unwrap();
        assert_ne!(second, first);
        assert_eq!(read_id_file(&data).unwrap(), Some(second));
        let mode = |p: &Path| {
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
                & 0o777
        };
        assert_eq!(mode(&data.join(CLUSTER_ID_FILE)), 0o600);
        assert_eq!(mode(&data), 0o700);
        let leftovers = std::fs::read_dir(&data).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left");
        std::fs::write(data.join(CLUSTER_ID_FILE), "not an id!\n").unwrap();
        let e = read_id_file(&data).unwrap_err().to_string();
        assert!(e.contains("holds no cluster id"), "{e}");
    }
}
