//! What a launch starts: one `pygmy serve` per replica of each group and per frontend, each
//! with its name, arguments, address, log and replica directory, and the environment they share.

use std::path::{Path, PathBuf};

use runtime::{Cluster, GroupName};

use super::data_dir;
use super::roster::Start;
use runtime::process::ENV_PARENT_PID;

/// The environment variable that turns the cache off in every child (`up --no-cache`).
const ENV_CACHE_ENABLED: &str = "PYGMY_CACHE__ENABLED";

/// One process to start.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `catalog-1`, `orders-2`, `frontend`.
    pub(crate) name: String,
    /// Arguments after the program.
    pub(crate) args: Vec<String>,
    /// Its log file.
    pub(crate) log: PathBuf,
    /// `host:port` it serves on.
    pub(crate) addr: String,
    /// Its replica directory (none for the frontend).
    pub(crate) replica_dir: Option<PathBuf>,
}

impl Plan {
    /// The plan of a replica that replaces this one (the `member` fault of `chaos`): the same
    /// service and shared flags, replica `id` at `addr` in a directory and log of its own,
    /// joining the group (`--join`, harmless on its restarts: the directory is no longer empty
    /// then). `None` for a frontend's plan.
    pub(crate) fn successor(&self, id: u64, addr: &str) -> Option<Plan> {
        let dir = self.replica_dir.as_ref()?;
        let (group, _) = self.name.rsplit_once('-')?;
        let name = format!("{group}-{id}");
        let mut args = Vec::new();
        let mut old = self.args.iter();
        while let Some(arg) = old.next() {
            match arg.as_str() {
                "--addr" | "--id" => {
                    old.next();
                }
                "--join" => {}
                _ => args.push(arg.clone()),
            }
        }
        args.extend([
            "--id".into(),
            id.to_string(),
            "--addr".into(),
            addr.into(),
            "--join".into(),
        ]);
        Some(Plan {
            log: self.log.with_file_name(format!("{name}.log")),
            replica_dir: Some(dir.with_file_name(&name)),
            name,
            args,
            addr: addr.to_string(),
        })
    }
}

/// One `pygmy serve` per replica of `starts`, then one per frontend address (named
/// `frontend`, `frontend-2`, ...); `config` and `data` are passed on to each as given.
pub(crate) fn plans(
    config: Option<&Path>,
    data: Option<&Path>,
    cluster: &Cluster,
    starts: &[Start],
    frontends: &[String],
) -> Vec<Plan> {
    let mut shared = Vec::new();
    if let Some(config) = config {
        shared.extend(["--config".into(), config.to_string_lossy().into_owned()]);
    }
    if let Some(data) = data {
        shared.extend(["--data".into(), data.to_string_lossy().into_owned()]);
    }
    let logs = data_dir::logs(&cluster.data_dir);
    let mut plans = Vec::new();
    for start in starts {
        let service = match start.group {
            GroupName::Catalog => "catalog",
            GroupName::Orders => "order",
        };
        let mut args = ["serve", service, "--id", &start.id.to_string()]
            .map(String::from)
            .to_vec();
        if !start.configured {
            args.extend(["--addr".to_string(), start.addr.clone()]);
        }
        let name = format!("{}-{}", start.group.as_str(), start.id);
        let dir = Some(cluster.replica_dir(start.group, start.id));
        plans.push(child_plan(&logs, name, &args, &shared, &start.addr, dir));
    }
    for (k, addr) in (1..).zip(frontends) {
        let name = match k {
            1 => "frontend".to_string(),
            k => format!("frontend-{k}"),
        };
        let args = ["serve", "frontend", "--addr", addr].map(String::from);
        plans.push(child_plan(&logs, name, &args, &shared, addr, None));
    }
    plans
}

/// The plan of child `name`: `pygmy <args> <shared>`, logging to `<logs>/<name>.log`.
fn child_plan(
    logs: &Path,
    name: String,
    args: &[String],
    shared: &[String],
    addr: &str,
    replica_dir: Option<PathBuf>,
) -> Plan {
    Plan {
        log: logs.join(format!("{name}.log")),
        name,
        args: args.iter().chain(shared).cloned().collect(),
        addr: addr.to_string(),
        replica_dir,
    }
}

/// The environment added for every child: this process as parent to watch, and with `cache`
/// off, the cache turned off. Tokens are not passed (the environment of a process is readable
/// by its user's other processes and inherited by its children): children read them where the
/// launcher did, from the configuration or `<data_dir>/tokens.toml` (mode 0600).
pub(crate) fn child_envs(cache: bool) -> Vec<(&'static str, String)> {
    let mut envs = vec![(ENV_PARENT_PID, std::process::id().to_string())];
    if !cache {
        envs.push((ENV_CACHE_ENABLED, "false".into()));
    }
    envs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_replica_and_frontend_gets_a_named_plan() {
        // Goal: the children `up` and `chaos` start are one per replica, then one per
        // frontend, named as the nemesis and the summary name them, each logging under
        // `<data_dir>/logs` and passing `--config`/`--data` on. Method: the embedded
        // configuration with a data directory override, two frontends.
        let overrides = runtime::ClusterOverrides {
            data_dir: Some("/srv/pygmy".into()),
            ..runtime::ClusterOverrides::default()
        };
        let cluster = Cluster::load(None, &overrides).unwrap();
        let frontends = ["127.0.0.1:8080".to_string(), "127.0.0.1:8081".to_string()];
        let starts = super::super::roster::roster(&cluster, true).unwrap().starts;
        let plans = plans(
            None,
            Some(Path::new("/srv/pygmy")),
            &cluster,
            &starts,
            &frontends,
        );
        let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "catalog-1",
                "catalog-2",
                "catalog-3",
                "orders-1",
                "orders-2",
                "orders-3",
                "frontend",
                "frontend-2"
            ]
        );
        assert_eq!(
            plans[4].args,
            ["serve", "order", "--id", "2", "--data", "/srv/pygmy"]
        );
        assert_eq!(plans[4].addr, cluster.orders[1]);
        assert_eq!(
            plans[4].replica_dir.as_deref(),
            Some(Path::new("/srv/pygmy/orders-2"))
        );
        assert_eq!(
            plans[7].args[..4],
            ["serve", "frontend", "--addr", "127.0.0.1:8081"]
        );
        assert_eq!(plans[7].replica_dir, None);
        assert_eq!(plans[7].log, Path::new("/srv/pygmy/logs/frontend-2.log"));
    }

    #[test]
    fn children_learn_their_parent_and_never_a_token() {
        let with_cache = child_envs(true);
        assert_eq!(
            with_cache,
            [(ENV_PARENT_PID, std::process::id().to_string())]
        );
        let without = child_envs(false);
        assert!(without.contains(&(ENV_CACHE_ENABLED, "false".into())));
        assert!(without.iter().all(|(k, _)| !k.contains("TOKEN")));
    }

    #[test]
    fn a_successor_is_another_replica_of_the_same_group_joining_it() {
        // Goal: the replica that replaces another (chaos's `member` fault) keeps its service and
        // shared flags, takes its own id, address, directory and log, and joins; so does the
        // successor of a successor, with each flag once.
        let cluster = Cluster::load(None, &runtime::ClusterOverrides::default()).unwrap();
        let starts = super::super::roster::roster(&cluster, true).unwrap().starts;
        let data = Path::new("/srv/pygmy");
        let plans = plans(None, Some(data), &cluster, &starts, &[]);
        let first = plans[1].successor(4, "127.0.0.1:9104").unwrap();
        assert_eq!(first.name, "catalog-4");
        assert_eq!(first.addr, "127.0.0.1:9104");
        let dir = cluster.replica_dir(GroupName::Catalog, 4);
        assert_eq!(first.replica_dir.as_deref(), Some(dir.as_path()));
        assert!(first.log.ends_with("catalog-4.log"), "{:?}", first.log);
        let second = first.successor(5, "127.0.0.1:9105").unwrap();
        assert_eq!(
            second.args,
            [
                "serve",
                "catalog",
                "--data",
                "/srv/pygmy",
                "--id",
                "5",
                "--addr",
                "127.0.0.1:9105",
                "--join"
            ]
        );
    }
}
