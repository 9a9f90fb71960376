//! ARP: IPv4 to Ethernet address resolution (RFC 826), with gratuitous announcements and
//! address-conflict awareness from RFC 5227. Sans-IO: no clock, no I/O; time comes in as
//! [`Instant`], packets to send come out of [`ArpResolver::poll_transmit`] and
//! [`ArpResolver::poll_released`].
//!
//! Learning is deliberately stricter than RFC 826's merge, against cache poisoning: a
//! mapping is learned only from a reply we solicited (a pending resolution or a refresh
//! probe we sent), or from a request aimed at one of our addresses (RFC 826 merge for
//! that case). Gratuitous ARP from others only refreshes an entry that already exists
//! (completing it if pending), never creates one. Unsolicited replies and requests for
//! other hosts never touch the cache. `learn_shared` applies the same rules to packets
//! another worker received.

mod cache;
mod resolver;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

pub use resolver::ArpResolver;

/// ARP operation (only the two of RFC 826).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Request,
    Reply,
}

/// An ARP packet to send, as plain fields: the caller wraps it in an Ethernet frame
/// (source = `sha`, destination = `dst_mac`, ethertype ARP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpOut {
    pub op: Op,
    /// Ethernet destination: broadcast for requests and announcements, unicast for
    /// replies and refresh probes.
    pub dst_mac: EthernetAddress,
    pub sha: EthernetAddress,
    pub spa: Ipv4Addr,
    /// All zeros in requests.
    pub tha: EthernetAddress,
    pub tpa: Ipv4Addr,
}

/// Resolver limits and timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpConfig {
    /// Maximum number of entries (pending and resolved).
    pub capacity: usize,
    /// Maximum packets queued behind one pending entry; beyond it the oldest is dropped.
    pub queue_per_entry: usize,
    /// Retransmissions after the first request before a resolution fails.
    pub retries: u32,
    /// Time between requests, and from the last one to failure.
    pub retry_interval: Duration,
    /// How long a resolved entry stays valid after it was confirmed.
    pub lifetime: Duration,
    /// A lookup hit within this much of expiry sends one unicast refresh probe.
    pub refresh_window: Duration,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            capacity: 1024,
            queue_per_entry: 8,
            retries: 3,
            retry_interval: Duration::from_secs(1),
            lifetime: Duration::from_secs(60),
            refresh_window: Duration::from_secs(5),
        }
    }
}

/// Event and drop counters; every packet or mapping the resolver discards is counted.
#[derive(Default, Debug, Clone, Copy, serde::Serialize)]
pub struct ArpCounters {
    /// ARP requests handed to `handle_packet`.
    pub requests_received: u64,
    /// Replies returned by `handle_packet`.
    pub replies_sent: u64,
    /// Requests handed out by `poll_transmit` (first tries, retries, refresh probes,
    /// gratuitous announcements).
    pub requests_sent: u64,
    /// Retransmissions scheduled for pending entries.
    pub retries: u64,
    /// ARP replies handed to `handle_packet`.
    pub replies_received: u64,
    /// Pending entries completed (their queued packets released).
    pub resolved: u64,
    /// Mappings created or refreshed other than by completing a pending entry: from a
    /// request aimed at us, a reply to a refresh probe, or a gratuitous ARP.
    pub learned: u64,
    /// Queued packets dropped because their next hop never answered.
    pub dropped_unresolved: u64,
    /// Queued packets dropped (oldest first) to bound a pending entry's queue.
    pub dropped_queue_full: u64,
    /// Packets (from `enqueue`) or mappings (from a request aimed at us) dropped
    /// because the table was full of pending entries.
    pub dropped_table_full: u64,
    /// Packets given to `enqueue` for a next hop ARP cannot resolve (unspecified,
    /// broadcast, multicast, loopback, one of ours) or while we have no address.
    pub dropped_invalid: u64,
    /// Resolved entries evicted to make room for new ones.
    pub evicted: u64,
    /// Replies we did not ask for, and gratuitous ARP for addresses not in the table.
    pub ignored_unsolicited: u64,
    /// Requests and replies whose target protocol address is not ours.
    pub ignored_not_for_us: u64,
    /// Packets whose sender is unusable: non-unicast or our own hardware address, or a
    /// broadcast, multicast, loopback or (in replies) unspecified protocol address.
    pub ignored_invalid: u64,
    /// RFC 5227 probes (sender 0.0.0.0) for one of our addresses: someone else wants
    /// it. Not answered.
    pub probes_for_our_address: u64,
    /// Packets from another host claiming one of our addresses as its sender address.
    pub address_conflicts: u64,
    /// Resolved entries removed at the end of their lifetime.
    pub expired: u64,
}

/// What `enqueue` did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnqueueResult {
    /// Queued behind a new pending entry; a broadcast request waits in `poll_transmit`.
    Resolving,
    /// Queued behind an entry already being resolved.
    Queued,
    /// Queued; the entry's oldest queued packet was dropped to make room.
    QueuedDroppedOldest,
    /// The next hop is already resolved: the packet is waiting in `poll_released`.
    Released,
    /// Dropped: the table is full of pending entries.
    TableFull,
    /// Dropped: the next hop cannot be resolved by ARP, or we have no address.
    Invalid,
}

/// State of a table entry, for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    /// Requests outstanding, packets may be queued.
    Pending,
    /// Mapping known and valid.
    Resolved,
    /// Mapping known; a unicast refresh probe has been sent.
    Refreshing,
}

/// One table entry, for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub ip: Ipv4Addr,
    /// `None` while pending.
    pub mac: Option<EthernetAddress>,
    pub state: EntryState,
    /// Resolved: end of validity. Pending: the next retransmission or failure.
    pub expires: Instant,
    /// Packets queued behind a pending entry.
    pub queued: usize,
}

/// Whether `ip` can be a unicast host on the link: not unspecified, broadcast,
/// multicast or loopback.
fn is_unicast_host(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
}
