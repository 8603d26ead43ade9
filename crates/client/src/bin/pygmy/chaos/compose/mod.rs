//! `pygmy chaos --compose FILE`: the cluster under test as a Compose project of its own (its
//! own name, containers, network and volumes, so a cluster the user runs from the same file is
//! untouched), created fresh, faulted with `docker kill`/`start`, `pause`/`unpause` and
//! iptables cuts ([`netcut`]), and removed afterwards (kept, stopped, when a check failed).
//!
//! What the run needs of the file, which the repository's `docker-compose.yml` does: every
//! replica's service is named as the host of its address in the configuration
//! (`catalog-1:8101`); the frontends are the services named `frontend-N`, each publishing its
//! port 8080 on `127.0.0.1:${PYGMY_FRONTEND_N_PORT}` (the run picks free ports); every
//! container reads the configuration from `$PYGMY_CONFIG` and the tokens from its environment.

mod create;
mod dns;
mod docker;
mod netcut;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use runtime::{Cluster, GroupName};

pub(crate) use dns::{ContainerDns, SharedDns};
use docker::{docker, Compose};

use crate::chaos::partition::Cut;

/// The container port every frontend listens on.
const FRONTEND_PORT: &str = "8080";

/// A running Compose project under test.
pub(crate) struct Project {
    compose: Compose,
    /// Nemesis name (`catalog-1`, `orders-2`, `frontend-1`) -> container id.
    containers: BTreeMap<String, String>,
    dns: Arc<ContainerDns>,
    /// The configuration the containers run with, tokens filled; replica addresses are
    /// service names, resolved by [`Project::dns`].
    cluster: Cluster,
    /// `(name, host:port)` of every frontend, as published on the host's loopback.
    frontends: Vec<(String, String)>,
    /// Cuts in place, to be put again on a restarted peer's new address.
    cuts: Vec<Cut>,
    /// Where the run keeps the configuration and the containers' logs.
    dir: PathBuf,
}

impl Project {
    /// Creates the project `name` from `file` (a name in use is refused: its data is not this
    /// run's to delete), waits until every container is healthy, reads the configuration the
    /// containers run with; `dir` receives it and, later, their logs. A project that does not
    /// come up is stopped and kept for a look, with the command that removes it.
    ///
    /// # Errors
    /// Docker or Compose is missing, the project does not come up healthy, or its configuration
    /// cannot be read.
    pub(crate) async fn up(file: &Path, name: &str, dir: &Path) -> Result<Project> {
        let created = create::Created::up(file, name).await?;
        match Self::attach(&created, dir).await {
            Ok(project) => Ok(project),
            Err(e) => {
                let stopped = created.compose.run_long(&["stop"]).await;
                eprintln!(
                    "pygmy chaos: the project did not come up; {}; remove it with: {}",
                    if stopped.is_ok() {
                        "kept, stopped"
                    } else {
                        "kept"
                    },
                    created.compose.shown("down -v")
                );
                Err(e)
            }
        }
    }

    /// The project `created`, once healthy, with the configuration its containers run with.
    async fn attach(created: &create::Created, dir: &Path) -> Result<Project> {
        let compose = &created.compose;
        let mut by_service = BTreeMap::new();
        for s in &created.services {
            let id = compose.run(&["ps", "-q", s]).await?;
            if id.is_empty() {
                bail!("service {s} has no container after `up`");
            }
            by_service.insert(s.clone(), id);
        }
        create::wait_healthy(compose, &by_service).await?;
        let frontend_services: Vec<&String> = created
            .services
            .iter()
            .filter(|s| frontend_number(s).is_some())
            .collect();
        let cluster = create::read_cluster(&by_service[frontend_services[0]], dir).await?;
        let mut containers = BTreeMap::new();
        for group in [GroupName::Catalog, GroupName::Orders] {
            for (id, addr) in (1..).zip(cluster.replicas(group)) {
                let service = host_of(addr);
                let container = by_service.get(service).with_context(|| {
                    format!("{addr} of the configuration names no service of the compose file")
                })?;
                containers.insert(format!("{}-{id}", group.as_str()), container.clone());
            }
        }
        let mut frontends = Vec::new();
        for s in frontend_services {
            let published = compose.run(&["port", s, FRONTEND_PORT]).await?;
            containers.insert(s.clone(), by_service[s].clone());
            frontends.push((s.clone(), published));
        }
        let dns = Arc::new(ContainerDns::new(
            by_service
                .into_iter()
                .filter(|(s, _)| frontend_number(s).is_none())
                .collect(),
        ));
        Ok(Project {
            compose: compose.clone(),
            containers,
            dns,
            cluster,
            frontends,
            cuts: Vec::new(),
            dir: dir.to_path_buf(),
        })
    }

    /// The configuration the containers run with (replica addresses are service names).
    pub(crate) fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// `(name, host:port)` of every frontend.
    pub(crate) fn frontends(&self) -> &[(String, String)] {
        &self.frontends
    }

    /// The resolver of the replicas' service names.
    pub(crate) fn dns(&self) -> Arc<ContainerDns> {
        self.dns.clone()
    }

    /// Checks that partitions can be made here: iptables in the first container's namespace.
    ///
    /// # Errors
    /// They cannot (not root, no nsenter or iptables, a remote Docker engine).
    pub(crate) async fn check_partitions(&self) -> Result<()> {
        let (_, container) = self
            .containers
            .iter()
            .next()
            .context("the project has no container")?;
        netcut::in_namespace(container, "iptables -w -S >/dev/null").await.context(
            "partitions cannot be made here (leave isolate, split, oneway and frontend-cut out of --faults)",
        )
    }

    fn container(&self, name: &str) -> Result<&str> {
        self.containers
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("no container {name} in the project"))
    }

    /// SIGKILL to `name`'s container.
    pub(crate) async fn kill(&mut self, name: &str) -> Result<()> {
        docker(&["kill", self.container(name)?]).await.map(drop)
    }

    /// Starts `name`'s container again; it may come back on another address, so the cuts in
    /// place are put again.
    pub(crate) async fn restart(&mut self, name: &str) -> Result<()> {
        docker(&["start", self.container(name)?]).await?;
        self.dns.forget(self.service_of(name));
        for cut in self.cuts.clone() {
            if cut.from.iter().any(|n| n == name) {
                self.apply(&cut).await?;
            }
        }
        Ok(())
    }

    /// Freezes `name`'s container (`docker pause`).
    pub(crate) async fn pause(&mut self, name: &str) -> Result<()> {
        docker(&["pause", self.container(name)?]).await.map(drop)
    }

    /// Thaws `name`'s container.
    pub(crate) async fn resume(&mut self, name: &str) -> Result<()> {
        docker(&["unpause", self.container(name)?]).await.map(drop)
    }

    /// The service name the resolver knows `name` by (the host of a replica's address).
    fn service_of<'n>(&'n self, name: &'n str) -> &'n str {
        let replica = [GroupName::Catalog, GroupName::Orders]
            .into_iter()
            .find_map(|group| {
                let id: usize = name
                    .strip_prefix(group.as_str())?
                    .strip_prefix('-')?
                    .parse()
                    .ok()?;
                self.cluster.replicas(group).get(id.checked_sub(1)?)
            });
        replica.map_or(name, |addr| host_of(addr))
    }

    async fn address(&self, name: &str) -> Result<std::net::IpAddr> {
        if frontend_number(name).is_some() {
            return dns::container_ip(self.container(name)?).await;
        }
        self.dns.lookup(self.service_of(name)).await
    }

    async fn apply(&self, cut: &Cut) -> Result<()> {
        let mut peers = Vec::new();
        for name in &cut.from {
            // A peer that is down has no address; it is cut when it restarts.
            if let Ok(ip) = self.address(name).await {
                peers.push(ip);
            }
        }
        let script = netcut::cut_script(&peers, cut.one_way);
        for name in &cut.side {
            netcut::in_namespace(self.container(name)?, &script).await?;
        }
        Ok(())
    }

    /// Makes `cut`.
    pub(crate) async fn cut(&mut self, cut: &Cut) -> Result<()> {
        self.cuts.push(cut.clone());
        self.apply(cut).await
    }

    /// Heals `cut`: every rule in its side's namespaces goes.
    pub(crate) async fn heal(&mut self, cut: &Cut) -> Result<()> {
        self.cuts.retain(|c| c != cut);
        for name in &cut.side {
            netcut::in_namespace(self.container(name)?, &netcut::heal_script()).await?;
        }
        Ok(())
    }

    /// Writes every container's log to `<dir>/logs/<name>.log`; that directory.
    ///
    /// # Errors
    /// A log cannot be read or written.
    pub(crate) async fn save_logs(&self) -> Result<PathBuf> {
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        for (name, container) in &self.containers {
            let output = tokio::process::Command::new("docker")
                .args(["logs", container])
                .output()
                .await
                .context("cannot run docker logs")?;
            let mut text = output.stdout;
            text.extend_from_slice(&output.stderr);
            let path = logs.join(format!("{name}.log"));
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(logs)
    }

    /// Removes the project (containers, network, volumes); with `keep`, only stops it and says
    /// how to look at it and remove it.
    pub(crate) async fn finish(self, keep: bool) {
        let done = if keep {
            let stopped = self.compose.run_long(&["stop"]).await;
            if stopped.is_ok() {
                eprintln!(
                    "pygmy chaos: compose project {} kept, stopped (its volumes hold the replicas' data; README \"Containers\" says how to inspect them); remove it with: {}",
                    self.compose.project(),
                    self.compose.shown("down -v")
                );
            }
            stopped
        } else {
            self.compose
                .run_long(&["down", "-v", "--remove-orphans"])
                .await
        };
        if let Err(e) = done {
            eprintln!("pygmy chaos: {e:#}");
        }
    }
}

/// `N` of a service named `frontend-N`.
pub(crate) fn frontend_number(service: &str) -> Option<u16> {
    service.strip_prefix("frontend-")?.parse().ok()
}

/// `catalog-1` of `catalog-1:8101`.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_read_off_addresses_and_frontend_names() {
        assert_eq!(host_of("catalog-1:8101"), "catalog-1");
        assert_eq!(host_of("catalog-1"), "catalog-1");
        assert_eq!(frontend_number("frontend-2"), Some(2));
        assert_eq!(frontend_number("frontend"), None);
        assert_eq!(frontend_number("orders-1"), None);
    }
}
