//! The image-store interface over the OCI distribution API.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Response, StatusCode};

use super::challenge::Scope;
use super::client::RegistryClient;
use super::resume::resuming;
use super::upload::{Session, Upload};
use super::RegistryError;
use crate::digest::Digest;
use crate::manifest;
use crate::reference::{check_repository, check_tag};
use crate::store::{verified, BlobCheck, BlobReader, ImageStore, RawManifest, StoreError, MAX_MANIFEST_BYTES};

/// A registry as an image store.
#[derive(Clone)]
pub struct RegistryStore {
    pub(super) client: RegistryClient,
    check: BlobCheck,
    /// Upload sessions a mount opened instead of mounting (202), by repository and digest:
    /// the upload of that blob, which follows, goes through them rather than a new one.
    parked: Arc<Mutex<Parked>>,
}

/// Open sessions (and their upload ids) by repository and digest.
type Parked = HashMap<(String, Digest), (Session, u64)>;

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

impl RegistryStore {
    /// The store of the registry `client` talks to.
    pub fn new(client: RegistryClient) -> RegistryStore {
        RegistryStore { client, check: BlobCheck::Digest, parked: Arc::default() }
    }

    /// How blobs pushed here are checked (default: length and digest).
    pub(crate) fn with_blob_check(mut self, check: BlobCheck) -> RegistryStore {
        self.check = check;
        self
    }

    pub(crate) fn host(&self) -> &str {
        self.client.host()
    }

    fn status_error(&self, what: String, resp: &Response) -> RegistryError {
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return RegistryError::NotFound { host: self.host().to_string(), what };
        }
        RegistryError::Status { host: self.host().to_string(), what, status: status.as_u16(), detail: String::new() }
    }

    /// The tags of `repo`, or `None` when the registry does not list them (see
    /// [`super::tags::list`]).
    pub(crate) async fn tags(&self, repo: &str) -> Option<super::tags::Listing> {
        check_repository(repo).ok()?;
        super::tags::list(self, repo).await
    }

    fn bad_name(&self, reason: String) -> RegistryError {
        RegistryError::BadName { host: self.host().to_string(), reason }
    }

    /// `<base>/v2/<repo>/<rest>`, refusing a repository name that could leave that path
    /// (names come from payloads and disk trees too, not only from the command line).
    async fn repo_url(&self, repo: &str, rest: &str) -> Result<String, RegistryError> {
        check_repository(repo).map_err(|reason| self.bad_name(reason))?;
        self.client.url(&format!("{repo}/{rest}")).await
    }

    /// `<base>/v2/<repo>/manifests/<reference>`, the reference a digest or a valid tag.
    async fn manifest_url(&self, repo: &str, reference: &str) -> Result<String, RegistryError> {
        if reference.parse::<Digest>().is_err() {
            check_tag(reference).map_err(|reason| self.bad_name(reason))?;
        }
        self.repo_url(repo, &format!("manifests/{reference}")).await
    }

    /// Read a manifest body (or another small answer), refusing anything over the size limit.
    pub(super) async fn read_limited(&self, what: &str, resp: Response) -> Result<Bytes, RegistryError> {
        let too_large = || RegistryError::TooLarge {
            host: self.host().to_string(),
            what: what.to_string(),
            limit: MAX_MANIFEST_BYTES,
        };
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| RegistryError::Body {
                host: self.host().to_string(),
                what: what.to_string(),
                source,
            })?;
            if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

fn accept_header() -> String {
    manifest::ACCEPTED.join(", ")
}

impl ImageStore for RegistryStore {
    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<RawManifest, StoreError> {
        let what = format!("manifest {repo}:{reference}");
        let url = self.manifest_url(repo, reference).await?;
        let resp = self.client.send(&[Scope::pull(repo)], |h| h.get(&url).header(ACCEPT, accept_header())).await?;
        if !resp.status().is_success() {
            return Err(self.status_error(what, &resp).into());
        }
        let header_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = self.read_limited(&what, resp).await?;
        let digest = Digest::of(&bytes);
        if let Ok(expected) = reference.parse::<Digest>() {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.host().to_string(),
                    what,
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                }
                .into());
            }
        }
        let media_type = match header_type.split(';').next().map(str::trim) {
            Some(t) if manifest::ACCEPTED.contains(&t) => t.to_string(),
            _ => manifest::sniff_media_type(&bytes),
        };
        Ok(RawManifest { bytes, media_type, digest })
    }

    async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, StoreError> {
        if self.client.learned().no_manifest_head.load(Ordering::Relaxed) {
            return self.digest_by_get(repo, reference).await;
        }
        let url = self.manifest_url(repo, reference).await?;
        let resp = self.client.send(&[Scope::pull(repo)], |h| h.head(&url).header(ACCEPT, accept_header())).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let header = resp.headers().get(DOCKER_CONTENT_DIGEST).and_then(|v| v.to_str().ok());
                match header.and_then(|h| h.parse::<Digest>().ok()) {
                    Some(d) => Ok(Some(d)),
                    None => self.digest_by_get(repo, reference).await,
                }
            }
            // A registry that does not answer HEAD on manifests is asked with GET from now on.
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED => {
                self.client.learned().no_manifest_head.store(true, Ordering::Relaxed);
                self.digest_by_get(repo, reference).await
            }
            _ => Err(self.status_error(format!("manifest {repo}:{reference}"), &resp).into()),
        }
    }

    async fn put_manifest(&self, repo: &str, reference: &str, m: &RawManifest) -> Result<(), StoreError> {
        let what = format!("manifest {repo}:{reference}");
        let url = self.manifest_url(repo, reference).await?;
        let resp = self
            .client
            .send(&[Scope::push(repo)], |h| h.put(&url).header(CONTENT_TYPE, &m.media_type).body(m.bytes.clone()))
            .await?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let detail = format!(": {}", resp.text().await.unwrap_or_default().trim());
            return Err(RegistryError::Status { host: self.host().to_string(), what, status, detail }.into());
        }
        let stored = resp.headers().get(DOCKER_CONTENT_DIGEST).and_then(|v| v.to_str().ok()).map(str::to_string);
        match stored {
            Some(d) if d != m.digest.as_str() => Err(RegistryError::DigestMismatch {
                host: self.host().to_string(),
                what,
                expected: m.digest.to_string(),
                actual: d,
            }
            .into()),
            _ => Ok(()),
        }
    }

    async fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        let url = self.repo_url(repo, &format!("blobs/{digest}")).await?;
        let resp = self.client.send(&[Scope::pull(repo)], |h| h.head(&url)).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(content_length(&resp).unwrap_or(0))),
            _ => Err(self.status_error(format!("blob {repo}@{digest}"), &resp).into()),
        }
    }

    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<BlobReader, StoreError> {
        let url = self.repo_url(repo, &format!("blobs/{digest}")).await?;
        let resp = self.client.send(&[Scope::pull(repo)], |h| h.get(&url)).await?;
        if !resp.status().is_success() {
            return Err(self.status_error(format!("blob {repo}@{digest}"), &resp).into());
        }
        let size = content_length(&resp).unwrap_or(0);
        let stream = resuming(self.client.clone(), url, repo, digest, resp);
        Ok(BlobReader { size, stream })
    }

    async fn put_blob(&self, repo: &str, digest: &Digest, blob: BlobReader) -> Result<(), StoreError> {
        let (session, id) = match self.take_parked(repo, digest) {
            Some(parked) => parked,
            None => self.open_session(repo, digest).await?,
        };
        let up = Upload { client: &self.client, repo, digest };
        let stream = verified(blob.stream, digest.clone(), blob.size, self.check);
        let done = if session.chunked(&self.client) {
            let done = up.chunked(&session, stream).await;
            if done.is_err() {
                up.cancel(&session).await;
            }
            done
        } else {
            up.monolithic(&session, stream, blob.size).await
        };
        // Interrupted before this, the session stays listed and is cancelled on the way out.
        self.client.upload_finished(id);
        Ok(done?)
    }

    /// `POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<from>`. A registry that cannot
    /// mount (the blob is not there, or it does not mount at all) opens an upload session
    /// instead (202): it is kept for the upload of this blob, which follows, so the blob is
    /// still sent once and no session is left to expire.
    async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool, StoreError> {
        check_repository(from).map_err(|reason| self.bad_name(reason))?;
        let url = self.repo_url(repo, "blobs/uploads/").await?;
        // From the repository itself (finding a blob an interrupted run left): one scope.
        let scopes = if from == repo { vec![Scope::push(repo)] } else { vec![Scope::push(repo), Scope::pull(from)] };
        let query = [("mount", digest.as_str()), ("from", from)];
        let resp = self.client.send(&scopes, |h| h.post(&url).query(&query).header(CONTENT_LENGTH, "0")).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                let request_url = resp.url().to_string();
                if let Some(session) = Session::opened(&resp, &request_url) {
                    let id = self.client.upload_started(repo, &session.url);
                    let old = self.lock_parked().insert((repo.to_string(), digest.clone()), (session, id));
                    if let Some((_, old_id)) = old {
                        self.client.upload_finished(old_id);
                    }
                }
                Ok(false)
            }
            _ => Err(self.status_error(format!("mount of blob {digest} from {from} into {repo}"), &resp).into()),
        }
    }
}

impl RegistryStore {
    /// The digest of a manifest read whole (no `HEAD`, or no digest header in its answer).
    async fn digest_by_get(&self, repo: &str, reference: &str) -> Result<Option<Digest>, StoreError> {
        match self.get_manifest(repo, reference).await {
            Ok(m) => Ok(Some(m.digest)),
            Err(e) if matches!(e.inner().downcast_ref(), Some(RegistryError::NotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /v2/<repo>/blobs/uploads/`: a new session, listed as open until finished.
    async fn open_session(&self, repo: &str, digest: &Digest) -> Result<(Session, u64), RegistryError> {
        let start = self.repo_url(repo, "blobs/uploads/").await?;
        let scopes = [Scope::push(repo)];
        let resp = self.client.send(&scopes, |h| h.post(&start).header(CONTENT_LENGTH, "0")).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(format!("upload of blob {repo}@{digest}"), &resp));
        }
        let session = Session::opened(&resp, &start).ok_or_else(|| RegistryError::BadResponse {
            host: self.host().to_string(),
            what: format!("blob {repo}@{digest}"),
            reason: "upload has no usable Location".into(),
        })?;
        let id = self.client.upload_started(repo, &session.url);
        Ok((session, id))
    }

    fn lock_parked(&self) -> std::sync::MutexGuard<'_, Parked> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_parked(&self, repo: &str, digest: &Digest) -> Option<(Session, u64)> {
        self.lock_parked().remove(&(repo.to_string(), digest.clone()))
    }
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers().get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}
