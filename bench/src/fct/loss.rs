//! Random loss, P% of frames each way, by one of two methods (`--fct-loss-via`):
//!
//! * `receiver` (default): every frame is dropped where it is *received*, after the
//!   sender's stack has let go of it, so it is a real loss for both TCPs. Kernel server:
//!   iptables `-m statistic --mode random` DROP on INPUT in the engine namespace (client to
//!   server) and on INPUT in the client namespace (server to client). Engine server: its own
//!   `--fault drop=P` (frames dropped between the rings and its stack, both directions),
//!   since iptables never sees AF_XDP traffic.
//! * `peer`: iptables DROP in the client namespace on INPUT from and OUTPUT to each server
//!   address, the same rules for both servers. Measured on Linux 6.18: an OUTPUT drop is
//!   seen by the sending TCP (the transmit fails, the 64 KiB GSO skb is sent again later,
//!   RetransSegs stays 0), so the client-to-server direction is not really lossy.
//!
//! Rules carry a comment and are removed when the guard drops (also on errors and
//! panics); leftovers from an interrupted run are removed before new ones go in.

use std::net::Ipv4Addr;
use std::process::Command;

/// The comment on every rule this module adds.
pub const COMMENT: &str = "bypass-bench-fct";

/// Where frames are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossVia {
    Receiver,
    Peer,
}

impl LossVia {
    pub fn parse(s: &str) -> Result<LossVia, String> {
        match s {
            "receiver" => Ok(LossVia::Receiver),
            "peer" => Ok(LossVia::Peer),
            _ => Err(format!("--fct-loss-via: '{s}' is not receiver or peer")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LossVia::Receiver => "receiver",
            LossVia::Peer => "peer",
        }
    }

    /// How the report describes it.
    pub fn describe(self) -> &'static str {
        match self {
            LossVia::Receiver => {
                "loss where frames are received (--fct-loss-via receiver): kernel server: iptables `-m statistic --mode random` DROP on INPUT \
                 in the engine namespace (client to server) and in the client namespace (server to client); engine server (and e2e): the \
                 engine server's `--fault drop=P` (both directions, between its rings and its stack), as iptables does not see AF_XDP traffic"
            }
            LossVia::Peer => {
                "loss by iptables in the client namespace (--fct-loss-via peer): `-m statistic --mode random` DROP on INPUT from and OUTPUT \
                 to the server address, the same for both servers; OUTPUT drops are seen by the kernel client's TCP (it sends the segment \
                 again later, no retransmission), so client-to-server traffic is barely lossy; e2e rows: the engine server's `--fault drop=P`"
            }
        }
    }
}

/// One iptables rule: the namespace it lives in (None: this process's) and its
/// arguments after `-I`/`-D`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub netns: Option<String>,
    pub spec: Vec<String>,
}

fn drop_rule(netns: Option<&str>, chain: &str, dir: &str, ip: Ipv4Addr, p: &str) -> Rule {
    Rule {
        netns: netns.map(String::from),
        spec: [chain, dir, &format!("{ip}/32"), "-m", "statistic", "--mode", "random", "--probability", p, "-m", "comment", "--comment", COMMENT, "-j", "DROP"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

/// The rules for `pct`% loss each way. `eng_ns` is the engine namespace; this process runs
/// in the client namespace.
pub fn rules(via: LossVia, pct: f64, engine_ip: Ipv4Addr, kernel_ip: Ipv4Addr, eng_ns: &str) -> Vec<Rule> {
    if pct <= 0.0 {
        return Vec::new();
    }
    let p = format!("{:.6}", pct / 100.0);
    match via {
        LossVia::Receiver => vec![drop_rule(Some(eng_ns), "INPUT", "-d", kernel_ip, &p), drop_rule(None, "INPUT", "-s", kernel_ip, &p)],
        LossVia::Peer => [engine_ip, kernel_ip]
            .iter()
            .flat_map(|&ip| [drop_rule(None, "INPUT", "-s", ip, &p), drop_rule(None, "OUTPUT", "-d", ip, &p)])
            .collect(),
    }
}

/// `--fault` for an engine server under `pct`% loss (None: no fault injection).
pub fn engine_fault(via: LossVia, pct: f64, e2e: bool) -> Option<String> {
    (pct > 0.0 && (via == LossVia::Receiver || e2e)).then(|| format!("drop={pct}"))
}

fn iptables(netns: Option<&str>, args: &[String]) -> Result<String, String> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "iptables"]);
            c
        }
        None => Command::new("iptables"),
    };
    let out = cmd.arg("-w").args(args).output().map_err(|e| format!("iptables: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("iptables {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Deletes every rule carrying [`COMMENT`] in this namespace and in `netns` (leftovers of
/// an interrupted run). Returns how many.
pub fn remove_leftovers(netns: &[Option<&str>]) -> Result<usize, String> {
    let mut n = 0;
    for ns in netns {
        let text = iptables(*ns, &["-S".to_string()])?;
        for line in text.lines().filter(|l| l.starts_with("-A ") && l.contains(COMMENT)) {
            // "-A INPUT -s ..." → "-D INPUT -s ..."; the comment has no spaces, so a plain
            // split keeps every argument whole.
            let args: Vec<String> = std::iter::once("-D".to_string()).chain(line.split_whitespace().skip(1).map(|s| s.trim_matches('"').to_string())).collect();
            iptables(*ns, &args)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Installed loss rules; removed on drop.
pub struct Loss {
    installed: Vec<Rule>,
    eng_ns: String,
}

impl Loss {
    /// Installs the rules for `pct`% loss each way (none for 0%).
    pub fn install(via: LossVia, pct: f64, engine_ip: Ipv4Addr, kernel_ip: Ipv4Addr, eng_ns: &str) -> Result<Loss, String> {
        remove_leftovers(&[None, Some(eng_ns)])?;
        let mut guard = Loss { installed: Vec::new(), eng_ns: eng_ns.to_string() };
        for r in rules(via, pct, engine_ip, kernel_ip, eng_ns) {
            let mut add = vec!["-I".to_string()];
            add.extend(r.spec.iter().cloned());
            iptables(r.netns.as_deref(), &add)?;
            guard.installed.push(r);
        }
        Ok(guard)
    }

    /// How many rules are installed.
    pub fn rules(&self) -> usize {
        self.installed.len()
    }
}

impl Drop for Loss {
    fn drop(&mut self) {
        for r in self.installed.drain(..) {
            let mut del = vec!["-D".to_string()];
            del.extend(r.spec);
            if let Err(e) = iptables(r.netns.as_deref(), &del) {
                eprintln!("  warning: could not remove a loss rule: {e}");
            }
        }
        if let Err(e) = remove_leftovers(&[None, Some(&self.eng_ns)]) {
            eprintln!("  warning: could not check for leftover loss rules: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Ipv4Addr = Ipv4Addr::new(10, 213, 50, 2);
    const K: Ipv4Addr = Ipv4Addr::new(10, 213, 50, 3);

    #[test]
    fn receiver_rules_drop_where_frames_arrive() {
        let r = rules(LossVia::Receiver, 5.0, E, K, "bpbench-eng");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].netns.as_deref(), Some("bpbench-eng"));
        assert_eq!(
            r[0].spec.join(" "),
            "INPUT -d 10.213.50.3/32 -m statistic --mode random --probability 0.050000 -m comment --comment bypass-bench-fct -j DROP"
        );
        assert_eq!(r[1].netns, None);
        assert!(r[1].spec.join(" ").starts_with("INPUT -s 10.213.50.3/32 "));
        // The engine's traffic is left to its own fault injection.
        assert!(r.iter().all(|x| !x.spec.contains(&"10.213.50.2/32".to_string())));
        assert_eq!(engine_fault(LossVia::Receiver, 5.0, false).as_deref(), Some("drop=5"));
        assert_eq!(engine_fault(LossVia::Receiver, 0.5, true).as_deref(), Some("drop=0.5"));
        assert_eq!(engine_fault(LossVia::Receiver, 0.0, true), None);
    }

    #[test]
    fn peer_rules_match_each_server_both_ways_in_the_client_namespace() {
        let r = rules(LossVia::Peer, 1.0, E, K, "bpbench-eng");
        assert_eq!(r.len(), 4);
        assert!(r.iter().all(|x| x.netns.is_none()));
        assert!(r[0].spec.join(" ").starts_with("INPUT -s 10.213.50.2/32 -m statistic --mode random --probability 0.010000 "));
        assert!(r[1].spec.join(" ").starts_with("OUTPUT -d 10.213.50.2/32 "));
        assert!(r[3].spec.join(" ").starts_with("OUTPUT -d 10.213.50.3/32 "));
        assert_eq!(engine_fault(LossVia::Peer, 1.0, false), None);
        assert_eq!(engine_fault(LossVia::Peer, 1.0, true).as_deref(), Some("drop=1"));
        assert!(rules(LossVia::Peer, 0.0, E, K, "x").is_empty());
        assert_eq!(LossVia::parse("receiver"), Ok(LossVia::Receiver));
        assert!(LossVia::parse("wire").is_err());
    }
}
