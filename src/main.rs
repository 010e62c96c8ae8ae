use std::process::ExitCode;

// Loading a big compose file makes hundreds of thousands of small allocations (one per YAML
// node and string): with mimalloc, `plan` of 1,000 services takes a quarter less time
// (bench/plan.sh). Built without transparent huge pages, which would add 14 MB of RSS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // bollard and reqwest both use rustls; choose the crypto provider once, before either
    // loads a certificate (with two providers compiled in, rustls cannot pick one itself).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    ExitCode::from(shipctl::cli::main())
}
