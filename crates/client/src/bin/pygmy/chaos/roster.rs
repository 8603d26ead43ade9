//! The replicas of each group during a run: the configured ones at first, then what the
//! `member` fault made of them (a replica replaced by a new one under a new id and address).
//! The nemesis aims at them and the final reads go to them. Names are `<group>-<id>`, as the
//! children are named.

use runtime::{Cluster, GroupName};

/// Each group's replicas: `(id, host:port)`, in id order.
#[derive(Debug, Clone)]
pub(crate) struct Roster {
    catalog: Vec<(u64, String)>,
    orders: Vec<(u64, String)>,
    /// The next id to give, per group (catalog, orders): ids are never given twice.
    next: (u64, u64),
}

impl Roster {
    /// The replicas `cluster` configures.
    pub(crate) fn configured(cluster: &Cluster) -> Self {
        let of = |group| -> Vec<(u64, String)> {
            (1..).zip(cluster.replicas(group).iter().cloned()).collect()
        };
        let (catalog, orders) = (of(GroupName::Catalog), of(GroupName::Orders));
        let next = (catalog.len() as u64 + 1, orders.len() as u64 + 1);
        Self {
            catalog,
            orders,
            next,
        }
    }

    /// `(id, host:port)` of every replica of `group`.
    pub(crate) fn replicas(&self, group: GroupName) -> &[(u64, String)] {
        match group {
            GroupName::Catalog => &self.catalog,
            GroupName::Orders => &self.orders,
        }
    }

    /// The children's names of `group`'s replicas.
    pub(crate) fn names(&self, group: GroupName) -> Vec<String> {
        self.replicas(group)
            .iter()
            .map(|(id, _)| format!("{}-{id}", group.as_str()))
            .collect()
    }

    /// The addresses of `group`'s replicas.
    pub(crate) fn addrs(&self, group: GroupName) -> Vec<String> {
        self.replicas(group)
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// The id the next new replica of `group` gets (taken: the following call gives another).
    pub(crate) fn take_id(&mut self, group: GroupName) -> u64 {
        let next = match group {
            GroupName::Catalog => &mut self.next.0,
            GroupName::Orders => &mut self.next.1,
        };
        *next += 1;
        *next - 1
    }

    /// Replica `old` of `group` is replaced by replica `new` at `addr`.
    pub(crate) fn replace(&mut self, group: GroupName, old: u64, new: u64, addr: String) {
        let replicas = match group {
            GroupName::Catalog => &mut self.catalog,
            GroupName::Orders => &mut self.orders,
        };
        replicas.retain(|(id, _)| *id != old);
        replicas.push((new, addr));
        replicas.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_replica_gives_way_to_a_new_id() {
        // Goal: the roster starts as configured; a replacement drops the old id and adds the
        // new one (names and addresses follow); ids are never given twice.
        let cluster = Cluster::load(None, &runtime::ClusterOverrides::default()).unwrap();
        let mut roster = Roster::configured(&cluster);
        assert_eq!(
            roster.names(GroupName::Catalog),
            ["catalog-1", "catalog-2", "catalog-3"]
        );
        let id = roster.take_id(GroupName::Catalog);
        assert_eq!(id, 4);
        roster.replace(GroupName::Catalog, 2, id, "127.0.0.1:9999".into());
        assert_eq!(
            roster.names(GroupName::Catalog),
            ["catalog-1", "catalog-3", "catalog-4"]
        );
        assert_eq!(roster.addrs(GroupName::Catalog)[2], "127.0.0.1:9999");
        assert_eq!(roster.take_id(GroupName::Catalog), 5);
        assert_eq!(roster.take_id(GroupName::Orders), 4);
        assert_eq!(roster.names(GroupName::Orders).len(), 3);
    }
}
