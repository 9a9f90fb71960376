//! The NIC's receive-side scaling, as the engine learns and follows it: read the key,
//! indirection table and TCP/IPv4 hash fields from the driver at start
//! ([`crate::xsk::ethtool`]), turn them into the stack's flow-to-worker mapping, and
//! re-read them while running so a table change (`ethtool -X`) moves new flows with
//! the NIC. Where they cannot be read or used, the software mapping is used and the
//! reason is part of the ready line.

use std::sync::Arc;

use crate::stack::{RssMap, RssShared};
use crate::xsk::ethtool::{rss_config, HASH_TOEPLITZ};

/// The mapping `iface`'s driver describes, or the software one with the reason.
pub fn read_map(iface: &str) -> RssMap {
    let c = match rss_config(iface) {
        Ok(Some(c)) => c,
        Ok(None) => return RssMap::software("the device reports no RSS: frames are handed between workers"),
        Err(e) => return RssMap::software(&format!("cannot read the device's RSS ({e}): frames are handed between workers")),
    };
    if c.hfunc != 0 && c.hfunc & HASH_TOEPLITZ == 0 {
        return RssMap::software(&format!("the device hashes with function {:#x}, not Toeplitz: frames are handed between workers", c.hfunc));
    }
    if c.input_xfrm != 0 {
        return RssMap::software("the device transforms the hash input (symmetric RSS): frames are handed between workers");
    }
    if c.key.is_empty() {
        return RssMap::software("the driver does not report its RSS key: frames are handed between workers");
    }
    let ports = c.tcp4_four_tuple.unwrap_or(true);
    let source = format!(
        "nic (Toeplitz, {}-byte key, {}-entry table, tcp4 over {})",
        c.key.len(),
        c.table.len(),
        if ports { "addresses and ports" } else { "addresses only" }
    );
    RssMap::nic(&c.key, &c.table, ports, &source).unwrap_or_else(|e| RssMap::software(&format!("the device's RSS is unusable ({e}): frames are handed between workers")))
}

/// Re-reads the device's RSS and publishes it if it changed; returns the new mapping.
pub fn refresh(iface: &str, shared: &Arc<RssShared>, workers: usize) -> Option<Arc<RssMap>> {
    let now = read_map(iface);
    if *shared.current() == now {
        return None;
    }
    let unserved = now.unserved_queues(workers);
    if unserved.is_empty() {
        tracing::info!("RSS of {iface} changed: {}; connections stay on their workers", now.source);
    } else {
        tracing::warn!(
            "RSS of {iface} changed: {}; it now sends flows to queues {unserved:?}, which no worker serves (their frames are dropped): `ethtool -X {iface} equal {workers}`",
            now.source
        );
    }
    shared.set(now);
    Some(shared.current())
}
