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

#[test]
fn unsafe_only_in_xsk() {
    assert!(has_unsafe("let x = unsafe { f() };") && has_unsafe("pub unsafe fn g()") && !has_unsafe("fn unsafe_free() {"));
    // (This file is skipped: its examples are strings.)
    let bad: Vec<_> = code_lines().into_iter().filter(|(f, l)| !f.starts_with("xsk/") && f != "layering_tests.rs" && has_unsafe(l)).collect();
    assert!(bad.is_empty(), "`unsafe` outside engine/src/xsk: {bad:?}");
}

#[test]
fn layers_import_only_downwards() {
    // (module directory, crate modules it must not name)
    let above_protocols = ["stack", "runtime", "api", "apps", "xsk", "engine", "cli", "control", "rss"];
    let rules: [(&str, &[&str]); 6] = [
        ("wire/", &["arp", "ipv4", "icmp", "tcp", "udp", "stack", "runtime", "api", "apps", "xsk", "engine", "cli", "control", "rss", "phy"]),
        ("tcp/", &above_protocols),
        ("arp/", &above_protocols),
        ("ipv4/", &above_protocols),
        ("icmp/", &above_protocols),
        ("stack/", &["runtime", "api", "apps", "xsk", "engine", "cli", "control", "rss"]),
    ];
    let mut bad = Vec::new();
    for (file, line) in code_lines() {
        if is_test_file(&file) {
            continue;
        }
        for (dir, banned) in rules {
            if file.starts_with(dir) {
                for m in banned {
                    if line.contains(&format!("crate::{m}::")) || line.contains(&format!("crate::{m};")) || line.contains(&format!("crate::{m}}}")) {
                        bad.push(format!("{file}: {} (names crate::{m})", line.trim()));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "imports pointing up:\n{}", bad.join("\n"));
}
