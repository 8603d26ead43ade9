//! The CPU time the cluster's processes spend, read from `/proc`: which processes listen on the
//! cluster's ports, and their user and system time, so that `pygmy bench` can report CPU per
//! request beside throughput and latency.
//!
//! Linux only; elsewhere, or when no process is found, the bench reports no CPU figure.

use std::collections::{BTreeMap, BTreeSet};

use client::bench::CpuUse;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, fixed at 100 by the Linux ABI).
const TICKS_PER_SECOND: u64 = 100;
/// The `st` field of a listening socket in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// The processes listening on a set of ports, and their CPU time when they were found.
#[derive(Debug)]
pub(crate) struct ClusterCpu {
    pids: Vec<u32>,
    ticks_at_start: u64,
}

impl ClusterCpu {
    /// Finds the processes listening on `ports` and reads their CPU time; `None` unless every
    /// port has a listener here (not Linux, the cluster runs elsewhere or in containers whose
    /// ports a proxy publishes, or a process is down): a partial sum would mislead.
    pub(crate) fn start(ports: &BTreeSet<u16>) -> Option<Self> {
        let listening = listening_inodes(ports);
        if listening.len() < ports.len() {
            return None;
        }
        let inodes: BTreeSet<u64> = listening.into_values().flatten().collect();
        let pids = owners(&inodes);
        if pids.is_empty() {
            return None;
        }
        let ticks_at_start = ticks(&pids);
        Some(Self {
            pids,
            ticks_at_start,
        })
    }

    /// The CPU they spent since [`ClusterCpu::start`], over `requests` requests.
    pub(crate) fn finish(self, requests: u64) -> CpuUse {
        let spent = ticks(&self.pids).saturating_sub(self.ticks_at_start);
        CpuUse {
            processes: self.pids.len(),
            cpu_s: spent as f64 / TICKS_PER_SECOND as f64,
            per_request_us: (spent * 1_000_000 / TICKS_PER_SECOND)
                .checked_div(requests)
                .unwrap_or(0),
        }
    }
}

/// Socket inodes listening on each of `ports` that has a listener, over IPv4 and IPv6.
fn listening_inodes(ports: &BTreeSet<u16>) -> BTreeMap<u16, Vec<u64>> {
    let mut found: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
    let tables = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok());
    for table in tables {
        for (port, inode) in table.lines().skip(1).filter_map(listen_entry) {
            if ports.contains(&port) {
                found.entry(port).or_default().push(inode);
            }
        }
    }
    found
}

/// The port and socket inode of one `/proc/net/tcp` line, if it is a listening socket.
fn listen_entry(line: &str) -> Option<(u16, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
    if *state != TCP_LISTEN {
        return None;
    }
    let port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
    Some((port, inode.parse().ok()?))
}

/// The processes holding one of the socket `inodes`.
fn owners(inodes: &BTreeSet<u64>) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let holds_one = |pid: u32| {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.filter_map(Result::ok).any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                socket_inode(&target.to_string_lossy()).is_some_and(|i| inodes.contains(&i))
            })
        })
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| holds_one(*pid))
        .collect()
}

/// The inode of a `socket:[N]` link target.
fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// User plus system time of `pids`, in clock ticks; a process gone counts nothing more.
fn ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| stat_ticks(&stat))
        .sum()
}

/// `utime + stime` of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces
/// and parentheses, so fields are counted after its closing parenthesis.
fn stat_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the line are 12 and 13 after the name (state is field 3).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_proc_net_tcp_lines() {
        // Goal: a listening socket gives its port and inode; a connected one, or junk, nothing.
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 \
                      00000000     0        0 41234 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listen_entry(listen), Some((8080, 41234)));
        let connected = "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 \
                         00000000     0        0 41299 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(listen_entry(connected), None);
        assert_eq!(listen_entry("garbage"), None);
        assert_eq!(socket_inode("socket:[41234]"), Some(41234));
        assert_eq!(socket_inode("pipe:[7]"), None);
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        // Goal: utime + stime, even when the command name holds spaces and parentheses.
        let stat = "4242 (pygmy (x) y) S 1 4242 4242 0 -1 4194560 10 0 0 0 150 37 0 0 20 0 12 0";
        assert_eq!(stat_ticks(stat), Some(187));
        assert_eq!(stat_ticks("no name here"), None);
    }

    #[test]
    fn this_process_is_found_by_its_listening_port() {
        // Goal: on Linux, a process listening on a port is found and measured.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = ClusterCpu::start(&BTreeSet::from([port]));
        if !cfg!(target_os = "linux") {
            return;
        }
        let cpu = found.expect("a listening socket of this process is found on Linux");
        assert_eq!(cpu.pids, vec![std::process::id()]);
        let spent = cpu.finish(10);
        assert_eq!(spent.processes, 1);
        // A port nobody listens on (the one just freed): no partial figure.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let unused = free.local_addr().unwrap().port();
        drop(free);
        assert!(ClusterCpu::start(&BTreeSet::from([port, unused])).is_none());
    }
}
