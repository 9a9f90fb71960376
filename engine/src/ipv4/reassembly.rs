//! IPv4 fragment reassembly (RFC 791 section 3.2), hole tracking in 8-octet blocks in
//! the spirit of RFC 815, with RFC 5722's overlap policy applied to IPv4.
//!
//! Policy:
//! - **Overlaps**: RFC 791 lets later fragments overwrite earlier bytes, which is what
//!   teardrop-style and IDS-evasion attacks exploit. Here a fragment overlapping bytes
//!   already received must carry identical bytes: if it does, it is accepted (when it
//!   adds nothing new it counts as a duplicate); if any byte differs, the whole datagram
//!   is dropped (`overlap_conflict`), as RFC 5722 does for IPv6.
//! - **Inconsistency**: a non-last fragment whose length is not a multiple of 8, or an
//!   offset that is not, is dropped (`malformed`). A last fragment disagreeing with an
//!   earlier one on the total length, ending before data already received, or a
//!   fragment extending past a known total length drops the whole datagram (`malformed`).
//! - **Size**: a fragment ending past 65535 - 20 octets is dropped (`too_big`).
//! - **Memory**: each datagram's buffer grows lazily (doubling, capped at the known total
//!   length or the maximum payload). `bytes_held` counts those buffers; a fragment whose
//!   growth would exceed `max_bytes`, or that would start a datagram beyond
//!   `max_datagrams`, is dropped (`dropped_memory`). Nothing is evicted to make room:
//!   a flood of junk fragments cannot push out datagrams already in progress, it only
//!   delays new ones until the junk times out. Besides the buffers, each datagram keeps
//!   a bitmap of at most 1 KiB.
//! - **Timeout**: a datagram is dropped (`timeouts`) `timeout` after its first fragment,
//!   by `handle_timeout` or by the next `insert` for it, whichever comes first.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use crate::time::{Duration, Instant};

/// Largest IPv4 payload: total length 65535 minus a minimal header.
pub const MAX_PAYLOAD: usize = 65535 - 20;
const BLOCK: usize = 8;

/// Identifies the datagram a fragment belongs to (RFC 791).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReassemblyKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ident: u16,
    pub protocol: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Lifetime of a datagram in progress, from its first fragment.
    pub timeout: Duration,
    /// Cap on buffer bytes held across all datagrams in progress.
    pub max_bytes: usize,
    /// Cap on datagrams in progress.
    pub max_datagrams: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig { timeout: Duration::from_secs(30), max_bytes: 4 << 20, max_datagrams: 256 }
    }
}

#[derive(Default, Debug, Clone, Copy, serde::Serialize)]
pub struct ReassemblyCounters {
    /// Calls to `insert`.
    pub fragments: u64,
    /// Complete datagrams returned.
    pub reassembled: u64,
    /// Datagrams dropped unfinished at their deadline.
    pub timeouts: u64,
    /// Fragments dropped for the byte or datagram-count cap.
    pub dropped_memory: u64,
    /// Datagrams dropped because a fragment overlapped received data with other bytes.
    pub overlap_conflict: u64,
    /// Fragments that only repeated bytes already received (accepted, nothing changes).
    pub duplicates: u64,
    /// Fragments dropped as malformed; some also dropped their datagram (see module docs).
    pub malformed: u64,
    /// Fragments dropped for ending past the maximum IPv4 payload.
    pub too_big: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("malformed fragment or fragment inconsistent with its datagram")]
    Malformed,
    #[error("fragment ends beyond the largest IPv4 payload")]
    TooBig,
    #[error("fragment overlaps received data with different bytes; datagram dropped")]
    OverlapConflict,
    #[error("reassembly memory or datagram limit reached")]
    MemoryLimit,
}

/// One datagram in progress.
struct Datagram {
    /// Zero-filled storage; its length is what is accounted in `bytes_held`.
    buf: Vec<u8>,
    /// Bit `i` set: block `i` (octets `8i..8i+8`, clipped to the total) received.
    blocks: Vec<u64>,
    received_blocks: usize,
    /// Highest end offset of any non-empty fragment.
    max_end: usize,
    /// Payload length, once the last fragment arrived.
    total: Option<usize>,
    deadline: Instant,
}

impl Datagram {
    fn new(deadline: Instant) -> Self {
        Datagram { buf: Vec::new(), blocks: Vec::new(), received_blocks: 0, max_end: 0, total: None, deadline }
    }
    fn has_block(&self, b: usize) -> bool {
        self.blocks.get(b / 64).is_some_and(|w| w & (1 << (b % 64)) != 0)
    }
    /// Marks block `b` received; true if it was not.
    fn set_block(&mut self, b: usize) -> bool {
        if self.blocks.len() <= b / 64 {
            self.blocks.resize(b / 64 + 1, 0);
        }
        let (w, bit) = (&mut self.blocks[b / 64], 1u64 << (b % 64));
        let new = *w & bit == 0;
        *w |= bit;
        new
    }
    fn is_complete(&self) -> bool {
        self.total.is_some_and(|t| self.received_blocks == t.div_ceil(BLOCK))
    }
}

/// What placing a fragment did.
enum Placed {
    Stored,
    Duplicate,
    /// The fragment is dropped; the datagram stays.
    DropFragment(ReassemblyError),
    /// The datagram is dropped.
    DropDatagram(ReassemblyError),
}

/// Reassembles IPv4 datagrams from fragments, within fixed memory (see module docs).
pub struct Reassembler {
    config: ReassemblyConfig,
    datagrams: HashMap<ReassemblyKey, Datagram>,
    timers: BTreeSet<(Instant, ReassemblyKey)>,
    bytes_held: usize,
    counters: ReassemblyCounters,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(ReassemblyConfig::default())
    }
}

impl Reassembler {
    pub fn new(config: ReassemblyConfig) -> Self {
        Reassembler {
            config,
            datagrams: HashMap::new(),
            timers: BTreeSet::new(),
            bytes_held: 0,
            counters: ReassemblyCounters::default(),
        }
    }

    pub fn config(&self) -> &ReassemblyConfig {
        &self.config
    }

    pub fn counters(&self) -> ReassemblyCounters {
        self.counters
    }

    /// Buffer bytes held across all datagrams in progress.
    pub fn bytes_held(&self) -> usize {
        self.bytes_held
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.datagrams.len()
    }

    /// Adds a fragment: `offset` in octets from the start of the payload, `data` the
    /// fragment's payload (after its IP header). Returns the whole payload once the last
    /// hole is filled, `Ok(None)` while holes remain (or for a duplicate). An unfragmented
    /// packet (offset 0, no more fragments) with nothing in progress for its key is
    /// returned as is.
    pub fn insert(
        &mut self,
        now: Instant,
        key: ReassemblyKey,
        offset: usize,
        more_fragments: bool,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, ReassemblyError> {
        self.counters.fragments += 1;
        if !offset.is_multiple_of(BLOCK) || (more_fragments && !data.len().is_multiple_of(BLOCK)) {
            self.counters.malformed += 1;
            return Err(ReassemblyError::Malformed);
        }
        let end = match offset.checked_add(data.len()) {
            Some(end) if end <= MAX_PAYLOAD => end,
            _ => {
                self.counters.too_big += 1;
                return Err(ReassemblyError::TooBig);
            }
        };
        if self.datagrams.get(&key).is_some_and(|d| d.deadline <= now) {
            self.expire(key);
        }
        let existing = self.datagrams.remove(&key);
        let is_new = existing.is_none();
        if is_new {
            if offset == 0 && !more_fragments {
                self.counters.reassembled += 1;
                return Ok(Some(data.to_vec()));
            }
            if self.datagrams.len() >= self.config.max_datagrams {
                self.counters.dropped_memory += 1;
                return Err(ReassemblyError::MemoryLimit);
            }
        }
        let mut dg = existing.unwrap_or_else(|| Datagram::new(now + self.config.timeout));
        match self.place(&mut dg, offset, more_fragments, data, end) {
            Placed::DropDatagram(err) => {
                match err {
                    ReassemblyError::OverlapConflict => self.counters.overlap_conflict += 1,
                    _ => self.counters.malformed += 1,
                }
                self.discard(key, dg);
                Err(err)
            }
            Placed::DropFragment(err) => {
                self.counters.dropped_memory += 1;
                // A datagram whose first fragment was refused holds nothing: not kept.
                if !is_new {
                    self.keep(key, dg, false);
                }
                Err(err)
            }
            Placed::Duplicate => {
                self.counters.duplicates += 1;
                self.keep(key, dg, is_new);
                Ok(None)
            }
            Placed::Stored if dg.is_complete() => {
                let total = dg.total.unwrap_or(0);
                let mut payload = std::mem::take(&mut dg.buf);
                self.bytes_held -= payload.len();
                self.discard(key, dg);
                payload.resize(total, 0);
                self.counters.reassembled += 1;
                Ok(Some(payload))
            }
            Placed::Stored => {
                self.keep(key, dg, is_new);
                Ok(None)
            }
        }
    }

    /// Checks a fragment against `dg` and stores it. Leaves `dg` untouched unless it
    /// returns `Stored`.
    fn place(&mut self, dg: &mut Datagram, offset: usize, more: bool, data: &[u8], end: usize) -> Placed {
        let malformed = Placed::DropDatagram(ReassemblyError::Malformed);
        match (more, dg.total) {
            (false, Some(total)) if total != end => return malformed,
            (false, _) if end < dg.max_end => return malformed,
            (true, Some(total)) if end > total => return malformed,
            _ => {}
        }
        if data.is_empty() {
            if !more {
                dg.total = Some(end);
            }
            return Placed::Stored;
        }
        let blocks = offset / BLOCK..end.div_ceil(BLOCK);
        let mut all_seen = true;
        for b in blocks.clone() {
            if !dg.has_block(b) {
                all_seen = false;
                continue;
            }
            let (lo, hi) = ((b * BLOCK).max(offset), ((b + 1) * BLOCK).min(end));
            if dg.buf.get(lo..hi) != data.get(lo - offset..hi - offset) {
                return Placed::DropDatagram(ReassemblyError::OverlapConflict);
            }
        }
        if all_seen && (more || dg.total.is_some()) {
            return Placed::Duplicate;
        }
        let limit = if more { dg.total.unwrap_or(MAX_PAYLOAD) } else { end };
        if end > dg.buf.len() && !self.grow(dg, end, limit) {
            return Placed::DropFragment(ReassemblyError::MemoryLimit);
        }
        dg.buf[offset..end].copy_from_slice(data);
        for b in blocks {
            if dg.set_block(b) {
                dg.received_blocks += 1;
            }
        }
        dg.max_end = dg.max_end.max(end);
        if !more {
            dg.total = Some(end);
        }
        Placed::Stored
    }

    /// Grows `dg.buf` to hold at least `end` octets, doubling when the memory cap allows
    /// but never past `limit` (the payload length, or the maximum when unknown).
    fn grow(&mut self, dg: &mut Datagram, end: usize, limit: usize) -> bool {
        let cur = dg.buf.len();
        let roomy = end.max(cur.saturating_mul(2)).min(limit).max(end);
        let room = self.config.max_bytes.saturating_sub(self.bytes_held);
        let new_len = if roomy - cur <= room {
            roomy
        } else if end - cur <= room {
            end
        } else {
            return false;
        };
        dg.buf.reserve_exact(new_len - cur);
        dg.buf.resize(new_len, 0);
        self.bytes_held += new_len - cur;
        true
    }

    /// Puts `dg` (back) in progress.
    fn keep(&mut self, key: ReassemblyKey, dg: Datagram, is_new: bool) {
        if is_new {
            self.timers.insert((dg.deadline, key));
        }
        self.datagrams.insert(key, dg);
    }

    /// Forgets `dg` (already removed from the map) and releases its memory.
    fn discard(&mut self, key: ReassemblyKey, dg: Datagram) {
        self.timers.remove(&(dg.deadline, key));
        self.bytes_held -= dg.buf.len();
    }

    fn expire(&mut self, key: ReassemblyKey) {
        if let Some(dg) = self.datagrams.remove(&key) {
            self.counters.timeouts += 1;
            self.discard(key, dg);
        }
    }

    /// The earliest deadline of a datagram in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Drops every datagram whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.remove(&(t, key));
            self.expire(key);
        }
    }
}

#[cfg(test)]
mod tests;
