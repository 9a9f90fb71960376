//! Next-hop selection for one interface (RFC 1122 section 3.3.1): on-link destinations
//! are reached directly, everything else through the default gateway. Broadcasts (the
//! limited broadcast and on-link directed broadcasts, RFC 1812 section 4.2.3.1; /31 and
//! /32 have none, RFC 3021), multicast, loopback and the unspecified address have no
//! unicast next hop and are refused.

use std::net::Ipv4Addr;

/// No unicast next hop for the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no route to host")]
pub struct NoRoute;

/// The routing table of a host with one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Router {
    /// Directly attached networks as (network, prefix length). Entries with a prefix
    /// longer than 32 never match.
    pub on_link: Vec<(Ipv4Addr, u8)>,
    /// Default gateway for everything not on-link.
    pub gateway: Option<Ipv4Addr>,
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl Router {
    /// The address to resolve (ARP) to reach `dst`.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Result<Ipv4Addr, NoRoute> {
        if dst.is_unspecified() || dst.is_broadcast() || dst.is_multicast() || dst.is_loopback() {
            return Err(NoRoute);
        }
        let d = u32::from(dst);
        let mut on_link = false;
        for &(net, prefix) in &self.on_link {
            if prefix > 32 {
                continue;
            }
            let m = mask(prefix);
            if d & m != u32::from(net) & m {
                continue;
            }
            if prefix < 31 && d | m == u32::MAX {
                return Err(NoRoute); // directed broadcast of an attached network
            }
            on_link = true;
        }
        if on_link {
            Ok(dst)
        } else {
            self.gateway.ok_or(NoRoute)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn router() -> Router {
        Router { on_link: vec![(ip("10.0.0.0"), 24), (ip("192.168.9.0"), 31)], gateway: Some(ip("10.0.0.254")) }
    }

    #[test]
    fn on_link_goes_direct_else_gateway() {
        let r = router();
        assert_eq!(r.next_hop(ip("10.0.0.7")), Ok(ip("10.0.0.7")));
        assert_eq!(r.next_hop(ip("192.168.9.1")), Ok(ip("192.168.9.1")));
        assert_eq!(r.next_hop(ip("8.8.8.8")), Ok(ip("10.0.0.254")));
        let no_gw = Router { gateway: None, ..router() };
        assert_eq!(no_gw.next_hop(ip("8.8.8.8")), Err(NoRoute));
        assert_eq!(no_gw.next_hop(ip("10.0.0.7")), Ok(ip("10.0.0.7")));
    }

    #[test]
    fn broadcasts_and_special_addresses_are_not_routed() {
        let r = router();
        for dst in ["255.255.255.255", "10.0.0.255", "0.0.0.0", "224.0.0.1", "127.0.0.1"] {
            assert_eq!(r.next_hop(ip(dst)), Err(NoRoute), "{dst}");
        }
        // Not a directed broadcast of ours: off-link, so via the gateway.
        assert_eq!(r.next_hop(ip("10.0.1.255")), Ok(ip("10.0.0.254")));
    }

    #[test]
    fn odd_prefixes() {
        let all = Router { on_link: vec![(ip("0.0.0.0"), 0)], gateway: None };
        assert_eq!(all.next_hop(ip("8.8.8.8")), Ok(ip("8.8.8.8")));
        let host = Router { on_link: vec![(ip("10.1.1.1"), 32), (ip("10.2.0.0"), 40)], gateway: None };
        assert_eq!(host.next_hop(ip("10.1.1.1")), Ok(ip("10.1.1.1")));
        assert_eq!(host.next_hop(ip("10.2.0.1")), Err(NoRoute));
        assert_eq!(Router::default().next_hop(ip("10.0.0.1")), Err(NoRoute));
    }
}
