//! `pygmy serve`: replicas run by the CLI, finding tokens that `pygmy up` stored.

use std::time::Duration;

use test_support::{ClusterDir, ReplicaSet};

use crate::{bin, strip_tokens};

#[tokio::test]
async fn serve_catalog_finds_its_tokens_in_the_data_dir() {
    // Goal: a replica restarted by hand (`pygmy serve catalog --id N`, no token in the config
    // or environment) uses the tokens `pygmy up` stored. Method: a config without tokens, a
    // tokens.toml in its data dir, three `pygmy serve catalog` processes (the harness strips
    // PYGMY_* variables); they elect a leader only if they authenticate each other, and the
    // harness reads /status with the stored token.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 1, &[]);
    strip_tokens(&dir);
    let tokens = format!(
        "cluster_token = \"{}\"\nadmin_token = \"{}\"\n",
        dir.token(),
        dir.admin_token()
    );
    std::fs::write(dir.data_dir().join("tokens.toml"), tokens).unwrap();
    let set = ReplicaSet::start(bin(), &["serve", "catalog"], &dir, "catalog");
    let leader = set.wait_leader(Duration::from_secs(30)).await;
    // A killed replica restarted the same way rejoins.
    let follower = set.ids().into_iter().find(|&id| id != leader).unwrap();
    set.kill(follower);
    set.restart(follower);
    set.wait_converged(Duration::from_secs(30)).await;
    set.assert_no_panics();
}
