//! Partitions carried out: iptables rules in a container's own network namespace, entered from
//! the Docker host with `nsenter` (root on the host; nothing is installed in the image, and the
//! containers keep no extra capability). Every rule sits in one chain, `PYGMY_CHAOS`, hooked
//! into INPUT and OUTPUT, so that healing is one flush and touches nothing Docker put there.

use std::net::IpAddr;

use anyhow::{Context as _, Result};
use tokio::process::Command;

use super::docker::docker;

/// The chain holding every rule of the nemesis.
const CHAIN: &str = "PYGMY_CHAOS";

/// The shell script that cuts the namespace it runs in off from `peers`: both ways, or (with
/// `one_way`) only this side's own connections to them, established ones included, while
/// theirs to this side pass (conntrack's ORIGINAL direction is the side that opened them).
pub(crate) fn cut_script(peers: &[IpAddr], one_way: bool) -> String {
    let mut script = format!(
        "set -e\n\
         iptables -w -N {CHAIN} 2>/dev/null || true\n\
         iptables -w -C INPUT -j {CHAIN} 2>/dev/null || iptables -w -I INPUT -j {CHAIN}\n\
         iptables -w -C OUTPUT -j {CHAIN} 2>/dev/null || iptables -w -I OUTPUT -j {CHAIN}\n"
    );
    for ip in peers {
        if one_way {
            script.push_str(&format!(
                "iptables -w -A {CHAIN} -d {ip} -m conntrack --ctdir ORIGINAL -j DROP\n"
            ));
        } else {
            script.push_str(&format!("iptables -w -A {CHAIN} -s {ip} -j DROP\n"));
            script.push_str(&format!("iptables -w -A {CHAIN} -d {ip} -j DROP\n"));
        }
    }
    script
}

/// The shell script that heals every cut of the namespace it runs in.
pub(crate) fn heal_script() -> String {
    format!("iptables -w -F {CHAIN} 2>/dev/null || true\n")
}

/// Runs `script` with `sh` in the network namespace of `container` (its mount namespace and
/// programs stay the host's).
///
/// # Errors
/// The container is not running, or `nsenter`/`iptables` fail (not root, not installed).
pub(crate) async fn in_namespace(container: &str, script: &str) -> Result<()> {
    let pid = docker(&["inspect", "--format", "{{.State.Pid}}", container]).await?;
    if pid == "0" || pid.is_empty() {
        anyhow::bail!("container {container} is not running");
    }
    let output = Command::new("nsenter")
        .args(["--target", &pid, "--net", "--", "sh", "-c", script])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run nsenter (util-linux) on the Docker host")?;
    if !output.status.success() {
        anyhow::bail!(
            "iptables in the network namespace of {container} failed ({}): {} (partitions need root on the Docker host, nsenter and iptables)",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_drops_both_ways_and_a_one_way_cut_only_this_sides_connections() {
        // Goal: the rules say what the fault claims. Method: the scripts' lines for two peers.
        let peers: Vec<IpAddr> = vec!["172.18.0.3".parse().unwrap(), "172.18.0.4".parse().unwrap()];
        let both = cut_script(&peers, false);
        assert!(both.contains("-A PYGMY_CHAOS -s 172.18.0.3 -j DROP"));
        assert!(both.contains("-A PYGMY_CHAOS -d 172.18.0.4 -j DROP"));
        assert!(
            both.contains("-I INPUT -j PYGMY_CHAOS") && both.contains("-I OUTPUT -j PYGMY_CHAOS")
        );
        assert!(!both.contains("conntrack"));
        let one = cut_script(&peers, true);
        assert!(one.contains("-A PYGMY_CHAOS -d 172.18.0.3 -m conntrack --ctdir ORIGINAL -j DROP"));
        assert!(
            !one.contains(" -s "),
            "their requests to this side pass: {one}"
        );
        assert!(heal_script().contains("-F PYGMY_CHAOS"));
    }
}
