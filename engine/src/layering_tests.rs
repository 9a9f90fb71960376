//! The architecture, checked: layers import only downwards and `unsafe` lives only in
//! `xsk` (with `sys`), as the crate docs and the developers' guide say. A read of the
//! sources, so a new import that points up fails here rather than in a review.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("engine/src is readable") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every non-comment line of the engine's sources, with its file relative to src/.
fn code_lines() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 50, "found only {} source files under {}", files.len(), src.display());
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            if !code.trim().is_empty() {
                out.push((rel.clone(), code.to_string()));
            }
        }
    }
    out
}

/// Test-only files may reach up (they drive the whole stack); the rule is for the code.
fn is_test_file(rel: &str) -> bool {
    rel.contains("/tests") || rel.ends_with("_tests.rs") || rel.contains("/tests_")
}

/// An `unsafe` block, function, impl, trait or extern block on this line.
fn has_unsafe(line: &str) -> bool {
    line.match_indices("unsafe").any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + "unsafe".len()..].trim_start();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && ["{", "fn ", "impl", "trait ", "extern "].iter().any(|k| after.starts_with(k))
    })
}

/// Where `unsafe` may be: the AF_XDP datapath and the syscall wrappers.
fn may_be_unsafe(file: &str) -> bool {
    file.starts_with("xsk/") || file == "sys.rs"
}

#[test]
fn unsafe_only_in_xsk() {
    assert!(has_unsafe("let x = unsafe { f() };") && has_unsafe("pub unsafe fn g()") && !has_unsafe("fn unsafe_free() {"));
    assert!(may_be_unsafe("xsk/queue.rs") && may_be_unsafe("sys.rs") && !may_be_unsafe("runtime/sys.rs"));
    // (This file is skipped: its examples are strings.)
    let bad: Vec<_> = code_lines().into_iter().filter(|(f, l)| !may_be_unsafe(f) && f != "layering_tests.rs" && has_unsafe(l)).collect();
    assert!(bad.is_empty(), "`unsafe` outside engine/src/xsk and engine/src/sys.rs: {bad:?}");
}

/// The compiler enforces it too: the crate denies `unsafe_code` and lifts the ban only
/// on `xsk` and `sys`. Every `allow(unsafe_code)` in the sources is one of those two.
#[test]
fn compiler_denies_unsafe_outside_xsk_and_sys() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(lib.lines().any(|l| l.trim() == "#![deny(unsafe_code)]"), "lib.rs must deny unsafe_code");
    let lines: Vec<_> = lib.lines().map(str::trim).collect();
    let mut lifted = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("allow(unsafe_code)") {
            lifted.push(lines.get(i + 1).copied().unwrap_or(""));
        }
    }
    assert_eq!(lifted, ["pub mod xsk;", "pub mod sys;"], "allow(unsafe_code) in lib.rs must sit only on xsk and sys");
    let elsewhere: Vec<_> = code_lines().into_iter().filter(|(f, l)| f != "lib.rs" && f != "layering_tests.rs" && l.contains("allow(unsafe_code)")).collect();
    assert!(elsewhere.is_empty(), "allow(unsafe_code) outside lib.rs: {elsewhere:?}");
}

/// The layers, lowest first: a file may name (`crate::m`) only modules of a lower layer.
/// Longest prefix wins, so `control/client.rs` (the `bypass stat` command) sits above the
/// control socket the engine serves.
const LAYERS: &[&[&str]] = &[
    &["time"],
    &["wire", "phy", "sys"],
    &["pcap", "xsk", "tcp", "arp", "ipv4", "icmp"],
    &["stack"],
    &["rss", "runtime"],
    &["api"],
    &["worker_core", "apps", "tcp_settings"],
    &["control"],
    &["engine", "cli"],
    &["background", "report", "control/client.rs", "main.rs", "lib.rs", "layering_tests.rs", "testkit"],
];

/// Imports between modules of one layer that are allowed, (from, to).
const PEERS: &[(&str, &str)] = &[
    // The engine still takes the parsed command line (RunArgs) as its configuration.
    ("engine", "cli"),
];

/// Imports banned outright, whatever the layers say: (file prefix, path it must not name).
const BANNED: &[(&str, &str)] = &[
    ("xsk/", "crate::pcap"),
    ("xsk/", "crate::wire::reflect"),
    ("runtime/", "crate::api"),
    ("runtime/", "crate::apps"),
];

/// The layer of a file (relative to src/), by its longest matching module prefix.
fn layer_of(file: &str) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, &'static str)> = None;
    for (rank, mods) in LAYERS.iter().enumerate() {
        for m in mods.iter() {
            let hit = file == *m || file.strip_prefix(m).is_some_and(|r| r.starts_with('/') || r == ".rs");
            if hit && best.is_none_or(|(_, b)| m.len() > b.len()) {
                best = Some((rank, m));
            }
        }
    }
    best
}

/// The crate modules a line names (`crate::m::`, `crate::m;`, `crate::m}` or `crate::m,`).
fn named_modules(line: &str) -> Vec<String> {
    line.match_indices("crate::")
        .filter(|(i, _)| !line[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':'))
        .map(|(i, _)| line[i + "crate::".len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
        .filter(|m| !m.is_empty())
        .collect()
}

/// Every import in the code (test files aside) that points up or sideways.
fn violations(lines: &[(String, String)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, line) in lines {
        if is_test_file(file) {
            continue;
        }
        let Some((rank, me)) = layer_of(file) else {
            bad.push(format!("{file}: in no layer (add it to LAYERS)"));
            continue;
        };
        for m in named_modules(line) {
            let Some((theirs, _)) = layer_of(&m) else {
                bad.push(format!("{file}: names crate::{m}, which is in no layer"));
                continue;
            };
            let peer = theirs == rank && m != me && !PEERS.iter().any(|&(a, b)| me.starts_with(a) && m == b);
            if theirs > rank || peer {
                bad.push(format!("{file}: {} (names crate::{m}, layer {theirs} from layer {rank})", line.trim()));
            }
        }
        for (prefix, path) in BANNED {
            if file.starts_with(prefix) && line.contains(path) {
                bad.push(format!("{file}: {} (must not name {path})", line.trim()));
            }
        }
        // Nothing below the engine knows the command line's parser.
        if rank < layer_of("engine.rs").unwrap().0 && line.contains("clap") {
            bad.push(format!("{file}: {} (clap below the engine)", line.trim()));
        }
    }
    bad
}

#[test]
fn layering_rules_catch_regressions() {
    let case = |file: &str, line: &str| violations(&[(file.to_string(), line.to_string())]);
    assert_eq!(layer_of("control/client.rs").map(|l| l.1), Some("control/client.rs"));
    assert_eq!(layer_of("control/mod.rs").map(|l| l.1), Some("control"));
    assert_eq!(named_modules("use crate::stack::{Stack}; let x = crate::time::Instant::ZERO;"), ["stack", "time"]);
    // Each rule, broken once.
    assert!(!case("runtime/worker.rs", "use crate::api::Io;").is_empty(), "runtime -> api");
    assert!(!case("runtime/worker.rs", "let a: Box<dyn crate::apps::X>;").is_empty(), "runtime -> apps");
    assert!(!case("runtime/worker.rs", "use crate::worker_core::WorkerCore;").is_empty(), "runtime -> worker_core");
    assert!(!case("stack/mod.rs", "use crate::cli::RunArgs;").is_empty(), "stack -> cli");
    assert!(!case("api/blocking.rs", "use crate::engine::run_with;").is_empty(), "api -> engine");
    assert!(!case("xsk/queue.rs", "tap: Option<crate::pcap::PcapTap>,").is_empty(), "xsk -> pcap");
    assert!(!case("xsk/queue.rs", "crate::wire::reflect::reflect_udp(f, p, o)").is_empty(), "xsk -> wire::reflect");
    assert!(!case("runtime/worker.rs", "#[derive(clap::ValueEnum)]").is_empty(), "clap in runtime");
    assert!(!case("xsk/program.rs", "#[derive(Debug, clap::ValueEnum)]").is_empty(), "clap in xsk");
    assert!(!case("tcp/input.rs", "use crate::xsk::XskQueue;").is_empty(), "protocol -> its peer xsk");
    assert!(!case("wire/tcp.rs", "use crate::tcp::Tcb;").is_empty(), "wire -> tcp");
    // And what is allowed stays allowed.
    assert!(case("runtime/worker.rs", "use crate::stack::{Stack, Verdict};").is_empty());
    assert!(case("engine.rs", "use crate::cli::RunArgs;").is_empty());
    assert!(case("cli.rs", "impl clap::ValueEnum for PollMode {").is_empty());
    assert!(case("worker_core.rs", "use crate::runtime::WorkerBody;").is_empty());
}

#[test]
fn layers_import_only_downwards() {
    let bad = violations(&code_lines());
    assert!(bad.is_empty(), "imports pointing up:\n{}", bad.join("\n"));
}
