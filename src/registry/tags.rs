//! Listing a repository's tags (`GET /v2/<name>/tags/list`, page by page), so a plan asks
//! about a tag only when the registry has it: a first mirror into a fresh repository then
//! asks one question per page instead of one per image.

use std::collections::BTreeSet;

use reqwest::header::LINK;
use reqwest::StatusCode;
use serde::Deserialize;

use super::challenge::Scope;
use super::store::RegistryStore;

/// Tags asked for per page.
const PAGE: usize = 1000;
/// Pages followed before giving up on the list (the caller then asks tag by tag).
const MOST_PAGES: usize = 100;

/// A repository's tags, as its registry listed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    pub(crate) tags: BTreeSet<String>,
    /// The registry said it does not know the repository (`NAME_UNKNOWN`): nothing was ever
    /// tagged there. It may still hold blobs (the distribution registry answers so until a
    /// first manifest), so this does not say the repository is empty.
    pub(crate) unknown: bool,
}

#[derive(Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}

/// The tags of `repo`, every page; none, and `unknown`, when the registry says it does not
/// know the repository (`NAME_UNKNOWN`). `None` when it does not list them (any other answer,
/// a body it cannot read, too many pages): the caller asks tag by tag, as without a list.
pub(super) async fn list(store: &RegistryStore, repo: &str) -> Option<Listing> {
    let client = &store.client;
    let mut url = client.url(&format!("{repo}/tags/list?n={PAGE}")).await.ok()?;
    let mut tags = BTreeSet::new();
    for _ in 0..MOST_PAGES {
        let resp = client.send(&[Scope::pull(repo)], |h| h.get(&url)).await.ok()?;
        let status = resp.status();
        let next = resp.headers().get(LINK).and_then(|v| v.to_str().ok()).and_then(next_page).map(str::to_string);
        // Each page bounded as a manifest is: an answer over the limit is no list.
        let body = store.read_limited(&format!("tags of {repo}"), resp).await.ok()?;
        if status == StatusCode::NOT_FOUND && tags.is_empty() {
            return unknown_repository(&body).then_some(Listing { tags, unknown: true });
        }
        if !status.is_success() {
            return None;
        }
        tags.extend(serde_json::from_slice::<TagList>(&body).ok()?.tags.unwrap_or_default());
        match next {
            Some(path) if path.starts_with(&format!("/v2/{repo}/tags/list")) => {
                url = client.url(path.trim_start_matches("/v2/")).await.ok()?;
            }
            Some(_) => return None,
            None => return Some(Listing { tags, unknown: false }),
        }
    }
    None
}

/// The path of a `Link: </v2/…>; rel="next"` header.
fn next_page(link: &str) -> Option<&str> {
    let (target, params) = link.split_once(';')?;
    let next = params.split(';').any(|p| p.trim().trim_start_matches("rel=").trim_matches('"') == "next");
    next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
}

/// A 404 that says the repository is unknown, not that the registry lacks the endpoint.
fn unknown_repository(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).contains("NAME_UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_next_page_of_a_link_header() {
        let link = r#"</v2/mirror/tags/list?n=1000&last=4.14.9-x86_64-cli>; rel="next""#;
        assert_eq!(next_page(link), Some("/v2/mirror/tags/list?n=1000&last=4.14.9-x86_64-cli"));
        assert_eq!(next_page(r#"</v2/mirror/tags/list?n=2>; rel="prev""#), None);
        assert_eq!(next_page("no link"), None);
    }

    #[test]
    fn only_name_unknown_means_no_repository() {
        assert!(unknown_repository(br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}"#));
        assert!(!unknown_repository(b"404 page not found"));
    }
}
