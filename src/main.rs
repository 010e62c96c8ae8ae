use std::process::ExitCode;

fn main() -> ExitCode {
    // bollard and reqwest both use rustls; choose the crypto provider once, before either
    // loads a certificate (with two providers compiled in, rustls cannot pick one itself).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    ExitCode::from(shipctl::cli::main())
}
