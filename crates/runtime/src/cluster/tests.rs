//! Loading and validating `cluster.toml`.

// figment's `Jail` closures return its large error type; the lint is about its API, not ours.
#![allow(clippy::result_large_err)]

use super::*;

fn default_file() -> ClusterFile {
    toml_file(DEFAULT_CLUSTER_TOML)
}

fn toml_file(text: &str) -> ClusterFile {
    Figment::from(Toml::string(text)).extract().unwrap()
}

#[test]
fn default_is_valid_three_plus_three() {
    let c = Cluster::validate(default_file()).unwrap();
    assert_eq!((c.catalog.len(), c.orders.len()), (3, 3));
    assert!(c.raft.heartbeat < c.raft.election_min);
}

#[test]
fn duplicate_address_is_named() {
    let mut f = default_file();
    f.orders.replicas[0] = f.catalog.replicas[1].clone();
    let e = Cluster::validate(f).unwrap_err().to_string();
    assert!(e.contains("127.0.0.1:8102") && e.contains("twice"), "{e}");
}

#[test]
fn bad_timings_and_addresses_are_refused() {
    let mut f = default_file();
    f.raft.heartbeat_ms = 5000;
    assert!(Cluster::validate(f)
        .unwrap_err()
        .to_string()
        .contains("heartbeat_ms"));
    let mut f = default_file();
    f.catalog.replicas[0] = "nonsense".into();
    assert!(Cluster::validate(f)
        .unwrap_err()
        .to_string()
        .contains("host:port"));
}

#[test]
fn unknown_id_and_missing_token_are_refused() {
    let mut c = Cluster::validate(default_file()).unwrap();
    c.cluster_token = "t".into();
    assert!(c.replica_peers(GroupName::Catalog, 4).is_err());
    assert!(c.replica_peers(GroupName::Catalog, 0).is_err());
    assert_eq!(
        c.replica_peers(GroupName::Orders, 2).unwrap()[&2],
        "127.0.0.1:8202"
    );
    c.cluster_token.clear();
    assert!(c
        .replica_peers(GroupName::Catalog, 1)
        .unwrap_err()
        .to_string()
        .contains("cluster_token"));
}

#[test]
fn environment_overrides_the_file_and_ignores_other_pygmy_variables() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("PYGMY_CLUSTER_TOKEN", "from-env-0123456789");
        jail.set_env("PYGMY_RAFT__HEARTBEAT_MS", "300");
        jail.set_env("PYGMY_URL", "http://127.0.0.1:1");
        let c = Cluster::load(None, &Default::default()).map_err(|e| e.to_string())?;
        assert_eq!(c.cluster_token, "from-env-0123456789");
        assert_eq!(c.raft.heartbeat, Duration::from_millis(300));
        Ok(())
    });
}

#[test]
fn weak_or_unprintable_tokens_are_refused_naming_where_they_were_set() {
    // Goal: a token with a newline, a space or a non-ASCII character, or a short one, is
    // refused when the configuration loads (not later, as a group that never elects),
    // naming the key and the file or variable that set it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    for (token, why) in [
        ("x", "too short"),
        // TOML escapes: the file holds a backslash-n, the token a newline.
        ("0123456789abcdef\\n", "'\\n'"),
        ("0123456789 abcdef", "' '"),
        ("0123456789abcdéf", "'é'"),
    ] {
        std::fs::write(&path, format!("cluster_token = \"{token}\"\n")).unwrap();
        let e = Cluster::load(Some(&path), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cluster_token (in ") && e.contains("c.toml)"),
            "{e}"
        );
        assert!(e.contains(why), "{token:?}: {e}");
    }
    figment::Jail::expect_with(|jail| {
        jail.set_env("PYGMY_ADMIN_TOKEN", "short");
        let e = Cluster::load(None, &Default::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin_token (in PYGMY_ADMIN_TOKEN)"), "{e}");
        Ok(())
    });
    assert!(check_token("").is_ok() && check_token("0123456789abcdef").is_ok());
}

#[test]
fn missing_file_and_unknown_keys_are_clear() {
    let e = Cluster::load(
        Some(Path::new("/nonexistent/cluster.toml")),
        &Default::default(),
    );
    assert!(e.unwrap_err().to_string().contains("does not exist"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[raft]\nheartbeat = 3\n").unwrap();
    let e = Cluster::load(Some(&path), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("heartbeat"), "{e}");
}

#[test]
fn advertised_frontend_address_must_name_a_host() {
    // Goal: `[frontend] advertise` is optional (none by default), kept when it names a host,
    // and refused when it is not host:port or is a wildcard nobody can connect to.
    assert_eq!(
        Cluster::validate(default_file())
            .unwrap()
            .frontend_advertise,
        None
    );
    let mut f = default_file();
    f.frontend.addr = "0.0.0.0:8080".into();
    f.frontend.advertise = Some("frontend-1:8080".into());
    let c = Cluster::validate(f).unwrap();
    assert_eq!(c.frontend_advertise.as_deref(), Some("frontend-1:8080"));
    for bad in ["frontend-1", "0.0.0.0:8080", "[::]:8080"] {
        let mut f = default_file();
        f.frontend.advertise = Some(bad.into());
        let e = Cluster::validate(f).unwrap_err().to_string();
        assert!(e.contains("advertise") && e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn restock_is_off_by_default_and_read_from_catalog_restock() {
    // Goal: the default has no timed restocks; `[catalog.restock]` turns them on, validated;
    // the table under `[orders]` is refused by name.
    assert_eq!(Cluster::validate(default_file()).unwrap().restock, None);
    let text =
        format!("{DEFAULT_CLUSTER_TOML}\n[catalog.restock]\nevery_s = 2\nbelow = 1\nto = 5\n");
    let policy = Cluster::validate(toml_file(&text))
        .unwrap()
        .restock
        .unwrap();
    assert_eq!(
        (policy.every, policy.below, policy.to),
        (Duration::from_secs(2), 1, 5)
    );
    let bad = text.replace("every_s = 2", "every_s = 0");
    let e = Cluster::validate(toml_file(&bad)).unwrap_err().to_string();
    assert!(e.contains("every_s = 0"), "{e}");
    let mut orders = default_file();
    orders.orders.restock = toml_file(&text).catalog.restock;
    let e = Cluster::validate(orders).unwrap_err().to_string();
    assert!(e.contains("restock belongs in [catalog]"), "{e}");
}
