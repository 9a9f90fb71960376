//! The per-worker ARP resolver: answers requests for our addresses, resolves next hops
//! with retried broadcast requests, queues packets meanwhile, ages and refreshes entries.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::cache::{Entry, State, Table};
use super::{
    is_unicast_host, ArpConfig, ArpCounters, ArpOut, EnqueueResult, EntryInfo, EntryState, Op,
};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// ARP state machine for one worker (see the module docs for the learning rules).
///
/// Bounded: at most `capacity` entries (when full, the resolved entry closest to expiry is
/// evicted; if all are pending, the new packet or mapping is dropped), at most
/// `queue_per_entry` packets per pending entry (the oldest is dropped first: the newest
/// packets, e.g. TCP retransmissions, are the ones worth keeping), and the transmit
/// queue holds at most one request per entry plus one announcement per address.
pub struct ArpResolver {
    mac: EthernetAddress,
    addresses: Vec<Ipv4Addr>,
    config: ArpConfig,
    table: Table,
    /// Entries with a request (first try, retry or refresh probe) to send.
    tx: VecDeque<Ipv4Addr>,
    /// Our addresses with a gratuitous announcement to send.
    announcements: VecDeque<Ipv4Addr>,
    /// Packets whose next hop resolved, with its address.
    released: VecDeque<(EthernetAddress, Vec<u8>)>,
    counters: ArpCounters,
}

impl ArpResolver {
    pub fn new(mac: EthernetAddress, addresses: &[Ipv4Addr], config: ArpConfig) -> Self {
        let mut r = ArpResolver {
            mac,
            addresses: Vec::new(),
            config,
            table: Table::new(config.capacity),
            tx: VecDeque::new(),
            announcements: VecDeque::new(),
            released: VecDeque::new(),
            counters: ArpCounters::default(),
        };
        r.set_addresses(addresses);
        r
    }

    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    pub fn addresses(&self) -> &[Ipv4Addr] {
        &self.addresses
    }

    pub fn config(&self) -> &ArpConfig {
        &self.config
    }

    pub fn counters(&self) -> ArpCounters {
        self.counters
    }

    /// Replaces our addresses (duplicates and non-unicast addresses are skipped). Queued
    /// announcements for addresses no longer ours are cancelled, and table entries for
    /// addresses that became ours are removed (their queued packets count as
    /// `dropped_invalid`).
    pub fn set_addresses(&mut self, addresses: &[Ipv4Addr]) {
        self.addresses.clear();
        for &a in addresses {
            if is_unicast_host(a) && !self.addresses.contains(&a) {
                self.addresses.push(a);
            }
        }
        let ours = &self.addresses;
        self.announcements.retain(|a| ours.contains(a));
        for a in self.addresses.clone() {
            if let Some(dropped) = self.remove_entry(a) {
                self.counters.dropped_invalid += dropped;
            }
        }
    }

    fn is_ours(&self, ip: Ipv4Addr) -> bool {
        self.addresses.contains(&ip)
    }

    /// Queues one gratuitous ARP request per address (RFC 5227 announcement: sender and
    /// target protocol address both ours, target hardware address zero, broadcast).
    /// Replaces announcements still queued from an earlier call.
    pub fn announce(&mut self, now: Instant) {
        let _ = now;
        self.announcements.clear();
        self.announcements.extend(self.addresses.iter().copied());
    }

    /// Handles a received ARP packet (fields as parsed). Returns the reply to send when
    /// it is a request for one of our addresses.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        op: Op,
        sha: EthernetAddress,
        spa: Ipv4Addr,
        tha: EthernetAddress,
        tpa: Ipv4Addr,
    ) -> Option<ArpOut> {
        // The target hardware address carries nothing we act on (often zero or ours).
        let _ = tha;
        match op {
            Op::Request => self.counters.requests_received += 1,
            Op::Reply => self.counters.replies_received += 1,
        }
        self.process(now, op, sha, spa, tpa, true)
    }

    /// Learns from an ARP packet another worker received and shared (typically a reply,
    /// which may answer a request this worker sent, or a request aimed at one of our
    /// addresses). Same learning rules as [`handle_packet`](Self::handle_packet), but
    /// nothing is answered, and only changes to this cache are counted: the receiving
    /// worker counted the packet itself and any reason to ignore it.
    pub fn learn_shared(&mut self, now: Instant, op: Op, sha: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr) {
        self.process(now, op, sha, spa, tpa, false);
    }

    /// The learning rules; `own` when we received the packet (answer it, count drops).
    fn process(
        &mut self,
        now: Instant,
        op: Op,
        sha: EthernetAddress,
        spa: Ipv4Addr,
        tpa: Ipv4Addr,
        own: bool,
    ) -> Option<ArpOut> {
        if !sha.is_unicast() || sha == self.mac {
            self.count(own, |c| &mut c.ignored_invalid);
            return None;
        }
        if spa.is_unspecified() {
            match op {
                // RFC 5227 probe: someone is checking whether tpa is free.
                Op::Request if self.is_ours(tpa) => self.count(own, |c| &mut c.probes_for_our_address),
                Op::Request => self.count(own, |c| &mut c.ignored_not_for_us),
                Op::Reply => self.count(own, |c| &mut c.ignored_invalid),
            }
            return None;
        }
        if !is_unicast_host(spa) {
            self.count(own, |c| &mut c.ignored_invalid);
            return None;
        }
        if self.is_ours(spa) {
            self.count(own, |c| &mut c.address_conflicts);
            return None;
        }
        if spa == tpa {
            // Gratuitous ARP (request or reply) from another host: refresh only.
            if !self.confirm(now, spa, sha) {
                self.count(own, |c| &mut c.ignored_unsolicited);
            }
            return None;
        }
        if !self.is_ours(tpa) {
            self.count(own, |c| &mut c.ignored_not_for_us);
            return None;
        }
        match op {
            Op::Request => {
                // RFC 826 merge, then create: the sender is about to talk to us.
                if !self.confirm(now, spa, sha) {
                    self.learn_new(now, spa, sha);
                }
                if !own {
                    return None;
                }
                self.counters.replies_sent += 1;
                Some(ArpOut { op: Op::Reply, dst_mac: sha, sha: self.mac, spa: tpa, tha: sha, tpa: spa })
            }
            Op::Reply => {
                let solicited = match self.table.get(spa).map(|e| &e.state) {
                    Some(State::Pending { .. }) => true,
                    Some(State::Resolved { refresh_sent, .. }) => *refresh_sent,
                    None => false,
                };
                if solicited {
                    self.confirm(now, spa, sha);
                } else {
                    self.count(own, |c| &mut c.ignored_unsolicited);
                }
                None
            }
        }
    }

    fn count(&mut self, own: bool, counter: fn(&mut ArpCounters) -> &mut u64) {
        if own {
            *counter(&mut self.counters) += 1;
        }
    }

    /// Records `ip` at `mac` if an entry for `ip` exists: completes a pending entry
    /// (releasing its packets) or refreshes a resolved one. Returns whether it existed.
    fn confirm(&mut self, now: Instant, ip: Ipv4Addr, mac: EthernetAddress) -> bool {
        let Some(entry) = self.table.get_mut(ip) else { return false };
        let old = std::mem::replace(&mut entry.state, State::Resolved { mac, refresh_sent: false });
        if entry.tx_queued {
            // A request still waiting to go out is moot now.
            entry.tx_queued = false;
            self.tx.retain(|&a| a != ip);
        }
        match old {
            State::Pending { queue, .. } => {
                self.counters.resolved += 1;
                self.released.extend(queue.into_iter().map(|p| (mac, p)));
            }
            State::Resolved { .. } => self.counters.learned += 1,
        }
        self.table.set_deadline(ip, now + self.config.lifetime);
        true
    }

    /// Creates a resolved entry for `ip` (no entry exists), evicting if need be.
    fn learn_new(&mut self, now: Instant, ip: Ipv4Addr, mac: EthernetAddress) {
        if !self.make_room() {
            self.counters.dropped_table_full += 1;
            return;
        }
        let entry = Entry::new(State::Resolved { mac, refresh_sent: false });
        self.table.insert(ip, entry, now + self.config.lifetime);
        self.counters.learned += 1;
    }

    /// Ensures there is room for one more entry. False when the table is full of
    /// pending entries (or has no capacity at all).
    fn make_room(&mut self) -> bool {
        if !self.table.is_full() {
            return true;
        }
        match self.table.evict_oldest_resolved() {
            Some(ip) => {
                self.forget_tx(ip);
                self.counters.evicted += 1;
                !self.table.is_full()
            }
            None => false,
        }
    }

    /// Removes `ip`'s entry and any request queued for it. Returns the number of
    /// packets that were queued behind it (dropped), or `None` if there was no entry.
    fn remove_entry(&mut self, ip: Ipv4Addr) -> Option<u64> {
        let entry = self.table.remove(ip)?;
        if entry.tx_queued {
            self.forget_tx(ip);
        }
        Some(match entry.state {
            State::Pending { queue, .. } => queue.len() as u64,
            State::Resolved { .. } => 0,
        })
    }

    fn forget_tx(&mut self, ip: Ipv4Addr) {
        self.tx.retain(|&a| a != ip);
    }

    fn queue_request(&mut self, ip: Ipv4Addr) {
        if let Some(entry) = self.table.get_mut(ip) {
            if !entry.tx_queued {
                entry.tx_queued = true;
                self.tx.push_back(ip);
            }
        }
    }

    /// The hardware address of `next_hop` if resolved and not expired. A hit within the
    /// refresh window of expiry queues one unicast refresh probe.
    pub fn lookup(&mut self, now: Instant, next_hop: Ipv4Addr) -> Option<EthernetAddress> {
        let window = self.config.refresh_window;
        let entry = self.table.get_mut(next_hop)?;
        let expires = entry.deadline();
        let State::Resolved { mac, refresh_sent } = &mut entry.state else { return None };
        if now >= expires {
            return None;
        }
        let mac = *mac;
        if !*refresh_sent && now >= expires - window {
            *refresh_sent = true;
            self.queue_request(next_hop);
        }
        Some(mac)
    }

    /// Queues `packet` until `next_hop` resolves (call after `lookup` missed). Starts a
    /// resolution (broadcast request now, then retries) if none is in progress.
    pub fn enqueue(&mut self, now: Instant, next_hop: Ipv4Addr, packet: Vec<u8>) -> EnqueueResult {
        if !is_unicast_host(next_hop) || self.is_ours(next_hop) || self.addresses.is_empty() {
            self.counters.dropped_invalid += 1;
            return EnqueueResult::Invalid;
        }
        if let Some(mac) = self.lookup(now, next_hop) {
            self.released.push_back((mac, packet));
            return EnqueueResult::Released;
        }
        let max_queue = self.config.queue_per_entry;
        match self.table.get_mut(next_hop).map(|e| &mut e.state) {
            Some(State::Pending { queue, .. }) => {
                queue.push_back(packet);
                let mut result = EnqueueResult::Queued;
                while queue.len() > max_queue {
                    queue.pop_front();
                    self.counters.dropped_queue_full += 1;
                    result = EnqueueResult::QueuedDroppedOldest;
                }
                return result;
            }
            Some(State::Resolved { .. }) => {
                // Expired, and handle_timeout has not run yet.
                self.remove_entry(next_hop);
                self.counters.expired += 1;
            }
            None => {}
        }
        if !self.make_room() {
            self.counters.dropped_table_full += 1;
            return EnqueueResult::TableFull;
        }
        let mut queue = VecDeque::new();
        queue.push_back(packet);
        let mut result = EnqueueResult::Resolving;
        while queue.len() > max_queue {
            queue.pop_front();
            self.counters.dropped_queue_full += 1;
            result = EnqueueResult::QueuedDroppedOldest;
        }
        let entry = Entry::new(State::Pending { retries_done: 0, queue });
        self.table.insert(next_hop, entry, now + self.retry_interval());
        self.queue_request(next_hop);
        result
    }

    /// Never zero, so a due entry always moves past `now`.
    fn retry_interval(&self) -> Duration {
        self.config.retry_interval.max(Duration::from_micros(1))
    }

    /// The next ARP packet to send: announcements first, then requests (broadcast for
    /// pending entries, unicast to the known address for refresh probes).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ArpOut> {
        let _ = now;
        if let Some(ip) = self.announcements.pop_front() {
            self.counters.requests_sent += 1;
            return Some(self.request(EthernetAddress::BROADCAST, ip, ip));
        }
        while let Some(ip) = self.tx.pop_front() {
            let Some(entry) = self.table.get_mut(ip) else { continue };
            entry.tx_queued = false;
            let dst_mac = match entry.state {
                State::Pending { .. } => EthernetAddress::BROADCAST,
                State::Resolved { mac, .. } => mac,
            };
            let Some(spa) = self.source_for(ip) else { continue };
            self.counters.requests_sent += 1;
            return Some(self.request(dst_mac, spa, ip));
        }
        None
    }

    fn request(&self, dst_mac: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr) -> ArpOut {
        ArpOut { op: Op::Request, dst_mac, sha: self.mac, spa, tha: EthernetAddress::ZERO, tpa }
    }

    /// Our address sharing the longest prefix with `target` (the first on ties).
    fn source_for(&self, target: Ipv4Addr) -> Option<Ipv4Addr> {
        let t = u32::from(target);
        let mut best: Option<(u32, Ipv4Addr)> = None;
        for &a in &self.addresses {
            let common = (u32::from(a) ^ t).leading_zeros();
            if best.is_none_or(|(c, _)| common > c) {
                best = Some((common, a));
            }
        }
        best.map(|(_, a)| a)
    }

    /// A packet whose next hop resolved, with the next hop's hardware address, in the
    /// order the packets were queued.
    pub fn poll_released(&mut self) -> Option<(EthernetAddress, Vec<u8>)> {
        self.released.pop_front()
    }

    /// The earliest retransmission, resolution failure or expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_deadline()
    }

    /// Runs retransmissions, fails resolutions that ran out of retries (dropping their
    /// packets) and removes expired entries.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(ip) = self.table.due(now) {
            let retry = match self.table.get(ip).map(|e| &e.state) {
                Some(State::Pending { retries_done, .. }) => *retries_done < self.config.retries,
                Some(State::Resolved { .. }) => false,
                None => break, // unreachable: the index only holds live entries
            };
            if retry {
                if let Some(Entry { state: State::Pending { retries_done, .. }, .. }) =
                    self.table.get_mut(ip)
                {
                    *retries_done += 1;
                }
                self.counters.retries += 1;
                self.queue_request(ip);
                self.table.set_deadline(ip, now + self.retry_interval());
                continue;
            }
            let was_pending = matches!(self.table.get(ip).map(|e| &e.state), Some(State::Pending { .. }));
            let dropped = self.remove_entry(ip).unwrap_or(0);
            if was_pending {
                self.counters.dropped_unresolved += dropped;
            } else {
                self.counters.expired += 1;
            }
        }
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = EntryInfo> + '_ {
        self.table.iter().map(|(ip, e)| {
            let (mac, state, queued) = match &e.state {
                State::Pending { queue, .. } => (None, EntryState::Pending, queue.len()),
                State::Resolved { mac, refresh_sent: false } => (Some(*mac), EntryState::Resolved, 0),
                State::Resolved { mac, refresh_sent: true } => (Some(*mac), EntryState::Refreshing, 0),
            };
            EntryInfo { ip, mac, state, expires: e.deadline(), queued }
        })
    }
}
