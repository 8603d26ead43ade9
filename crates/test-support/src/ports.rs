//! Free TCP ports on 127.0.0.1.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

/// Ports already handed out by this process, never handed out twice.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free TCP port on 127.0.0.1 (bind port 0, read it, release it).
///
/// A port is never returned twice by one process, so the ports of one [`crate::ClusterDir`]
/// (and of several in parallel tests) are distinct.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("cannot bind a TCP port on 127.0.0.1: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read the bound port: {e}"))
            .port();
        drop(listener);
        let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no fresh free port on 127.0.0.1 after 1000 attempts")
}

/// A free port `p` whose next port `p + 1` is free too, both reserved like [`free_port`]'s: for
/// a frontend whose `pygmy up --frontends 2` puts the second frontend on the next port by itself.
pub fn free_port_pair() -> u16 {
    for _ in 0..1000 {
        let port = free_port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", next)).is_err() {
            continue;
        }
        let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
        if given.get_or_insert_with(HashSet::new).insert(next) {
            return port;
        }
    }
    panic!("no two consecutive free ports on 127.0.0.1 after 1000 attempts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_two_bindable_ports_never_handed_out_again() {
        let port = free_port_pair();
        let _first = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let _next = TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
        let later: HashSet<u16> = (0..20).map(|_| free_port()).collect();
        assert!(!later.contains(&port) && !later.contains(&(port + 1)));
    }

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert_ne!(port, 0);
            TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("port {port} is not usable: {e}"));
        }
    }
}
