//! Report output: golden Markdown, JSON round trip, well-formed SVG charts,
//! and the files of a run directory.

use bypass_bench::report::*;
use bypass_bench::stats::{CdfPoint, Percentiles};
use std::path::PathBuf;

fn latency(p50: f64, p99: f64) -> Percentiles {
    Percentiles { p50, p90: p50 * 1.5, p99, p999: p99 * 2.0, max: p99 * 4.0, mean: p50 * 1.1, count: 1000 }
}

fn cdf(scale: f64) -> Vec<CdfPoint> {
    [(0.0, 0.0), (10.0, 0.5), (14.0, 0.9), (30.0, 0.99), (60.0, 0.999), (120.0, 1.0)]
        .iter()
        .map(|&(l, f)| CdfPoint { latency_us: (l + 5.0) * scale, fraction: f })
        .collect()
}

fn with_latency(value: f64, p50: f64, p99: f64, scale: f64) -> Figure {
    Figure { latency: Some(latency(p50, p99)), cdf: cdf(scale), ..Figure::value(value) }
}

fn sample() -> Report {
    let mut r = Report::new(1_735_689_600);
    r.meta.insert("kernel".into(), "6.8.0".into());
    r.meta.insert("duration".into(), "10 s per case".into());
    let mut http_e = with_latency(412_345.0, 61.2, 140.0, 1.0);
    http_e.cpu_server = Some(1.0);
    http_e.cpu_client = Some(0.85);
    http_e.retransmits = Some(0);
    let mut http_k = with_latency(198_000.4, 150.0, 320.0, 2.5);
    http_k.cpu_server = Some(1.234);
    http_k.retransmits = Some(12);
    let nginx = with_latency(150_000.0, 180.0, 400.0, 3.0);
    let mut udp_e = Figure::value(1_500_000.0);
    udp_e.lost = 3;
    let mut idle_e = Figure::value(10_000.0);
    idle_e.memory_bytes = Some(3 * 1024 * 1024 + 512 * 1024);
    let mut idle_k = Figure::value(9_990.0);
    idle_k.errors = 10;
    idle_k.first_error = Some("connect: Too many open files (os error 24)".into());
    r.cases = vec![
        CaseResult::new("http-keepalive-32", "requests/s", "req/s", true, http_e, http_k).with_reference("nginx", nginx),
        CaseResult::new("tcp-pingpong-spin", "p50 round trip", "µs", false, with_latency(9.8, 9.8, 16.0, 0.5), with_latency(21.0, 21.0, 40.0, 1.0)),
        CaseResult::new("bulk-send", "throughput", "Gbit/s", true, Figure::value(8.4), Figure::value(10.5)),
        CaseResult::new("udp-echo", "datagrams/s", "pkt/s", true, udp_e, Figure::value(0.0)),
        CaseResult::new("idle-connections", "connections held", "conns", true, idle_e, idle_k)
            .with_note("engine memory measured after all connections were open"),
    ];
    r
}

#[test]
fn markdown_matches_golden() {
    let md = render_markdown(&sample());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/results.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &md).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (run with UPDATE_GOLDEN=1 to create)");
    assert_eq!(md, golden, "Markdown differs from tests/golden/results.md (UPDATE_GOLDEN=1 to accept)");
}

#[test]
fn markdown_without_nginx_has_no_nginx_columns() {
    let mut r = sample();
    r.cases.remove(0);
    r.meta.clear();
    let md = render_markdown(&r);
    assert!(!md.contains("nginx"));
    let header = md.lines().find(|l| l.starts_with("| case | metric")).unwrap();
    assert_eq!(
        header,
        "| case | metric | engine | kernel | ratio | engine p50 / p99 | kernel p50 / p99 | errors (engine / kernel) |"
    );
    assert!(md.contains("| tcp-pingpong-spin | p50 round trip | 9.80 µs | 21.0 µs | 2.14x better |"));
    assert!(md.contains("| bulk-send | throughput | 8.40 Gbit/s | 10.5 Gbit/s | 0.80x (worse) |"));
}

#[test]
fn ratios_follow_metric_direction() {
    let r = sample();
    let adv: Vec<Option<f64>> = r.cases.iter().map(|c| c.ratio.map(|r| (r.advantage * 100.0).round() / 100.0)).collect();
    assert_eq!(adv, vec![Some(2.08), Some(2.14), Some(0.8), None, Some(1.0)]);
    assert_eq!(r.cases[0].reference.as_ref().and_then(|x| x.ratio).unwrap().label(), "2.75x better");
}

#[test]
fn json_round_trips() {
    let r = sample();
    let text = r.to_json().unwrap();
    assert!(text.contains("\"higher_is_better\": false"));
    assert_eq!(Report::from_json(&text).unwrap(), r);
    // Optional fields may be absent in hand-written files.
    let minimal = r#"{"run":"x","started_unix":0,"cases":[{"case":"c","metric":"m","unit":"u",
        "higher_is_better":true,"engine":{"value":2.0},"kernel":{"value":1.0},"ratio":null}]}"#;
    let m = Report::from_json(minimal).unwrap();
    assert_eq!(m.cases[0].engine.errors, 0);
    assert!(m.meta.is_empty());
}

/// Checks that every element opened in `svg` is closed in order (text
/// content and self-closing tags allowed) and that `&` only starts entities.
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    assert!(svg.trim_end().ends_with("</svg>"));
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        for (i, _) in text.match_indices('&') {
            let ent = &text[i..];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"].iter().any(|e| ent.starts_with(e)), "bare & in {text:?}");
        }
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            stack.push(tag.split_whitespace().next().unwrap());
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

#[test]
fn latency_cdf_svg_is_well_formed_with_every_series() {
    let r = sample();
    let svg = latency_cdf_svg(&r.cases[0]).unwrap().unwrap();
    assert_well_formed(&svg);
    for name in ["engine", "kernel", "nginx", "http-keepalive-32: latency CDF", "latency (µs, log scale)"] {
        assert!(svg.contains(name), "missing {name}");
    }
    let svg = latency_cdf_svg(&r.cases[1]).unwrap().unwrap();
    assert_well_formed(&svg);
    assert!(svg.contains("engine") && svg.contains("kernel") && !svg.contains("nginx"));
    assert!(latency_cdf_svg(&r.cases[2]).unwrap().is_none(), "no latency, no chart");
}

#[test]
fn ratio_bars_svg_is_well_formed() {
    let mut r = sample();
    r.cases[2].case = "bulk <send> & co".into();
    let svg = ratio_bars_svg(&r.cases).unwrap().unwrap();
    assert_well_formed(&svg);
    for s in ["http-keepalive-32", "tcp-pingpong-spin", "bulk &lt;send&gt; &amp; co", "idle-connections", "2.08x", "0.80x"] {
        assert!(svg.contains(s), "missing {s}");
    }
    assert!(!svg.contains("udp-echo"), "cases without a ratio have no bar");
    assert!(ratio_bars_svg(&[]).unwrap().is_none());
}

#[test]
fn writes_the_run_directory() {
    let root = std::env::temp_dir().join(format!("bypass-bench-test-{}", std::process::id()));
    let r = sample();
    let dir = r.write_under(&root).unwrap();
    assert_eq!(dir, root.join("20250101T000000Z"));
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "latency-http-keepalive-32.svg",
            "latency-tcp-pingpong-spin.svg",
            "ratios.svg",
            "results.json",
            "results.md",
        ]
    );
    let back = Report::from_json(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(back, r);
    assert_eq!(std::fs::read_to_string(dir.join("results.md")).unwrap(), render_markdown(&r));
    std::fs::remove_dir_all(&root).unwrap();
}
