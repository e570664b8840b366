//! Mirror a release between two registries through the library's public API, as the
//! command line does: verify its signature first, copy every image, print the JSON report.
//!
//! ```text
//! cargo run --example mirror_between_registries -- SOURCE_RELEASE DEST_REPO [--insecure] \
//!     [--key KEYRING_FILE] [--store URL]
//! ```
//! e.g. `… quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64 mirror.internal:5000/ocp/release`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use release_mirror::events::Event;
use release_mirror::job::{SignatureCheck, SignaturePolicy};
use release_mirror::mirror::Target;
use release_mirror::reference::ImageRef;
use release_mirror::Job;

fn main() -> Result<()> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("failed to install the rustls crypto provider"))?;
    let mut args = std::env::args().skip(1);
    let (Some(from), Some(to)) = (args.next(), args.next()) else {
        bail!("usage: mirror_between_registries SOURCE_RELEASE DEST_REPO [--insecure] [--key FILE] [--store URL]");
    };
    let target = Target {
        to: ImageRef::parse_repository(&to)?,
        release_image: None,
        skip_release_image: false,
        release_repo: None,
    };
    let mut job = Job::new(ImageRef::parse(&from)?, target);
    let mut check = SignatureCheck::default();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--insecure" => job.http.insecure = true,
            "--key" => check.keys.push(PathBuf::from(args.next().context("--key needs a file")?)),
            "--store" => check.stores.push(args.next().context("--store needs a URL")?),
            other => bail!("unknown argument {other:?}"),
        }
    }
    job.signatures = SignaturePolicy::Verify(check);
    // Warnings on stderr; progress and information are dropped.
    let events = Arc::new(|event: Event| {
        if let Event::Warning(message) = event {
            eprintln!("warning: {message}");
        }
    });
    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    let report = runtime.block_on(release_mirror::run(&job, events))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    report.into_result()
}
