//! `kubectl-release_mirror`: parse, run, print the error chain once, exit with its code.

mod cli;
mod cluster;
mod digest;
mod disk;
mod exit;
#[cfg(test)]
#[path = "../fuzz/mod.rs"]
mod fuzz;
mod manifest;
mod manual;
mod mirror;
mod options;
mod progress;
mod reference;
mod registry;
mod release;
mod run;
mod signature;
mod store;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    match &cli.command {
        Some(cli::Command::VerifySignature(args)) => {
            return finish(signature::offline::run(args).map_err(exit::signature_failure))
        }
        Some(cli::Command::Completion { shell }) => return finish(manual::completion(*shell)),
        Some(cli::Command::Man) => return finish(manual::man_page()),
        None => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(exit::Code::MirrorFailed as u8);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = run::run(&cli.mirror) => r,
            _ = interrupted() => Err(anyhow::Error::new(exit::Interrupted)),
        }
    });
    // Dropping the runtime drops in-flight transfers, whose temp files remove themselves.
    drop(runtime);
    finish(result)
}

/// Exit with the code of `result`, its error chain printed once.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(exit::Code::Success as u8),
        Err(err) => {
            eprintln!("{}", exit::render_chain(&err));
            ExitCode::from(exit::code_for(&err) as u8)
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
