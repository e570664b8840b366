//! Reading what the plan needs: the source manifests and the destination's state.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use futures_util::{future, stream, StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use super::plan::{DestState, Mapping, SourceImage};
use super::stores::Stores;
use crate::digest::Digest;
use crate::manifest::{self, Parsed};
use crate::reference::{check_tag, ImageRef};
use crate::registry::Listing;
use crate::store::{ImageStore, RawManifest};

/// Whether the plan needs the image's manifest (and blob list): yes unless the destination
/// has it, tagged, and `whole` says its manifest implies its blobs (a registry); a tree's
/// images are checked blob by blob.
fn needs_read(m: &Mapping, state: &DestState, whole: impl Fn(&ImageRef) -> bool) -> bool {
    !(state.has_manifest(m) && state.has_tag(m) && whole(&m.destination))
}

/// Both sides' answers the plan needs, gathered in one pass: each image (all mappings of one
/// digest) goes through its own steps — its tags and manifest at the destination, its
/// manifest from the source when the destination lacks it, the destination's copies of its
/// blobs — as soon as the step before is answered, so the distant source's round trips
/// overlap the destination's checks instead of waiting for all of them (a long path asks
/// thousands of each). Requests go `limit` at a time on each side; a blob shared by images
/// is asked about once, and not at all in a repository its registry does not know
/// ([`DestState::unasked`]). `dests: None` (a dry run whose destination does not answer):
/// every image is read from the source and the destination counts as empty.
pub(crate) async fn survey(
    sources: &Stores,
    dests: Option<&Stores>,
    mappings: &[Mapping],
    known: &[RawManifest],
    limit: usize,
    check: TreeCheck,
) -> Result<(BTreeMap<Digest, SourceImage>, DestState)> {
    // In the mappings' order: the release's own image is asked about first.
    let mut groups: Vec<(&Digest, Vec<&Mapping>)> = Vec::new();
    let mut index: HashMap<&Digest, usize> = HashMap::new();
    for m in mappings {
        let at = *index.entry(&m.digest).or_insert_with(|| {
            groups.push((&m.digest, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(m);
    }
    let listed = match dests {
        Some(dests) => list_tags(dests, mappings).await?,
        None => HashMap::new(),
    };
    let survey = Survey {
        sources,
        dests,
        listed,
        known: known.iter().map(|k| (&k.digest, k)).collect(),
        check,
        source_slots: Semaphore::new(limit),
        dest_slots: Semaphore::new(limit),
        asked: Mutex::new(HashSet::new()),
    };
    let found: Vec<(Option<SourceImage>, DestState)> = stream::iter(groups)
        .map(|(digest, group)| survey.image(digest, group))
        .buffer_unordered(limit.saturating_mul(4).max(1))
        .try_collect()
        .await?;
    let (mut images, mut state) = (BTreeMap::new(), DestState::default());
    for (image, part) in found {
        if let Some(image) = image {
            images.insert(image.manifest.digest.clone(), image);
        }
        state.tags.extend(part.tags);
        state.manifests.extend(part.manifests);
        state.blobs.extend(part.blobs);
    }
    state.unasked = mappings.iter().filter(|m| survey.unknown(m)).map(|m| m.destination.repository.clone()).collect();
    if let Some(dests) = dests {
        forget_damaged(&mut state, mappings, &images, |dest| dests.manifest_implies_blobs(dest));
    }
    Ok((images, state))
}

/// The tags each destination repository of `mappings` has, where its registry lists them:
/// a tag it lacks needs no question, and a repository without tags has no image to reuse.
async fn list_tags(dests: &Stores, mappings: &[Mapping]) -> Result<HashMap<String, Option<Listing>>> {
    let repos: HashMap<String, ImageRef> =
        mappings.iter().map(|m| m.destination.repo_only()).map(|r| (r.to_string(), r)).collect();
    let lists = future::try_join_all(repos.into_iter().map(|(name, repo)| async move {
        let tags = dests.get(&repo)?.tags(&repo.repository).await;
        Ok::<_, anyhow::Error>((name, tags))
    }))
    .await?;
    Ok(lists.into_iter().collect())
}

/// What every image's steps share: the stores, the destination's tag lists, one request
/// budget per side, and the blobs already asked about.
struct Survey<'a> {
    sources: &'a Stores,
    dests: Option<&'a Stores>,
    /// By destination repository ([`ImageRef::repo_only`]); `None`: not listed.
    listed: HashMap<String, Option<Listing>>,
    known: HashMap<&'a Digest, &'a RawManifest>,
    check: TreeCheck,
    source_slots: Semaphore,
    dest_slots: Semaphore,
    asked: Mutex<HashSet<(String, Digest)>>,
}

impl Survey<'_> {
    /// One image: what the destination has of it, its manifest when needed, and which of its
    /// blobs the destination holds.
    async fn image(&self, digest: &Digest, group: Vec<&Mapping>) -> Result<(Option<SourceImage>, DestState)> {
        let mut state = match self.dests {
            Some(dests) => self.manifests(dests, digest, &group).await?,
            None => DestState::default(),
        };
        let whole = |dest: &ImageRef| self.dests.is_some_and(|d| d.manifest_implies_blobs(dest));
        let Some(first) = group.iter().find(|m| needs_read(m, &state, whole)) else {
            return Ok((None, state));
        };
        let image = self.read(digest, first, &state).await?;
        if let Some(dests) = self.dests {
            state.blobs = self.blobs(dests, &group, &image, &state).await?;
        }
        Ok((Some(image), state))
    }

    /// Where the destination's tags of the image point, and in which repositories it has
    /// the manifest (asked once a repository, only where no tag showed it).
    async fn manifests(&self, dests: &Stores, digest: &Digest, group: &[&Mapping]) -> Result<DestState> {
        let mut state = DestState::default();
        let tags = future::try_join_all(group.iter().map(|m| async move {
            let tag = m.destination.tag.clone().unwrap_or_default();
            // A tag the registry could not hold is still asked about: refused before any copy.
            if self.listed(m).is_some_and(|tags| !tags.contains(&tag)) && check_tag(&tag).is_ok() {
                return Ok((m, tag, None));
            }
            let _slot = self.dest_slots.acquire().await?;
            let store = dests.get(&m.destination)?;
            let what = || format!("failed to inspect {} at the destination", m.destination);
            let tagged = store.manifest_digest(&m.destination.repository, &tag).await.with_context(what)?;
            Ok::<_, anyhow::Error>((m, tag, tagged))
        }))
        .await?;
        for (m, tag, tagged) in tags {
            let repo = m.destination.repository.clone();
            if let Some(d) = tagged {
                if d == *digest {
                    state.manifests.insert((repo.clone(), d.clone()));
                }
                state.tags.insert((repo, tag), d);
            }
        }
        let mut unseen: BTreeMap<&str, &Mapping> = BTreeMap::new();
        for m in group.iter().filter(|m| !state.has_manifest(m) && !self.listed(m).is_some_and(BTreeSet::is_empty)) {
            unseen.entry(m.destination.repository.as_str()).or_insert(m);
        }
        let present = future::try_join_all(unseen.into_values().map(|m| async move {
            let _slot = self.dest_slots.acquire().await?;
            let store = dests.get(&m.destination)?;
            let what = || format!("failed to inspect {} at the destination", m.destination);
            let found = store.manifest_digest(&m.destination.repository, digest.as_str()).await.with_context(what)?;
            Ok::<_, anyhow::Error>(found.map(|d| (m.destination.repository.clone(), d)))
        }))
        .await?;
        state.manifests.extend(present.into_iter().flatten());
        Ok(state)
    }

    /// The tags of the mapping's destination repository, when its registry listed them.
    fn listed(&self, m: &Mapping) -> Option<&BTreeSet<String>> {
        self.listing(m).map(|l| &l.tags)
    }

    /// Whether the registry said it does not know the mapping's destination repository: no
    /// blob is asked about there.
    fn unknown(&self, m: &Mapping) -> bool {
        self.listing(m).is_some_and(|l| l.unknown)
    }

    fn listing(&self, m: &Mapping) -> Option<&Listing> {
        self.listed.get(&m.destination.repo_only().to_string()).and_then(Option::as_ref)
    }

    /// The image's manifest: the one already read, or the destination's copy when it has one
    /// (a rerun: no round trip to a distant source), else, or when that copy cannot be
    /// read, the source's.
    async fn read(&self, digest: &Digest, m: &Mapping, state: &DestState) -> Result<SourceImage> {
        let known = self.known.get(digest).map(|k| (*k).clone());
        if let (Some(dests), true, None) = (self.dests, state.has_manifest(m), &known) {
            let _slot = self.dest_slots.acquire().await?;
            if let Ok(image) = read_image(dests, &m.destination.with_digest(digest), digest, None).await {
                return Ok(image);
            }
        }
        let _slot = self.source_slots.acquire().await?;
        read_image(self.sources, &m.source, digest, known).await
    }

    /// Which of the image's blobs the destination holds, and their sizes, in each
    /// repository that lacks the image (in a disk tree, also where it has it: an image with
    /// a missing, truncated or corrupt blob counts as absent, so the rerun repairs it). A
    /// repository its registry does not know is not asked: each upload there finds out.
    async fn blobs(
        &self,
        dests: &Stores,
        group: &[&Mapping],
        image: &SourceImage,
        state: &DestState,
    ) -> Result<BTreeMap<(String, Digest), u64>> {
        let mut ask = Vec::new();
        let skip =
            |m: &Mapping| self.unknown(m) || (state.has_manifest(m) && dests.manifest_implies_blobs(&m.destination));
        for m in group.iter().filter(|m| !skip(m)) {
            let dest = m.destination.repo_only();
            for blob in image.blobs.iter().chain(image.children.iter().flat_map(|c| c.blobs.iter())) {
                let key = (dest.repository.clone(), blob.digest.clone());
                if self.asked.lock().unwrap_or_else(|p| p.into_inner()).insert(key) {
                    ask.push((dest.clone(), &blob.digest));
                }
            }
        }
        let found = future::try_join_all(ask.into_iter().map(|(dest, digest)| async move {
            let _slot = self.dest_slots.acquire().await?;
            let what = || format!("failed to inspect blob {digest} at {}", dest.name());
            let store = dests.get(&dest)?;
            let size = match self.check {
                TreeCheck::Contents => store.intact_blob_size(&dest.repository, digest).await,
                TreeCheck::Sizes => store.blob_size(&dest.repository, digest).await,
            };
            Ok::<_, anyhow::Error>(size.with_context(what)?.map(|s| ((dest.repository.clone(), digest.clone()), s)))
        }))
        .await?;
        Ok(found.into_iter().flatten().collect())
    }
}

async fn read_image(
    sources: &Stores,
    source: &ImageRef,
    digest: &Digest,
    known: Option<RawManifest>,
) -> Result<SourceImage> {
    let store = sources.get(source)?;
    let repo = &source.repository;
    let top = match known {
        Some(m) => m,
        None => store
            .get_manifest(repo, digest.as_str())
            .await
            .with_context(|| format!("failed to read manifest of {}", source.with_digest(digest)))?,
    };
    let describe = || format!("manifest of {}", source.with_digest(digest));
    let parsed = manifest::parse(&top.bytes, &top.media_type).with_context(describe)?;
    match parsed {
        Parsed::Image { .. } => Ok(SourceImage { blobs: parsed.blobs(), manifest: top, children: Vec::new() }),
        Parsed::List { manifests } => {
            let mut children = Vec::with_capacity(manifests.len());
            let mut held = 0;
            for child in manifests {
                held += usize::try_from(child.size).unwrap_or(usize::MAX);
                if held > manifest::MAX_LIST_CHILD_BYTES {
                    anyhow::bail!(
                        "the platform manifests of {} add up to more than {} MiB: refused (real ones are a few KiB each)",
                        describe(),
                        manifest::MAX_LIST_CHILD_BYTES >> 20
                    );
                }
                let m = store
                    .get_manifest(repo, child.digest.as_str())
                    .await
                    .with_context(|| format!("failed to read platform manifest {} of {}", child.digest, source))?;
                // A size the list understated counts as it really is.
                held += m.bytes.len().saturating_sub(usize::try_from(child.size).unwrap_or(usize::MAX));
                if held > manifest::MAX_LIST_CHILD_BYTES {
                    anyhow::bail!("the platform manifests of {} are larger than the list says: refused", describe());
                }
                let parsed = manifest::parse(&m.bytes, &m.media_type).with_context(describe)?;
                if let Parsed::List { .. } = parsed {
                    anyhow::bail!("{} nests a manifest list inside a manifest list", describe());
                }
                let blobs = parsed.blobs();
                children.push(SourceImage { manifest: m, blobs, children: Vec::new() });
            }
            Ok(SourceImage { manifest: top, blobs: Vec::new(), children })
        }
    }
}

/// How much of a disk destination to trust before a rerun skips an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreeCheck {
    /// Every blob of a complete image is there with its size (a stat each).
    #[default]
    Sizes,
    /// Every blob is read and hashed (`--verify`).
    Contents,
}

/// A disk image whose blobs are not all there, whole, is not complete: forget its manifest
/// so the plan copies what is missing and stores the manifest again.
fn forget_damaged(
    state: &mut DestState,
    mappings: &[Mapping],
    sources: &BTreeMap<Digest, SourceImage>,
    whole: impl Fn(&ImageRef) -> bool,
) {
    for m in mappings.iter().filter(|m| !whole(&m.destination)) {
        let repo = m.destination.repository.clone();
        let Some(img) = sources.get(&m.digest) else { continue };
        let mut blobs = img.blobs.iter().chain(img.children.iter().flat_map(|c| c.blobs.iter()));
        let whole = blobs.all(|b| {
            state.blobs.get(&(repo.clone(), b.digest.clone())).is_some_and(|size| b.size == 0 || *size == b.size)
        });
        if !whole {
            state.manifests.remove(&(repo, m.digest.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(to: &str, n: u8) -> Mapping {
        let digest = Digest::of(&[n]);
        let source = ImageRef::parse("src.io/ocp/art").unwrap().with_digest(&digest);
        let destination = ImageRef::parse(to).unwrap().with_tag(&format!("4.1-x86_64-c{n}"));
        Mapping { name: format!("c{n}"), origin: source.clone(), source, destination, digest }
    }

    fn complete(state: &mut DestState, m: &Mapping) {
        let repo = m.destination.repository.clone();
        state.manifests.insert((repo.clone(), m.digest.clone()));
        state.tags.insert((repo, m.destination.tag.clone().unwrap()), m.digest.clone());
    }

    #[test]
    fn only_images_a_registry_lacks_are_read_but_every_image_of_a_tree() {
        let maps = [mapping("dst.io/mirror", 1), mapping("dst.io/mirror", 2), mapping("dst.io/mirror", 3)];
        let mut state = DestState::default();
        complete(&mut state, &maps[0]);
        // Present but tagged elsewhere: the tag is pushed again, so its manifest is needed.
        state.manifests.insert(("mirror".into(), maps[1].digest.clone()));
        let registry = |_: &ImageRef| true;
        let names: Vec<&str> =
            maps.iter().filter(|m| needs_read(m, &state, registry)).map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["c2", "c3"]);

        let tree = [mapping("file://openshift/release", 1)];
        let mut state = DestState::default();
        complete(&mut state, &tree[0]);
        let tree_store = |_: &ImageRef| false;
        assert!(needs_read(&tree[0], &state, tree_store), "a tree's blobs are checked, so its manifest is read");
    }
}
