//! `pygmy restore --from DIR --data NEW`: a new cluster's data directory made from a backup.
//!
//! The backup is checked whole first (manifest, sizes, SHA-256, entries, digests), so a damaged
//! one changes nothing. The catalog's stock held for buys the order image does not know (taken
//! after it, see `backup`) goes back to the books. Then each configured replica of each group
//! gets a directory holding its group's image as its snapshot, the configured replicas as the
//! membership and a new cluster id: `pygmy up --data NEW` serves the backed-up state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use catalog_svc::CatalogMachine;
use clap::Args;
use order_svc::OrderMachine;
use runtime::entry::ConfigArgs;
use runtime::{Cluster, ClusterOverrides, GroupName};
use storage::backup::{seed_replica_dir, verify, GroupBackup, Manifest};
use storage::snapshot::StateImage;
use storage::ServiceMachine;

use crate::fresh_dir::FreshDir;

/// `pygmy restore --from DIR --data NEW`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup directory (`pygmy backup --to`).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
}

/// The state trees of a group, by its name in a manifest.
fn trees_of(group: &str) -> Option<&'static [&'static str]> {
    match group {
        "catalog" => Some(CatalogMachine::STATE_TREES),
        "orders" => Some(OrderMachine::STATE_TREES),
        _ => None,
    }
}

/// Runs `pygmy restore`.
pub(crate) fn run(args: RestoreArgs, json: bool) -> Result<()> {
    if args.config.data.is_none() {
        bail!("give the new data directory with --data NEW (missing or empty)");
    }
    let cluster = args.config.load(ClusterOverrides::default())?;
    let new = cluster.data_dir.clone();
    let fresh = FreshDir::check(&new, "a restore")?;
    let manifest = verify(&args.from, trees_of)?;
    // Opening a replica Db starts its flusher task: it needs a runtime, though nothing here waits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let entered = runtime.enter();
    let restored = restore(&args.from, &manifest, &cluster);
    drop(entered);
    let restored = match restored {
        Ok(restored) => restored,
        Err(e) => {
            fresh.undo();
            return Err(e.context(format!("nothing was left in {}", new.display())));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&restored)?);
    } else {
        println!(
            "restored cluster {} (backup of {}) into {}: orders at log index {}, catalog at {} \
             ({} reservation(s) of buys after the order snapshot given back). Start it with \
             `pygmy up --data {}`",
            restored["cluster_id"].as_str().unwrap_or_default(),
            manifest.cluster_id,
            new.display(),
            restored["orders"]["index"],
            restored["catalog"]["index"],
            restored["catalog"]["given_back"],
            new.display()
        );
    }
    Ok(())
}

/// Writes the new data directory; what was restored, as JSON.
fn restore(from: &Path, manifest: &Manifest, cluster: &Cluster) -> Result<serde_json::Value> {
    let group = |name: &str| {
        manifest
            .group(name)
            .with_context(|| format!("the backup has no {name} group"))
    };
    let (orders, catalog) = (group("orders")?, group("catalog")?);
    let read = |g: &GroupBackup| -> Result<StateImage> {
        let bytes = std::fs::read(from.join(&g.file))?;
        StateImage::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", g.file))
    };
    let catalog_image = read(catalog)?;
    let reservations = catalog_svc::inspect::reservations(&catalog_image);
    let unaccounted = order_svc::inspect::unaccounted_reservations(&read(orders)?, &reservations);
    let repaired = catalog_svc::restore::give_back(&catalog_image, &unaccounted);
    drop(catalog_image);
    std::fs::create_dir_all(&cluster.data_dir)?;
    let repaired_path = cluster.data_dir.join("catalog.image.restoring");
    std::fs::write(&repaired_path, repaired.encode())?;
    drop(repaired);
    let cluster_id = storage::identity::ensure_id_file(&cluster.data_dir)?;
    let mut out = serde_json::json!({"cluster_id": cluster_id, "data_dir": cluster.data_dir});
    for (name, backup, image, trees) in [
        (
            "orders",
            orders,
            from.join(&orders.file),
            OrderMachine::STATE_TREES,
        ),
        (
            "catalog",
            catalog,
            repaired_path.clone(),
            CatalogMachine::STATE_TREES,
        ),
    ] {
        let group = if name == "orders" {
            GroupName::Orders
        } else {
            GroupName::Catalog
        };
        let members: BTreeMap<u64, String> =
            (1..).zip(cluster.replicas(group).iter().cloned()).collect();
        let mut digests = Vec::new();
        for id in members.keys() {
            let dir = cluster.replica_dir(group, *id);
            digests.push(seed_replica_dir(
                &dir,
                *id,
                trees,
                &cluster_id,
                backup,
                &image,
                &members,
            )?);
        }
        digests.dedup();
        if digests.len() != 1 {
            bail!("the {name} replicas were restored with different digests {digests:?}");
        }
        if name == "orders" && digests[0] != backup.state_digest {
            bail!(
                "the restored orders digest {} differs from the backup's {}",
                digests[0],
                backup.state_digest
            );
        }
        out[name] = serde_json::json!({
            "index": backup.head.last_log_id.index,
            "replicas": members.len(),
            "digest": digests[0],
        });
    }
    out["catalog"]["given_back"] = unaccounted.len().into();
    std::fs::remove_file(&repaired_path)?;
    Ok(out)
}
