//! What every registry of a run shares: the HTTP clients (built from the run's
//! [`crate::http::Settings`], plus the answer timeout and the connection pool), credentials, the retry policy and its counters, the stall timeout, and the upload
//! sessions still open (cancelled on an interrupt).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::auth::Credentials;
use super::challenge::Scope;
use super::client::RegistryClient;
use super::RegistryError;
use crate::progress::Progress;
use crate::store::Retries;

/// How to reach registries: resolved from the registry flags, plain values.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Credentials file (`--registry-config`); `None` follows the default chain.
    pub auth_file: Option<std::path::PathBuf>,
    /// Tries per request (`--retries`); 0 means the default.
    pub tries: u32,
    /// A transfer that sends nothing for this long, or less than [`STALL_FLOOR`] bytes a
    /// second over this long, is stalled (`--stall-timeout`); zero means the default.
    pub stall_timeout: Duration,
}

/// The default `--stall-timeout`.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes a second below which a transfer crawls (curl's `--speed-limit` idea).
pub const STALL_FLOOR: u64 = 1024;
/// A request whose answer has not begun this many stall timeouts after it was sent is
/// abandoned (2 min by default). Streamed uploads are timed from their last byte instead.
const ANSWER_STALLS: u32 = 4;

/// Settings shared by every registry of a run.
#[derive(Clone)]
pub struct Transport {
    pub(super) http: reqwest::Client,
    /// The same, without the answer timeout: a streamed upload lasts as long as its source
    /// takes to send the bytes (minutes for a large layer over a slow link), and is timed
    /// from its last byte.
    pub(super) streaming: reqwest::Client,
    pub(super) insecure: bool,
    pub(super) credentials: Arc<Credentials>,
    /// The run's retry budget, shared with the stores' executor.
    pub(super) retries: Retries,
    /// Where retries and resumed downloads are reported.
    pub(super) progress: Progress,
    pub(super) uploads: Arc<Mutex<OpenUploads>>,
    pub(super) stall: Duration,
}

/// Blob uploads begun (POST answered with a Location) and not yet finished.
#[derive(Default)]
pub(super) struct OpenUploads {
    pub(super) next: u64,
    pub(super) open: HashMap<u64, (RegistryClient, String, String)>,
}

impl Transport {
    /// Build the HTTP clients from the run's HTTP setup and the registry settings; retries
    /// are reported to `progress`.
    pub fn new(http: &crate::http::Settings, args: &Settings, progress: Progress) -> Result<Transport, RegistryError> {
        let stall = if args.stall_timeout.is_zero() { DEFAULT_STALL_TIMEOUT } else { args.stall_timeout };
        let builder = || Ok::<_, RegistryError>(http.builder()?.pool_max_idle_per_host(32));
        let streaming = builder()?.build().map_err(RegistryError::Client)?;
        let http_client = builder()?.read_timeout(stall * ANSWER_STALLS).build().map_err(RegistryError::Client)?;
        let credentials = Arc::new(Credentials::load(args.auth_file.as_deref())?);
        Ok(Transport {
            http: http_client,
            streaming,
            insecure: http.insecure,
            credentials,
            retries: Retries::new(args.tries),
            progress,
            uploads: Arc::default(),
            stall,
        })
    }

    /// How long a transfer may send nothing before it counts as stalled.
    pub(crate) fn stall_timeout(&self) -> Duration {
        self.stall
    }

    /// Cancel (DELETE) every upload session still open, as on an interrupt, so the registry
    /// does not keep them until they expire; a few seconds at most. Returns how many were
    /// cancelled.
    pub(crate) async fn cancel_open_uploads(&self) -> usize {
        let open: Vec<_> =
            self.uploads.lock().unwrap_or_else(|p| p.into_inner()).open.drain().map(|(_, u)| u).collect();
        let cancels = open.iter().map(|(client, repo, location)| async move {
            let scopes = [Scope::push(repo)];
            let req = client.http().delete(location.as_str());
            client.send_once(&scopes, req).await.is_ok_and(|r| r.status().is_success())
        });
        let all = futures_util::future::join_all(cancels);
        tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .map_or(0, |done| done.into_iter().filter(|ok| *ok).count())
    }

    /// The run's retry budget: tries per request, one budget per blob, the retry count.
    pub(crate) fn retries(&self) -> &Retries {
        &self.retries
    }

    /// A client for one registry host.
    pub fn client(&self, host: &str) -> RegistryClient {
        RegistryClient::new(self.clone(), host)
    }
}
