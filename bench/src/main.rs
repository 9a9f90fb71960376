//! `bypass-bench`: will run every case against the engine and the kernel and
//! write `bench-results/<time>/`. The runner is not written yet; the
//! measurement, statistics and reporting parts are in the `bypass_bench`
//! library (`load`, `stats`, `report`).

fn main() {
    eprintln!("bypass-bench: the runner is coming (see issue 5); the load generators, statistics and reports are in the bypass_bench library");
    std::process::exit(2);
}
