//! The CPU time and memory of the cluster's processes, read from `/proc`: which processes listen
//! on the cluster's ports, their user and system time, and their resident memory, so that
//! `pygmy bench` can report CPU per request beside throughput and latency, and each replica's
//! memory at its checkpoints.
//!
//! Linux only; elsewhere, or when no process is found, the bench reports no CPU or memory
//! figure.

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
        let spent = self.spent_ticks();
        CpuUse {
            processes: self.pids.len(),
            cpu_s: spent as f64 / TICKS_PER_SECOND as f64,
            per_request_us: us_per_request(spent, requests),
        }
    }

    /// The CPU they spent since [`ClusterCpu::start`], in clock ticks (10 ms each).
    pub(crate) fn spent_ticks(&self) -> u64 {
        ticks(&self.pids).saturating_sub(self.ticks_at_start)
    }
}

/// `ticks` of CPU per request of `requests`, in microseconds; 0 without requests.
pub(crate) fn us_per_request(ticks: u64, requests: u64) -> u64 {
    (ticks * 1_000_000 / TICKS_PER_SECOND)
        .checked_div(requests)
        .unwrap_or(0)
}

/// The one process listening on `port` here; `None` if none does, or several do (which one a
/// figure would belong to is then unknown).
pub(crate) fn listener_pid(port: u16) -> Option<u32> {
    let inodes: BTreeSet<u64> = listening_inodes(&BTreeSet::from([port]))
        .into_values()
        .flatten()
        .collect();
    match owners(&inodes)[..] {
        [pid] => Some(pid),
        _ => None,
    }
}

/// The command name of process `pid` (`/proc/<pid>/comm`, at most 15 bytes).
pub(crate) fn command_name(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string())
}

/// Resident memory of process `pid` (`VmRSS`), in bytes; `None` once it is gone.
pub(crate) fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_rss_bytes(&status)
}

/// The `VmRSS:   1234 kB` line of a `/proc/<pid>/status`, in bytes.
fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1_024)
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
    fn resident_memory_is_read_from_the_vm_rss_line() {
        // Goal: VmRSS in bytes; no line, or a malformed one, gives nothing.
        let status = "Name:\tpygmy\nVmPeak:\t  90000 kB\nVmRSS:\t   61440 kB\nThreads:\t9\n";
        assert_eq!(vm_rss_bytes(status), Some(61_440 * 1_024));
        assert_eq!(vm_rss_bytes("Name:\tkthreadd\n"), None);
        assert_eq!(vm_rss_bytes("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn the_listener_of_a_port_is_this_process_with_its_memory() {
        // Goal: on Linux, the one process listening on a port is found, named and measured.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !cfg!(target_os = "linux") {
            return;
        }
        let pid = listener_pid(port).expect("this process listens on the port");
        assert_eq!(pid, std::process::id());
        assert!(command_name(pid).is_some_and(|name| !name.is_empty()));
        assert!(resident_bytes(pid).is_some_and(|bytes| bytes > 1_024 * 1_024));
        drop(listener);
        assert_eq!(
            listener_pid(port),
            None,
            "nobody listens on the port any more"
        );
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
