//! Random loss with iptables in the client's (this process's) network namespace:
//! `-m statistic --mode random --probability P -j DROP` on INPUT from and OUTPUT to each
//! server address, the same rules for the engine and the kernel server. The rules carry a
//! comment and are removed when the guard drops (also on errors and panics); leftovers
//! from an interrupted run are removed before new ones go in.
//!
//! Note: a drop in OUTPUT is seen by the local TCP sender (the transmit fails and the
//! segment is sent again later, counted as TCPRetransFail rather than lost on the wire);
//! drops in INPUT are plain wire losses. Both servers face the same client behaviour.

use std::net::Ipv4Addr;
use std::process::Command;

/// The comment on every rule this module adds.
pub const COMMENT: &str = "bypass-bench-fct";

/// The `iptables` arguments (after `-I`/`-D`) of the rules for `pct`% loss each way.
pub fn rule_specs(pct: f64, servers: &[Ipv4Addr]) -> Vec<Vec<String>> {
    let p = format!("{:.6}", pct / 100.0);
    let mut v = Vec::new();
    for ip in servers {
        for (chain, dir) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
            v.push(
                [chain, dir, &format!("{ip}/32"), "-m", "statistic", "--mode", "random", "--probability", &p, "-m", "comment", "--comment", COMMENT, "-j", "DROP"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            );
        }
    }
    v
}

fn iptables(args: &[String]) -> Result<(), String> {
    let out = Command::new("iptables").arg("-w").args(args).output().map_err(|e| format!("iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("iptables {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Deletes every rule carrying [`COMMENT`] (leftovers of an interrupted run).
pub fn remove_leftovers() -> Result<usize, String> {
    let out = Command::new("iptables").args(["-w", "-S"]).output().map_err(|e| format!("iptables -S: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut n = 0;
    for line in text.lines().filter(|l| l.starts_with("-A ") && l.contains(COMMENT)) {
        // "-A INPUT -s ... " → "-D INPUT -s ..."; the comment has no spaces, so a plain
        // split keeps every argument whole.
        let args: Vec<String> = std::iter::once("-D".to_string()).chain(line.split_whitespace().skip(1).map(|s| s.trim_matches('"').to_string())).collect();
        iptables(&args)?;
        n += 1;
    }
    Ok(n)
}

/// Installed loss rules; removed on drop.
pub struct Loss {
    specs: Vec<Vec<String>>,
}

impl Loss {
    /// Installs `pct`% random loss each way for `servers` (nothing for 0%).
    pub fn install(pct: f64, servers: &[Ipv4Addr]) -> Result<Loss, String> {
        remove_leftovers()?;
        let mut guard = Loss { specs: Vec::new() };
        if pct <= 0.0 {
            return Ok(guard);
        }
        for spec in rule_specs(pct, servers) {
            let mut add = vec!["-I".to_string()];
            add.extend(spec.iter().cloned());
            iptables(&add)?;
            guard.specs.push(spec);
        }
        Ok(guard)
    }

    /// How many rules are installed.
    pub fn rules(&self) -> usize {
        self.specs.len()
    }
}

impl Drop for Loss {
    fn drop(&mut self) {
        for spec in self.specs.drain(..) {
            let mut del = vec!["-D".to_string()];
            del.extend(spec);
            if let Err(e) = iptables(&del) {
                eprintln!("  warning: could not remove a loss rule: {e}");
            }
        }
        if let Err(e) = remove_leftovers() {
            eprintln!("  warning: could not check for leftover loss rules: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_each_server_both_ways() {
        let s = rule_specs(5.0, &[Ipv4Addr::new(10, 213, 50, 2), Ipv4Addr::new(10, 213, 50, 3)]);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s[0].join(" "),
            "INPUT -s 10.213.50.2/32 -m statistic --mode random --probability 0.050000 -m comment --comment bypass-bench-fct -j DROP"
        );
        assert!(s[1].join(" ").starts_with("OUTPUT -d 10.213.50.2/32 "));
        assert!(s[3].join(" ").starts_with("OUTPUT -d 10.213.50.3/32 "));
        assert!(rule_specs(1.0, &[Ipv4Addr::LOCALHOST])[0].contains(&"0.010000".to_string()));
    }
}
