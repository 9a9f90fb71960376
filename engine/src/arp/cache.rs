//! The ARP table: bounded entries keyed by IPv4 address, each with one deadline kept in
//! an ordered index so the earliest is found without scanning.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::time::Instant;
use crate::wire::EthernetAddress;

pub(super) enum State {
    /// Being resolved: `retries_done` retransmissions so far, packets waiting.
    Pending { retries_done: u32, queue: VecDeque<Vec<u8>> },
    /// Known mapping; `refresh_sent` once a refresh probe has been queued.
    Resolved { mac: EthernetAddress, refresh_sent: bool },
}

pub(super) struct Entry {
    pub state: State,
    /// A request for this entry waits in the resolver's transmit queue.
    pub tx_queued: bool,
    /// Pending: next retransmission or failure. Resolved: expiry. Private so it only
    /// changes through [`Table::set_deadline`], which keeps the index in step.
    deadline: Instant,
}

impl Entry {
    pub fn new(state: State) -> Self {
        Entry { state, tx_queued: false, deadline: Instant::FAR }
    }
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

pub(super) struct Table {
    entries: HashMap<Ipv4Addr, Entry>,
    timers: BTreeSet<(Instant, Ipv4Addr)>,
    capacity: usize,
}

impl Table {
    pub fn new(capacity: usize) -> Self {
        Table { entries: HashMap::new(), timers: BTreeSet::new(), capacity }
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    pub fn get(&self, ip: Ipv4Addr) -> Option<&Entry> {
        self.entries.get(&ip)
    }

    pub fn get_mut(&mut self, ip: Ipv4Addr) -> Option<&mut Entry> {
        self.entries.get_mut(&ip)
    }

    /// Inserts (or replaces) the entry for `ip` with the given deadline. The caller
    /// checks room first; this never exceeds capacity by more than the replaced entry.
    pub fn insert(&mut self, ip: Ipv4Addr, mut entry: Entry, deadline: Instant) {
        self.remove(ip);
        entry.deadline = deadline;
        self.timers.insert((deadline, ip));
        self.entries.insert(ip, entry);
    }

    pub fn remove(&mut self, ip: Ipv4Addr) -> Option<Entry> {
        let entry = self.entries.remove(&ip)?;
        self.timers.remove(&(entry.deadline, ip));
        Some(entry)
    }

    pub fn set_deadline(&mut self, ip: Ipv4Addr, deadline: Instant) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            self.timers.remove(&(entry.deadline, ip));
            entry.deadline = deadline;
            self.timers.insert((deadline, ip));
        }
    }

    /// The earliest deadline of any entry.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// An entry whose deadline is at or before `now`, earliest first. The caller must
    /// remove it or move its deadline past `now`, or it is returned again.
    pub fn due(&self, now: Instant) -> Option<Ipv4Addr> {
        match self.timers.first() {
            Some(&(t, ip)) if t <= now => Some(ip),
            _ => None,
        }
    }

    /// Removes the resolved entry closest to expiry (the least recently confirmed).
    /// Returns its address, or `None` when every entry is pending.
    pub fn evict_oldest_resolved(&mut self) -> Option<Ipv4Addr> {
        let victim = self
            .timers
            .iter()
            .map(|&(_, ip)| ip)
            .find(|ip| matches!(self.entries.get(ip), Some(Entry { state: State::Resolved { .. }, .. })))?;
        self.remove(victim);
        Some(victim)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, &Entry)> + '_ {
        self.entries.iter().map(|(&ip, e)| (ip, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(b: u8) -> Entry {
        Entry::new(State::Resolved { mac: EthernetAddress([2, 0, 0, 0, 0, b]), refresh_sent: false })
    }
    fn pending() -> Entry {
        Entry::new(State::Pending { retries_done: 0, queue: VecDeque::new() })
    }
    fn ip(b: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, b)
    }

    #[test]
    fn index_follows_deadlines() {
        let mut t = Table::new(4);
        t.insert(ip(1), resolved(1), Instant::from_secs(5));
        t.insert(ip(2), pending(), Instant::from_secs(3));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(3)));
        t.set_deadline(ip(2), Instant::from_secs(9));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(5)));
        assert_eq!(t.due(Instant::from_secs(4)), None);
        assert_eq!(t.due(Instant::from_secs(5)), Some(ip(1)));
        t.remove(ip(1));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(9)));
        // Replacing an entry drops its old timer.
        t.insert(ip(2), resolved(2), Instant::from_secs(20));
        assert_eq!(t.next_deadline(), Some(Instant::from_secs(20)));
        t.remove(ip(2));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn eviction_skips_pending() {
        let mut t = Table::new(3);
        t.insert(ip(1), pending(), Instant::from_secs(1));
        t.insert(ip(2), resolved(2), Instant::from_secs(50));
        t.insert(ip(3), resolved(3), Instant::from_secs(40));
        assert!(t.is_full());
        assert_eq!(t.evict_oldest_resolved(), Some(ip(3)));
        assert_eq!(t.evict_oldest_resolved(), Some(ip(2)));
        assert_eq!(t.evict_oldest_resolved(), None);
        assert!(t.get(ip(1)).is_some());
    }
}
