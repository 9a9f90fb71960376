//! The floor rows of the report: "floor + X µs" for each side from a results fixture,
//! the table, and the `floor` field of results.json.

use bypass_bench::floor::{floor_for, FloorClient};
use bypass_bench::report::*;
use bypass_bench::stats::Percentiles;

fn lat(p50: f64) -> Figure {
    let p = Percentiles { p50, p90: p50 * 1.2, p99: p50 * 1.5, p999: p50 * 3.0, max: p50 * 10.0, mean: p50 * 1.1, count: 1000 };
    Figure { latency: Some(p), ..Figure::value(p50) }
}

fn report() -> Report {
    let mut r = Report::new(1_735_689_600);
    let spin = FloorClient::KernelUdp;
    let e2e = FloorClient::RawAfXdp;
    r.cases = vec![
        CaseResult::new("tcp-pingpong-spin", "64 B round trip p50", "us", false, lat(5.49), lat(6.56)).with_floor(
            spin.client(),
            spin.server(),
            spin.compares(),
            lat(3.23),
        ),
        CaseResult::new("e2e-tcp-pingpong", "64 B round trip p50", "us", false, lat(4.86), Figure { errors: 1, ..Figure::value(f64::NAN) }).with_floor(
            e2e.client(),
            e2e.server(),
            e2e.compares(),
            lat(4.9),
        ),
        CaseResult::new("udp-echo", "pkt/s", "pkt/s", true, Figure::value(1e6), Figure::value(5e5)),
    ];
    r
}

#[test]
fn each_side_is_stated_above_its_floor() {
    let r = report();
    let f = r.cases[0].floor.as_ref().unwrap();
    assert!((f.engine_over_floor_us.unwrap() - 2.26).abs() < 1e-9);
    assert!((f.kernel_over_floor_us.unwrap() - 3.33).abs() < 1e-9);
    let f = r.cases[1].floor.as_ref().unwrap();
    assert!((f.engine_over_floor_us.unwrap() + 0.04).abs() < 1e-9, "below the floor is shown, not hidden");
    assert_eq!(f.kernel_over_floor_us, None, "no figure, no distance");
    assert!(r.cases[2].floor.is_none());
    assert_eq!(above_floor(Some(2.26)), "floor + 2.26 µs");
    assert_eq!(above_floor(Some(-0.04)), "floor - 0.04 µs");
    assert_eq!(above_floor(None), "-");
}

#[test]
fn the_floor_table_names_client_server_and_what_differs() {
    let md = render_markdown(&report());
    assert!(md.contains("## The floor"), "{md}");
    let row = md.lines().find(|l| l.starts_with("| tcp-pingpong-spin | kernel UDP socket, spinning -> raw AF_XDP reflector")).expect("spin floor row");
    assert!(row.contains("| 3.23 / 4.84 µs | 5.49 µs = floor + 2.26 µs | 6.56 µs = floor + 3.33 µs | same kernel client, UDP instead of TCP"), "{row}");
    let row = md.lines().find(|l| l.starts_with("| e2e-tcp-pingpong | raw AF_XDP client (no stack) -> raw AF_XDP reflector")).expect("e2e floor row");
    assert!(row.contains("| 4.86 µs = floor - 0.04 µs | - µs = - |"), "{row}");
    assert!(!md.lines().any(|l| l.starts_with("| udp-echo | kernel") || l.starts_with("| udp-echo | raw")), "no floor row without a floor");
    // The floor's CDF is drawn with the sides'.
    assert_eq!(report().cases[0].sides().iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["engine", "kernel", "floor"]);
    // No floor anywhere: no section.
    let mut r = report();
    r.cases.iter_mut().for_each(|c| c.floor = None);
    assert!(!render_markdown(&r).contains("The floor"));
}

#[test]
fn results_json_carries_the_floor_per_case() {
    let r = report();
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    let f = &v["cases"][0]["floor"];
    assert_eq!(f["client"], "kernel UDP socket, spinning");
    assert_eq!(f["server"], "raw AF_XDP reflector (bypass run --reflect-udp 7)");
    assert_eq!(f["figure"]["value"], 3.23);
    assert!((f["engine_over_floor_us"].as_f64().unwrap() - 2.26).abs() < 1e-9);
    assert!(v["cases"][2].get("floor").is_none(), "absent, not null, without a floor");
    // A side that failed (NaN, written as null) reads back as NaN.
    let back = Report::from_json(&r.to_json().unwrap()).unwrap();
    assert!(back.cases[1].kernel.value.is_nan());
    assert_eq!(back.cases[0], r.cases[0]);
}

#[test]
fn each_pingpong_case_gets_the_floor_with_its_own_kind_of_client() {
    assert_eq!(floor_for("tcp-pingpong-spin"), Some(FloorClient::KernelUdp));
    assert_eq!(floor_for("e2e-tcp-pingpong"), Some(FloorClient::RawAfXdp));
    assert_eq!(floor_for("tcp-pingpong-blocking"), None, "a blocking client has no spinning floor");
    assert_eq!(floor_for("udp-echo"), None);
}
