//! Choosing releases: exact lookup with a helpful miss, version ranges, default channels.

use std::fmt;

use super::{Graph, GraphError, Release, Version};

/// A version that is not a release of the graph (or channel), with its nearest neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// The version looked for.
    pub version: Version,
    /// "channel stable-4.15" or "the graph".
    pub scope: String,
    /// The closest release below it, if any.
    pub below: Option<Version>,
    /// The closest release above it, if any.
    pub above: Option<Version>,
    /// The lowest and highest releases, or `None` when there are none.
    pub span: Option<(Version, Version)>,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a release in {}", self.version, self.scope)?;
        let Some((lowest, highest)) = &self.span else {
            return f.write_str(", which has no releases");
        };
        write!(f, " (its releases span {lowest} … {highest}); nearest: ")?;
        match (&self.below, &self.above) {
            (Some(below), Some(above)) => write!(f, "{below} and {above}"),
            (Some(only), None) | (None, Some(only)) => write!(f, "{only}"),
            (None, None) => Ok(()),
        }
    }
}

impl Graph {
    /// The release with this version, or an error naming the nearest releases there are.
    pub(crate) fn find(&self, version: &Version) -> Result<&Release, GraphError> {
        self.locate(version).map(|at| &self.releases()[at])
    }

    /// Every release with `min <= version <= max`, ascending. Both bounds must be releases of
    /// the graph; narrow it with [`Graph::channel_filter`] first to select within a channel.
    pub(crate) fn select_range(&self, min: &Version, max: &Version) -> Result<&[Release], GraphError> {
        if min > max {
            return Err(GraphError::RangeReversed { min: min.to_string(), max: max.to_string() });
        }
        let (low, high) = (self.locate(min)?, self.locate(max)?);
        Ok(&self.releases()[low..=high])
    }

    /// Where `version` sits in `releases()`, or a [`NotFound`] error.
    pub(super) fn locate(&self, version: &Version) -> Result<usize, GraphError> {
        let releases = self.releases();
        releases.binary_search_by(|r| r.version.cmp(version)).map_err(|at| {
            GraphError::NotFound(Box::new(NotFound {
                version: version.clone(),
                scope: self.scope(),
                below: at.checked_sub(1).map(|i| releases[i].version.clone()),
                above: releases.get(at).map(|r| r.version.clone()),
                span: releases.first().zip(releases.last()).map(|(a, b)| (a.version.clone(), b.version.clone())),
            }))
        })
    }
}

/// The channels `oc adm release mirror X.Y.Z` searches for a bare version, in order:
/// `fast-X.Y`, `stable-X.Y`, `candidate-X.Y`.
pub(crate) fn default_channels(version: &Version) -> Vec<String> {
    let line = format!("{}.{}", version.major(), version.minor());
    ["fast", "stable", "candidate"].iter().map(|kind| format!("{kind}-{line}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{body_json, v};
    use super::*;

    /// Releases 4.14.8..4.14.12 and 4.15.0..4.15.2 in scrambled body order; 4.14.12 is only in
    /// stable-4.14, 4.15.1 only in candidate-4.15.
    fn graph() -> Graph {
        let both = "stable-4.14,stable-4.15";
        let nodes = [
            ("4.15.2", "stable-4.15"),
            ("4.14.10", both),
            ("4.15.1", "candidate-4.15"),
            ("4.14.8", both),
            ("4.14.12", "stable-4.14"),
            ("4.15.0", "stable-4.15"),
            ("4.14.11", both),
            ("4.15.0-rc.1", "candidate-4.15"),
        ];
        Graph::parse(body_json(&nodes, &[], &[]).as_bytes()).unwrap()
    }

    fn versions(releases: &[Release]) -> Vec<String> {
        releases.iter().map(|r| r.version.to_string()).collect()
    }

    #[test]
    fn selects_a_range_of_a_channel_in_order() {
        let stable = graph().channel_filter("stable-4.15");
        let got = stable.select_range(&v("4.14.10"), &v("4.15.2")).unwrap();
        assert_eq!(versions(got), ["4.14.10", "4.14.11", "4.15.0", "4.15.2"]);
        let one = stable.select_range(&v("4.15.0"), &v("4.15.0")).unwrap();
        assert_eq!(versions(one), ["4.15.0"]);
        let whole = graph();
        let all = whole.select_range(&v("4.14.12"), &v("4.15.1")).unwrap();
        assert_eq!(versions(all), ["4.14.12", "4.15.0-rc.1", "4.15.0", "4.15.1"]);
    }

    #[test]
    fn range_errors_name_the_problem() {
        let stable = graph().channel_filter("stable-4.15");
        let err = stable.select_range(&v("4.15.2"), &v("4.14.10")).unwrap_err();
        assert_eq!(err.to_string(), "range start 4.15.2 is above range end 4.14.10");
        let err = stable.select_range(&v("4.14.10"), &v("4.15.1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "4.15.1 is not a release in channel stable-4.15 (its releases span 4.14.8 … 4.15.2); \
             nearest: 4.15.0 and 4.15.2"
        );
        let err = stable.select_range(&v("4.14.1"), &v("4.15.2")).unwrap_err();
        assert!(err.to_string().ends_with("nearest: 4.14.8"), "{err}");
        let GraphError::NotFound(miss) = stable.select_range(&v("4.14.8"), &v("4.16.0")).unwrap_err() else {
            panic!("expected NotFound");
        };
        assert_eq!((miss.below, miss.above), (Some(v("4.15.2")), None));
        let err = graph().channel_filter("stable-4.99").find(&v("4.99.0")).unwrap_err();
        assert_eq!(err.to_string(), "4.99.0 is not a release in channel stable-4.99, which has no releases");
    }

    #[test]
    fn resolves_a_bare_version() {
        assert_eq!(default_channels(&v("4.15.3")), ["fast-4.15", "stable-4.15", "candidate-4.15"]);
        assert_eq!(default_channels(&v("4.16.0-rc.2")), ["fast-4.16", "stable-4.16", "candidate-4.16"]);
        let g = graph();
        let channel =
            default_channels(&v("4.15.1")).into_iter().find(|c| g.channel_filter(c).payload_of(&v("4.15.1")).is_some());
        assert_eq!(channel.as_deref(), Some("candidate-4.15"));
        assert_eq!(g.payload_of(&v("4.15.1")), Some("example.com/ocp-release@sha256:4.15.1"));
        assert_eq!(g.payload_of(&v("4.15.3")), None);
        assert_eq!(g.find(&v("4.14.12")).unwrap().channels, ["stable-4.14"]);
    }
}
