//! The reference Prometheus configurations of `docs/prometheus/` scrape exactly the processes
//! of the clusters they are written for: `up.yml` those of the default configuration (what
//! `pygmy up` runs), `compose.yml` those of `docker/compose/cluster.toml` and the frontend
//! services of `docker-compose.yml`. A replica or frontend added on one side only fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::Figment;
use runtime::cluster::{ClusterFile, DEFAULT_CLUSTER_TOML};
use runtime::Cluster;
use serde::Deserialize;

/// The part of a Prometheus configuration that names what is scraped.
#[derive(Debug, Deserialize)]
struct PrometheusConfig {
    scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Deserialize)]
struct ScrapeConfig {
    job_name: String,
    metrics_path: Option<String>,
    static_configs: Vec<StaticConfig>,
}

#[derive(Debug, Deserialize)]
struct StaticConfig {
    targets: Vec<String>,
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each job of the Prometheus configuration `path` and its targets, sorted.
fn jobs(path: &str) -> BTreeMap<String, Vec<String>> {
    let config: PrometheusConfig = serde_norway::from_str(&read(&repo_file(path)))
        .unwrap_or_else(|e| panic!("{path} is not a Prometheus configuration: {e}"));
    let mut jobs = BTreeMap::new();
    for job in config.scrape_configs {
        assert!(
            job.metrics_path.as_deref().is_none_or(|p| p == "/metrics"),
            "{path}: job {} scrapes {:?}, not /metrics",
            job.job_name,
            job.metrics_path
        );
        let mut targets: Vec<String> = job
            .static_configs
            .into_iter()
            .flat_map(|c| c.targets)
            .collect();
        targets.sort();
        assert!(
            jobs.insert(job.job_name.clone(), targets).is_none(),
            "{path}: job {} is listed twice",
            job.job_name
        );
    }
    jobs
}

/// The cluster the default configuration with `file` over it describes, as every process
/// reads it, less the `PYGMY_*` variables (which are not the file's).
fn cluster(file: Option<&str>) -> Cluster {
    let mut figment = Figment::from(Toml::string(DEFAULT_CLUSTER_TOML));
    if let Some(file) = file {
        figment = figment.merge(Toml::file(repo_file(file)));
    }
    let parsed: ClusterFile = figment.extract().expect("the configuration parses");
    Cluster::validate(parsed).expect("the configuration is valid")
}

/// The jobs a configuration must have for `cluster`, whose frontends are `frontends`.
fn expected(cluster: &Cluster, frontends: Vec<String>) -> BTreeMap<String, Vec<String>> {
    let sorted = |mut targets: Vec<String>| {
        targets.sort();
        targets
    };
    BTreeMap::from([
        ("pygmy-frontend".to_string(), sorted(frontends)),
        ("pygmy-catalog".to_string(), sorted(cluster.catalog.clone())),
        ("pygmy-orders".to_string(), sorted(cluster.orders.clone())),
    ])
}

#[test]
fn the_up_configuration_scrapes_every_process_of_the_default_cluster() {
    // Goal: docs/prometheus/up.yml lists the frontend and the six replicas `pygmy up` starts
    // with the default configuration (the cluster.toml the binaries embed), and nothing else.
    let default = cluster(None);
    let frontends = vec![default.frontend_addr.clone()];
    assert_eq!(
        jobs("docs/prometheus/up.yml"),
        expected(&default, frontends)
    );
}

#[test]
fn the_compose_configuration_scrapes_every_container_of_the_compose_cluster() {
    // Goal: docs/prometheus/compose.yml lists the replicas of docker/compose/cluster.toml and
    // every frontend service of docker-compose.yml (a service run as `serve frontend`), at the
    // port of `[frontend] addr`, and nothing else.
    let compose_cluster = cluster(Some("docker/compose/cluster.toml"));
    let port = compose_cluster
        .frontend_addr
        .rsplit_once(':')
        .expect("[frontend] addr has a port")
        .1;
    let compose: serde_norway::Value =
        serde_norway::from_str(&read(&repo_file("docker-compose.yml"))).unwrap();
    let services = compose["services"].as_mapping().expect("compose services");
    let frontends: Vec<String> = services
        .iter()
        .filter(|(_, service)| {
            let command = service["command"].as_sequence().into_iter().flatten();
            let words: Vec<&str> = command.filter_map(|word| word.as_str()).collect();
            words.starts_with(&["serve", "frontend"])
        })
        .map(|(name, _)| format!("{}:{port}", name.as_str().unwrap()))
        .collect();
    assert!(!frontends.is_empty(), "docker-compose.yml runs no frontend");
    assert_eq!(
        jobs("docs/prometheus/compose.yml"),
        expected(&compose_cluster, frontends)
    );
}
