//! `bypass-bench --profile CASE` refuses what it cannot profile with one line saying what
//! to pick, before it starts anything.

use std::process::Command;

fn bench(profile: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bypass-bench"))
        .args(["--bypass", "/nonexistent/bypass", "--eng-ns", "none", "--iface", "none", "--engine-ip", "10.0.0.2", "--kernel-ip", "10.0.0.3"])
        .args(["--client-iface", "none", "--client-ip", "10.0.0.4", "--out", "/nonexistent/bench-results", "--profile", profile])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn unknown_or_unprofilable_cases_are_refused_with_the_names_to_pick() {
    for name in ["no-such-case", "tcp-pingpong", "idle-connections"] {
        let (code, err) = bench(name);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(&format!("--profile {name}: not a case that can be profiled; pick one of: http-keepalive-1,")), "{err}");
        assert!(err.contains("e2e-tcp-pingpong") && !err.contains("idle-connections,") && !err.trim_end().ends_with("idle-connections"), "{err}");
    }
}
