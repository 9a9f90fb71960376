//! Compiles the XDP program in `bpf/` with clang and generates its libbpf-rs skeleton.
use libbpf_cargo::SkeletonBuilder;
use std::{env, path::PathBuf};

const SRC: &str = "../bpf/steer.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("steer.skel.rs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("target arch");
    // asm/types.h lives in the multiarch include dir, which clang -target bpf does not search.
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => panic!("unsupported target arch {other} for the XDP program"),
    };
    SkeletonBuilder::new()
        .source(SRC)
        .clang_args(["-O2", "-g", "-Wall", "-I", &format!("/usr/include/{multiarch}")])
        .build_and_generate(&out)
        .unwrap_or_else(|e| {
            panic!("building {SRC} failed: {e:#} (is clang installed? run scripts/deps.sh)")
        });
    println!("cargo:rerun-if-changed={SRC}");
}
