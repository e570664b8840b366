//! `kubectl-release_mirror`: parse the flags, build the job, run it, print the report or the
//! error chain once, exit with its code. The engine is the `release_mirror` library.

mod cli;
mod manual;
mod options;
mod render;
mod text;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use release_mirror::exit::{self, Code, RunError};
use release_mirror::signature;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    match &cli.command {
        Some(cli::Command::VerifySignature(args)) => return finish(verify_signature(args)),
        Some(cli::Command::Path(args)) => return finish(upgrade_path(args)),
        Some(cli::Command::Completion { shell }) => return finish(manual::completion(*shell)),
        Some(cli::Command::Man) => return finish(manual::man_page()),
        None => {}
    }
    let job = match options::job(&cli.mirror) {
        Ok(job) => job,
        Err(err) => return finish(Err(err)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            render::line(&format!("error: failed to start the async runtime: {e}"));
            return ExitCode::from(Code::MirrorFailed as u8);
        }
    };
    let output = options::output(&cli.mirror);
    let renderer = Arc::new(render::Renderer::new(output.quiet, output.verbose));
    let result = runtime.block_on(release_mirror::run::run_until(&job, renderer.clone(), interrupted()));
    // Dropping the runtime drops in-flight transfers, whose temp files remove themselves.
    drop(runtime);
    renderer.clear();
    let printed = result.and_then(|report| {
        match output.format {
            cli::OutputFormat::Json => emit(&text::json(&report))?,
            cli::OutputFormat::Text => emit(&text::report(&report, output.instructions))?,
        }
        Ok(report.into_result()?)
    });
    finish(printed)
}

/// `path`: the releases and hops a selection makes, on stdout; no registry is touched.
fn upgrade_path(args: &cli::PathArgs) -> anyhow::Result<()> {
    let selection = options::path_selection(&args.graph)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("failed to start the async runtime: {e}"))?;
    let selection =
        runtime.block_on(release_mirror::select::from_graph(&selection, &options::http_settings(&args.http)))?;
    match args.output {
        cli::OutputFormat::Text => emit(&text::path(&selection)),
        cli::OutputFormat::Json => emit(&text::json(&selection)),
    }
}

/// `verify-signature`: the report on stdout; exit 3 when the signature is not valid.
fn verify_signature(args: &cli::VerifySignatureArgs) -> anyhow::Result<()> {
    let (Some(digest), Some(signature)) = (&args.digest, &args.signature) else { return verify_sigstore(args) };
    let report = signature::offline::check(digest, signature, &args.key).map_err(exit::signature_failure)?;
    for warning in &report.warnings {
        render::line(&format!("warning: {warning}"));
    }
    match args.output {
        cli::OutputFormat::Text => emit(&report.to_text()),
        cli::OutputFormat::Json => emit(&format!("{}\n", report.to_json())),
    }
}

/// `verify-signature --sigstore IMAGE`: one line (or JSON entry) per image checked; exit 3
/// unless every one verifies.
fn verify_sigstore(args: &cli::VerifySignatureArgs) -> anyhow::Result<()> {
    use release_mirror::reference::ImageRef;
    use release_mirror::run::{SigstoreCheck, SigstoreRefused};
    let parse = |text: &str| ImageRef::parse(text).map_err(|e| exit::usage(format!("{text}: {e}")));
    let check = SigstoreCheck {
        image: parse(args.sigstore.as_deref().unwrap_or_default())?,
        from_dir: args.from_dir.clone(),
        keys: vec![args.key.clone()],
        identity: args.identity.as_deref().map(parse).transpose()?,
        http: release_mirror::http::Settings { insecure: args.insecure, ..Default::default() },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("failed to start the async runtime: {e}"))?;
    let results = runtime
        .block_on(release_mirror::run::verify_sigstore(&check, std::sync::Arc::new(render::Renderer::new(false, 0))))?;
    match args.output {
        cli::OutputFormat::Text => emit(&text::sigstore_results(&results))?,
        cli::OutputFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&results)?))?,
    }
    let failed: Vec<String> =
        results.iter().filter(|r| !r.verified()).map(|r| format!("{} {}", r.digest, r.verdict)).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let msg = format!("the sigstore signature of {} does not verify: {}", check.image, failed.join(", "));
    Err(exit::signature_failure(SigstoreRefused(msg)))
}

/// Write `text` to stdout. A reader that went away (`… | head`, `| grep -q`) is not an
/// error: the work is done, and nobody is left to read the rest.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("failed to write the summary to standard output"))
        }
        _ => Ok(()),
    }
}

/// Exit with the code of `result`'s kind of failure, its error chain printed once.
fn finish<E: Into<RunError>>(result: Result<(), E>) -> ExitCode {
    match result.map_err(Into::into) {
        Ok(()) => ExitCode::from(Code::Success as u8),
        Err(err) => {
            render::line(&exit::render_chain(err.error()));
            ExitCode::from(err.failure().code() as u8)
        }
    }
}

/// Ctrl-C, SIGTERM, or SIGHUP (the SSH session that ran us closed).
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}
