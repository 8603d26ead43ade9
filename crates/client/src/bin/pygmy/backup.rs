//! `pygmy backup --to DIR`: a consistent copy of both groups taken from a live cluster, which
//! keeps serving throughout.
//!
//! Each group's leader gives its current snapshot once it holds every write acknowledged before
//! the request (`storage::replica::backup`); the image is streamed into DIR and described in
//! `manifest.json` (`storage::backup::Manifest`), written last. The order group is taken first:
//! every order in its image had its reservation committed in the catalog before, so the
//! catalog's image, taken after, holds it. The catalog may also hold stock for buys that came
//! after the order image; `pygmy restore` gives that stock back.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use clap::Args;
use runtime::entry::ConfigArgs;
use runtime::{ClusterOverrides, GroupName};
use storage::backup::{
    summarize_image, GroupBackup, Manifest, SnapshotHead, BACKUP_PATH, FORMAT, MANIFEST_FILE,
    SNAPSHOT_HEAD_HEADER,
};

use crate::fresh_dir::FreshDir;
use crate::group_client::GroupClient;

/// Time one group's snapshot gets to be built and sent.
const GROUP_TIMEOUT: Duration = Duration::from_secs(600);

/// `pygmy backup --to DIR`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Directory to write the backup into: missing or empty.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs `pygmy backup`.
pub(crate) fn run(args: BackupArgs, json: bool) -> Result<()> {
    let cluster = args.config.load(ClusterOverrides::default())?;
    let dir = FreshDir::check(&args.to, "a backup")?;
    dir.create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let taken = runtime.block_on(async {
        let started = unix_ms();
        let mut groups = Vec::new();
        let mut cluster_id = String::new();
        for group in [GroupName::Orders, GroupName::Catalog] {
            let mut replicas = GroupClient::new(&cluster, group)?;
            let (leader, view) = replicas.leader().await?;
            cluster_id = view.cluster_id.clone();
            let backup = take_group(&replicas, &leader, &args.to).await?;
            eprintln!(
                "{}: snapshot at log index {} (read index {}), {} entries, {} bytes, from \
                 replica {}",
                group.as_str(),
                backup.head.last_log_id.index,
                backup.head.read_index,
                backup.entries,
                backup.bytes,
                view.answered_by
            );
            groups.push(backup);
        }
        Ok::<_, anyhow::Error>(Manifest {
            format: FORMAT,
            pygmy_version: env!("CARGO_PKG_VERSION").to_string(),
            started_unix_ms: started,
            finished_unix_ms: unix_ms(),
            cluster_id,
            groups,
        })
    });
    let manifest = match taken.and_then(|m| write_manifest(&args.to, &m).map(|()| m)) {
        Ok(manifest) => manifest,
        Err(e) => {
            dir.undo();
            return Err(e.context("the backup failed; nothing is left in its directory"));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        println!(
            "backup of cluster {} in {} ({} ms): restore it with `pygmy restore --from {} \
             --data NEW_DIR`",
            manifest.cluster_id,
            args.to.display(),
            manifest.finished_unix_ms - manifest.started_unix_ms,
            args.to.display()
        );
    }
    Ok(())
}

/// Asks replica `leader` for its group's snapshot and writes its image into `dir`.
async fn take_group(replicas: &GroupClient, leader: &str, dir: &Path) -> Result<GroupBackup> {
    let mut response = replicas
        .post_for_body(leader, BACKUP_PATH, GROUP_TIMEOUT)
        .await?;
    let head: SnapshotHead = response
        .headers()
        .get(SNAPSHOT_HEAD_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(serde_json::from_str)
        .transpose()?
        .with_context(|| format!("{leader} sent no {SNAPSHOT_HEAD_HEADER} header"))?;
    let name = format!("{}.image", replicas.name());
    let part = dir.join(format!("{name}.part"));
    let mut out = std::fs::File::create(&part)
        .with_context(|| format!("cannot create {}", part.display()))?;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("the image from {leader}"))?
    {
        out.write_all(&chunk)?;
    }
    out.sync_all()?;
    let path = dir.join(&name);
    std::fs::rename(&part, &path)?;
    let summary = summarize_image(&path)?;
    Ok(GroupBackup {
        head,
        file: name,
        bytes: summary.bytes,
        sha256: summary.sha256,
        entries: summary.entries,
        state_digest: summary.state_digest,
    })
}

/// Writes the manifest whole (a temporary file, synced, renamed) and syncs the directory.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let part = dir.join(format!("{MANIFEST_FILE}.part"));
    let mut out = std::fs::File::create(&part)?;
    out.write_all(&serde_json::to_vec_pretty(manifest)?)?;
    out.sync_all()?;
    std::fs::rename(&part, dir.join(MANIFEST_FILE))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
