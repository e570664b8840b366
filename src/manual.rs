//! Shell completion scripts and the manual page, generated from the clap definitions in
//! `cli.rs` so they never drift from `--help`.

use std::io::Write as _;

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;

use crate::cli::Cli;

/// The name kubectl and oc look the plugin up by.
const BIN: &str = "kubectl-release_mirror";

/// Print the completion script for `shell` on stdout.
pub fn completion(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    std::io::stdout().write_all(&out).context("failed to write the completion script to stdout")
}

/// Print the manual page (roff) on stdout.
pub fn man_page() -> Result<()> {
    let cmd = Cli::command().name(BIN);
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).context("failed to render the manual page")?;
    std::io::stdout().write_all(&out).context("failed to write the manual page to stdout")
}
