//! `pygmy backup` and `pygmy restore` on real processes (#15): a backup taken during buys,
//! restored into a new cluster, serves every order acknowledged before it began with stock
//! conserved; a directory that is not empty and a damaged backup are refused with nothing
//! changed.

use std::path::Path;

use test_support::{ClusterDir, Store};

use crate::membership::{assert_all_readable, Buyer};
use crate::{bin, code_and_stderr, pygmy};

/// `pygmy ARGS`: exit code and stderr.
async fn run(args: &[&str]) -> (Option<i32>, String) {
    code_and_stderr(&pygmy(args).await)
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_into_a_cluster_that_serves_it() {
    // Goal (#15): a backup taken while buys go on, restored into a new data directory with new
    // addresses, passes `inspect verify` (stock conserved, every order reserved) and, started,
    // serves every order acknowledged before the backup began, and takes new buys. Refusals:
    // a backup into a non-empty directory, a restore into one, a restore of a backup with one
    // flipped byte; each exits 2 and changes nothing. Method: a whole store and a sequential
    // buyer; `pygmy backup` mid-load; a second store on a second ClusterDir restored from it.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    let frontend = format!("http://{}", dir.frontend_addr());
    let buyer = Buyer::start(&frontend, dir.admin_token()).await;
    test_support::poll_until(test_support::store::STORE_SETTLE, "some buys", || async {
        (buyer.count() >= 20).then_some(())
    })
    .await;
    let before = buyer.acknowledged();
    let config = dir.config_path().to_string_lossy().into_owned();
    let backup_dir = dir.path().join("backup");
    let backup = backup_dir.to_string_lossy().into_owned();
    let (code, stderr) = run(&["backup", "--to", &backup, "--config", &config]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("orders: snapshot at log index"), "{stderr}");
    let acknowledged = buyer.finish().await;
    assert!(acknowledged.len() >= before.len());

    // A second backup into the same directory is refused and leaves the first alone.
    let manifest = std::fs::read(backup_dir.join("manifest.json")).unwrap();
    let (code, stderr) = run(&["backup", "--to", &backup, "--config", &config]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read(backup_dir.join("manifest.json")).unwrap(),
        manifest
    );

    // A damaged copy of the backup is refused before anything is written.
    let damaged_dir = dir.path().join("damaged");
    std::fs::create_dir(&damaged_dir).unwrap();
    for entry in std::fs::read_dir(&backup_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), damaged_dir.join(entry.file_name())).unwrap();
    }
    let image = damaged_dir.join("orders.image");
    let mut bytes = std::fs::read(&image).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&image, bytes).unwrap();
    let other = ClusterDir::new(3, 3, &[]);
    let other_config = other.config_path().to_string_lossy().into_owned();
    let other_data = other.data_dir().to_string_lossy().into_owned();
    let damaged = damaged_dir.to_string_lossy().into_owned();
    let (code, stderr) = run(&[
        "restore",
        "--from",
        &damaged,
        "--data",
        &other_data,
        "--config",
        &other_config,
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("orders.image"), "{stderr}");
    assert!(
        is_empty(&other.data_dir()),
        "a refused restore writes nothing"
    );

    // A restore into a directory that is not empty is refused.
    let (code, stderr) = run(&[
        "restore",
        "--from",
        &backup,
        "--data",
        &backup,
        "--config",
        &other_config,
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");

    // The real restore, checked offline, then served.
    let (code, stderr) = run(&[
        "restore",
        "--from",
        &backup,
        "--data",
        &other_data,
        "--config",
        &other_config,
    ])
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let verify = pygmy(&["inspect", "verify", &other_data]).await;
    let report = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert_eq!(verify.status.code(), Some(0), "{report}");
    assert!(report.contains("no violation"), "{report}");
    drop(store);
    let restored = Store::start(bin(), &other).await;
    let restored_frontend = format!("http://{}", other.frontend_addr());
    assert_all_readable(&restored_frontend, &before).await;
    let client = client::PygmyClient::new(&restored_frontend).unwrap();
    let order = client.buy(1, 1, Some("after-restore")).await.unwrap();
    assert!(
        order.number > *before.iter().max().unwrap(),
        "new orders come after the restored ones: {order:?}"
    );
    restored.assert_no_panics();
}
