//! HTTP POST transfers through the real `curl` binary: one invocation per group with
//! every URL, `--data-binary @FILE`, the response discarded, and per transfer a
//! `-w` line with curl's own `time_total`. Fresh connections send `Connection: close`;
//! reused ones keep the connection alive, and their first (connecting) transfer is not
//! counted. No `Expect:` override: curl behaves as it does for a user.

use std::io::Read;
use std::net::SocketAddrV4;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::plan::{Conn, Group};
use super::summary::{Outcome, Outcomes};
use super::transfer_bytes;

/// What curl writes after each transfer.
pub const WRITE_OUT: &str = "%{http_code} %{size_upload} %{size_download} %{num_connects} %{time_total} %{exitcode}\\n";

/// The curl arguments for `urls` transfers of `body_file` to the server at `to`.
pub fn curl_args(to: SocketAddrV4, body_file: &str, urls: usize, conn: Conn, timeout: Duration) -> Vec<String> {
    let mut a: Vec<String> = ["-s", "-S", "--data-binary"].iter().map(|s| s.to_string()).collect();
    a.push(format!("@{body_file}"));
    a.extend(["--max-time".to_string(), format!("{}", timeout.as_secs_f64())]);
    a.extend(["-w".to_string(), WRITE_OUT.replace("\\n", "\n")]);
    if conn == Conn::Fresh {
        a.extend(["-H".to_string(), "Connection: close".to_string()]);
    }
    for i in 0..urls {
        let url = if to.port() == 80 { format!("http://{}/fct/{i}", to.ip()) } else { format!("http://{to}/fct/{i}") };
        a.extend(["-o".to_string(), "/dev/null".to_string(), url]);
    }
    a
}

/// One `-w` line parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CurlLine {
    pub code: u16,
    pub up: u64,
    pub down: u64,
    pub connects: u64,
    pub secs: f64,
    pub exit: i32,
}

pub fn parse_line(l: &str) -> Option<CurlLine> {
    let f: Vec<&str> = l.split_whitespace().collect();
    if f.len() < 5 {
        return None;
    }
    Some(CurlLine {
        code: f[0].parse().ok()?,
        up: f[1].parse().ok()?,
        down: f[2].parse().ok()?,
        connects: f[3].parse().ok()?,
        secs: f[4].parse().ok()?,
        // %{exitcode} needs curl 7.75; older ones print it literally.
        exit: f.get(5).and_then(|x| x.parse().ok()).unwrap_or(0),
    })
}

/// Judges one transfer's line: the body went up whole, came back whole with 200, and a
/// reused transfer did not open a connection.
pub fn judge(l: &CurlLine, size: u64, conn: Conn, timeout: Duration) -> Outcome {
    if l.exit == 28 || l.secs >= timeout.as_secs_f64() {
        return Outcome::Error(format!("curl timed out after {} s (exit {}, {} of {size} bytes back)", l.secs, l.exit, l.down));
    }
    if l.code != 200 {
        return Outcome::Error(format!("HTTP status {} (curl exit {})", l.code, l.exit));
    }
    if l.exit == 18 || l.down < size {
        return Outcome::EndedEarly(format!("{} of {size} bytes back (curl exit {})", l.down, l.exit));
    }
    if l.exit != 0 {
        return Outcome::Error(format!("curl exit {}", l.exit));
    }
    if l.up != size || l.down != size {
        return Outcome::Error(format!("sent {} and got back {} bytes, want {size}", l.up, l.down));
    }
    match (conn, l.connects) {
        (Conn::Fresh, 0) => Outcome::Error("fresh transfer reused a connection".into()),
        (Conn::Reused, n) if n > 0 => Outcome::Error("keep-alive connection not reused (curl reconnected)".into()),
        _ => Outcome::Done(Duration::from_secs_f64(l.secs)),
    }
}

/// Runs a group of HTTP POSTs of `g.size` bytes to the HTTP echo server at `to`.
pub fn run_group(to: SocketAddrV4, g: &Group, timeout: Duration) -> Outcomes {
    let mut out = Outcomes::default();
    let file = std::env::temp_dir().join(format!("bypass-bench-fct-{}-{}.bin", std::process::id(), g.size));
    if let Err(e) = std::fs::write(&file, transfer_bytes(g.size as usize, 7)) {
        out.push(Outcome::Error(format!("cannot write the body file: {e}")));
        out.skipped(g.transfers - 1, "no body file");
        return out;
    }
    let extra = usize::from(g.conn == Conn::Reused);
    let urls = g.transfers + extra;
    let args = curl_args(to, &file.to_string_lossy(), urls, g.conn, timeout);
    let lines = run_curl(&args, timeout * urls as u32 + Duration::from_secs(5));
    let _ = std::fs::remove_file(&file);
    let lines = match lines {
        Ok(l) => l,
        Err(e) => {
            out.push(Outcome::Error(e));
            out.skipped(g.transfers - 1, "curl failed");
            return out;
        }
    };
    let mut seen = 0;
    let mut previous_failed = false;
    for (i, l) in lines.lines().enumerate() {
        if i < extra {
            // The reused connection's first transfer opens it: not counted, but it must work.
            if let Some(p) = parse_line(l) {
                if let o @ (Outcome::Error(_) | Outcome::EndedEarly(_)) = judge(&p, g.size, Conn::Fresh, timeout) {
                    out.push(o);
                    seen += 1;
                    previous_failed = true;
                }
            }
            continue;
        }
        if seen >= g.transfers {
            break;
        }
        seen += 1;
        let o = match parse_line(l) {
            Some(p) => match judge(&p, g.size, g.conn, timeout) {
                // After a failed transfer curl must open a new connection: still an error
                // (the time includes a connect), but say why.
                Outcome::Error(e) if previous_failed && e.contains("not reused") => {
                    Outcome::Error("connection re-opened after the previous transfer failed (time includes a connect)".into())
                }
                o => o,
            },
            None => Outcome::Error(format!("cannot parse curl's line '{l}'")),
        };
        previous_failed = !matches!(o, Outcome::Done(_));
        out.push(o);
    }
    out.skipped(g.transfers.saturating_sub(seen), "curl reported fewer transfers than asked");
    out
}

/// Runs curl with `args`, killing it after `limit`; returns its stdout.
fn run_curl(args: &[String], limit: Duration) -> Result<String, String> {
    let mut child = Command::new("curl")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no curl stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for curl: {e}")),
        }
    }
    reader.join().map_err(|_| "curl reader panicked".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_for_fresh_and_reused() {
        let ip = SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), 80);
        let a = curl_args(ip, "/tmp/b", 2, Conn::Fresh, Duration::from_secs(30));
        let s = a.join(" ");
        assert!(s.starts_with("-s -S --data-binary @/tmp/b --max-time 30 -w "), "{s}");
        assert!(s.contains("-H Connection: close"));
        assert!(s.ends_with("-o /dev/null http://10.0.0.2/fct/0 -o /dev/null http://10.0.0.2/fct/1"), "{s}");
        assert!(!s.contains("Expect"));
        let r = curl_args(ip, "/tmp/b", 3, Conn::Reused, Duration::from_millis(1500)).join(" ");
        assert!(!r.contains("Connection: close") && r.contains("--max-time 1.5") && r.contains("/fct/2"));
        let other = curl_args(SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8080), "/tmp/b", 1, Conn::Reused, Duration::from_secs(1));
        assert_eq!(other.last().map(String::as_str), Some("http://127.0.0.1:8080/fct/0"));
        assert!(a.iter().any(|x| x.ends_with("%{exitcode}\n")));
    }

    #[test]
    fn lines_are_judged() {
        let t = Duration::from_secs(30);
        let l = parse_line("200 4096 4096 1 0.000812 0").unwrap();
        assert_eq!(l, CurlLine { code: 200, up: 4096, down: 4096, connects: 1, secs: 0.000812, exit: 0 });
        assert_eq!(judge(&l, 4096, Conn::Fresh, t), Outcome::Done(Duration::from_secs_f64(0.000812)));
        assert!(matches!(judge(&l, 4096, Conn::Reused, t), Outcome::Error(e) if e.contains("not reused")));
        let reused = parse_line("200 4096 4096 0 0.0004 0").unwrap();
        assert!(matches!(judge(&reused, 4096, Conn::Reused, t), Outcome::Done(_)));
        assert!(matches!(judge(&reused, 4096, Conn::Fresh, t), Outcome::Error(_)));
        let early = parse_line("200 4096 100 1 0.01 18").unwrap();
        assert!(matches!(judge(&early, 4096, Conn::Fresh, t), Outcome::EndedEarly(_)));
        let timed_out = parse_line("200 4096 100 1 30.000 28").unwrap();
        assert!(matches!(judge(&timed_out, 4096, Conn::Fresh, t), Outcome::Error(e) if e.contains("timed out")));
        let refused = parse_line("000 0 0 0 0.001 7").unwrap();
        assert!(matches!(judge(&refused, 4096, Conn::Fresh, t), Outcome::Error(e) if e.contains("status 0")));
        let too_large = parse_line("413 4096 0 1 0.001 0").unwrap();
        assert!(matches!(judge(&too_large, 4096, Conn::Fresh, t), Outcome::Error(e) if e.contains("413")));
        // Without %{exitcode} support the field is missing or literal.
        assert_eq!(parse_line("200 1 1 1 0.5").unwrap().exit, 0);
        assert_eq!(parse_line("garbage"), None);
    }
}
