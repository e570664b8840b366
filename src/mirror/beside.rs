//! What of a plan goes beside the streamed blobs rather than through them: blobs the sources
//! hold in memory already (small payload layers, signature layers judged before the copy)
//! need no download, and a signature image is stored right after its blobs: those held, the
//! small ones fetched there and then (its config), or those the destination has. So hundreds
//! of `.sig` images are stored while the large blobs move, not one after another at the end
//! of the copy.

use std::collections::HashSet;

use super::plan::{BlobTask, ManifestTask, Plan};
use super::stores::Stores;
use super::streams::Concurrency;
use crate::digest::Digest;

/// Units of work beside the stream at once while blobs still stream: enough to store
/// hundreds of signature images during a copy, few enough that the streamed blobs keep the
/// destination's attention. Once the stream is done, the metadata limit applies.
pub(super) const WHILE_STREAMING: usize = 4;

/// The largest blob of a signature image fetched beside the stream rather than through it
/// (a real one's config is a few hundred bytes).
const SMALL: u64 = 1 << 20;

/// Blobs held in memory or small enough to fetch beside the stream, stored one after the
/// other, then the signature image they complete (none for blobs no signature image is made
/// only of).
pub(super) struct Unit<'p> {
    pub(super) blobs: Vec<&'p BlobTask>,
    pub(super) manifest: Option<&'p ManifestTask>,
}

/// The plan's blobs and tagged manifests split: `streamed` through the adaptive transfers
/// and `tagged` stored at the end as before; `units` beside them. With `--max-per-registry`
/// nothing goes beside: it bounds every request.
pub(super) struct Beside<'p> {
    pub(super) streamed: Vec<&'p BlobTask>,
    pub(super) units: Vec<Unit<'p>>,
    pub(super) tagged: Vec<&'p ManifestTask>,
}

impl<'p> Beside<'p> {
    pub(super) fn of(plan: &'p Plan, sources: &Stores, concurrency: Concurrency) -> Beside<'p> {
        if concurrency != Concurrency::Adaptive {
            let (streamed, tagged) = (plan.blobs.iter().collect(), plan.tagged.iter().collect());
            return Beside { streamed, units: Vec::new(), tagged };
        }
        let key = |t: &'p BlobTask| (t.to.repository.as_str(), &t.digest);
        // Each tagged manifest's blobs when it is a signature image, parsed once.
        let signatures: Vec<Option<Vec<Digest>>> = plan
            .tagged
            .iter()
            .map(|m| super::sigstore::is_signature_tag(&m.reference).then(|| super::sigstore::image_blobs(&m.manifest)))
            .map(Option::flatten)
            .collect();
        let of_signatures: HashSet<(&str, &Digest)> = (plan.tagged.iter().zip(&signatures))
            .flat_map(|(m, blobs)| blobs.iter().flatten().map(move |d| (m.to.repository.as_str(), d)))
            .collect();
        let held = |t: &&'p BlobTask| {
            sources.remembered(&t.digest).is_some() || (t.size <= SMALL && of_signatures.contains(&key(t)))
        };
        let (near, streamed): (Vec<&BlobTask>, Vec<&BlobTask>) = plan.blobs.iter().partition(held);
        let waits: HashSet<(&str, &Digest)> = streamed.iter().map(|t| key(t)).collect();
        let mut claimed: HashSet<(&str, &Digest)> = HashSet::new();
        let (mut units, mut tagged) = (Vec::new(), Vec::new());
        for (m, blobs) in plan.tagged.iter().zip(&signatures) {
            let repo = m.to.repository.as_str();
            let blobs = blobs
                .as_ref()
                .filter(|blobs| blobs.iter().all(|d| !waits.contains(&(repo, d)) && !claimed.contains(&(repo, d))));
            let Some(blobs) = blobs else {
                tagged.push(m);
                continue;
            };
            let own: Vec<&BlobTask> =
                near.iter().copied().filter(|t| t.to.repository == repo && blobs.contains(&t.digest)).collect();
            claimed.extend(own.iter().map(|t| key(t)));
            units.push(Unit { blobs: own, manifest: Some(m) });
        }
        let alone = near.into_iter().filter(|t| !claimed.contains(&key(t)));
        units.extend(alone.map(|t| Unit { blobs: vec![t], manifest: None }));
        Beside { streamed, units, tagged }
    }
}
