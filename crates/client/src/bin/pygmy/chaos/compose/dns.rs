//! Compose service names as the host resolves them: the address of the service's container on
//! the project's network, asked of the Docker engine. The replicas' addresses in `cluster.toml`
//! are service names (`catalog-1:8101`), which only the containers' own DNS knows; the checker
//! and the nemesis read the replicas by these names through this resolver.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::docker::docker;

/// Service name -> container, with the addresses last read.
#[derive(Debug, Default)]
pub(crate) struct ContainerDns {
    /// Service name -> container id.
    containers: BTreeMap<String, String>,
    /// Service name -> its container's address, until the container restarts.
    known: Mutex<BTreeMap<String, IpAddr>>,
}

impl ContainerDns {
    /// A resolver of `containers` (service name -> container id).
    pub(crate) fn new(containers: BTreeMap<String, String>) -> Self {
        Self {
            containers,
            known: Mutex::new(BTreeMap::new()),
        }
    }

    /// Forgets the address of `service`: its container restarted and may have another.
    pub(crate) fn forget(&self, service: &str) {
        self.lock().remove(service);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, IpAddr>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The address of `service`'s container now.
    ///
    /// # Errors
    /// No such service, or its container has no address (it is stopped).
    pub(crate) async fn lookup(&self, service: &str) -> anyhow::Result<IpAddr> {
        if let Some(ip) = self.lock().get(service) {
            return Ok(*ip);
        }
        let container = self
            .containers
            .get(service)
            .ok_or_else(|| anyhow::anyhow!("no service {service} in the compose project"))?;
        let ip = container_ip(container).await?;
        self.lock().insert(service.to_string(), ip);
        Ok(ip)
    }
}

/// The address of `container` on its (only) network.
///
/// # Errors
/// It has none (it is stopped), or `docker inspect` fails.
pub(crate) async fn container_ip(container: &str) -> anyhow::Result<IpAddr> {
    let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}";
    let text = docker(&["inspect", "--format", format, container]).await?;
    let first = text.split_whitespace().next().ok_or_else(|| {
        anyhow::anyhow!("container {container} has no network address (is it running?)")
    })?;
    Ok(first.parse()?)
}

/// reqwest's view: a resolver shared by every HTTP client of the run.
#[derive(Debug, Clone)]
pub(crate) struct SharedDns(pub(crate) Arc<ContainerDns>);

impl Resolve for SharedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let dns = self.0.clone();
        let service = name.as_str().to_string();
        Box::pin(async move {
            let ip = dns.lookup(&service).await?;
            let addrs: Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
