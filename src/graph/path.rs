//! The shortest upgrade path between two releases.
//!
//! "Shortest" is, in order: fewest hops; then fewest conditional hops; then, among paths still
//! tied, the one whose first intermediate release is highest, then its second, and so on. The
//! last rule keeps the answer deterministic and favours newer (better-fixed) stepping stones.
//! It is computed as the best cost from every release to the target (a breadth-first search
//! on the reversed graph, costs compared as (hops, conditional hops): linear in the graph's
//! size), then a walk from the start that always steps to the highest release that keeps the
//! cost optimal.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::Link;
use super::{Graph, GraphError, Release, Risk, Version};

/// Which updates a path may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EdgeKinds {
    /// Plain and conditional updates (the default).
    #[default]
    All,
    /// Plain updates only (`--no-conditional-updates`).
    PlainOnly,
}

impl EdgeKinds {
    fn allows(self, link: &Link) -> bool {
        self == EdgeKinds::All || !link.conditional
    }
}

/// An upgrade path: the releases in upgrade order and the hops between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradePath {
    /// Releases from the start to the target, both included.
    pub(crate) releases: Vec<Release>,
    /// One hop per consecutive pair of releases.
    pub(crate) hops: Vec<Hop>,
}

/// One update on a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// Version updated from.
    pub from: Version,
    /// Version updated to.
    pub to: Version,
    /// True when the update is conditional.
    pub conditional: bool,
    /// Risks of a conditional update: those of every group listing it, one per name (the
    /// first group's wording wins), sorted by name.
    pub risks: Vec<Risk>,
}

impl UpgradePath {
    /// How many hops are conditional.
    pub fn conditional_hops(&self) -> usize {
        self.hops.iter().filter(|h| h.conditional).count()
    }
}

/// No path from one release to another; says what is reachable and how to get a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The start.
    pub(crate) from: Version,
    /// The target.
    pub(crate) to: Version,
    /// "channel stable-4.15" or "the graph".
    pub(crate) scope: String,
    /// The updates the search was allowed to use.
    pub(crate) kinds: EdgeKinds,
    /// Every release reachable from the start with those updates, ascending.
    pub(crate) reachable: Vec<Version>,
    /// True when the search used plain updates only and a path exists with conditional ones.
    pub(crate) conditional_path_exists: bool,
}

/// Show at most this many reachable versions in a message.
const LISTED: usize = 16;

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not reachable from {} in {}", self.to, self.from, self.scope)?;
        if self.kinds == EdgeKinds::PlainOnly {
            f.write_str(" using plain updates only")?;
        }
        let names: Vec<String> = self.reachable.iter().map(ToString::to_string).collect();
        match names.len() {
            0 => write!(f, "; nothing is reachable from {}", self.from)?,
            n if n <= LISTED => write!(f, "; reachable: {}", names.join(", "))?,
            n => {
                let (head, tail) = (&names[..LISTED / 2], &names[n - LISTED / 2..]);
                write!(f, "; reachable ({n} releases): {}, …, {}", head.join(", "), tail.join(", "))?;
            }
        }
        if self.conditional_path_exists {
            f.write_str("; a path exists through conditional updates: drop --no-conditional-updates to use it")
        } else {
            f.write_str("; choose a reachable target, or a channel that holds a path to it")
        }
    }
}

/// Best cost to the target: (hops, conditional hops), compared in that order.
type Cost = (usize, usize);

impl Graph {
    /// The shortest upgrade path from `from` to `to` (see the module docs for the tie-break),
    /// using the updates `kinds` allows. Both must be releases of the graph; narrow it with
    /// [`Graph::channel_filter`] first to stay within a channel. No path gives
    /// [`GraphError::Unreachable`].
    pub(crate) fn shortest_path(
        &self,
        from: &Version,
        to: &Version,
        kinds: EdgeKinds,
    ) -> Result<UpgradePath, GraphError> {
        let (start, goal) = (self.locate(from)?, self.locate(to)?);
        let cost = self.costs_to(goal, kinds);
        match self.walk(start, goal, &cost, kinds) {
            Some(hops) => Ok(self.upgrade_path(start, &hops)),
            None => Err(self.unreachable(start, goal, kinds)),
        }
    }

    /// The best cost from every release to `goal`, in time linear in the graph: a
    /// breadth-first search over reversed updates gives each release its hop count, and
    /// releases taken in that order (nearest first) each pick the fewest conditional hops
    /// among their updates one hop nearer.
    fn costs_to(&self, goal: usize, kinds: EdgeKinds) -> Vec<Option<Cost>> {
        let mut into = vec![Vec::new(); self.releases().len()];
        for (from, to, link) in self.links().filter(|(_, _, link)| kinds.allows(link)) {
            into[to].push((from, usize::from(link.conditional)));
        }
        let mut cost: Vec<Option<Cost>> = vec![None; into.len()];
        cost[goal] = Some((0, 0));
        let mut queue = VecDeque::from([goal]);
        while let Some(node) = queue.pop_front() {
            let Some((hops, conditional)) = cost[node] else { continue };
            for &(prev, step) in &into[node] {
                let via = (hops + 1, conditional + step);
                match cost[prev] {
                    None => {
                        cost[prev] = Some(via);
                        queue.push_back(prev);
                    }
                    // Same hop count, fewer conditional hops: still queued, not yet expanded.
                    Some(best) if best.0 == via.0 && via.1 < best.1 => cost[prev] = Some(via),
                    Some(_) => {}
                }
            }
        }
        cost
    }

    /// From `start`, step each time to the highest release that keeps the cost optimal. Each
    /// step lowers the hop count by one, so this ends; `None` when `start` cannot reach the goal.
    fn walk(
        &self,
        start: usize,
        goal: usize,
        cost: &[Option<Cost>],
        kinds: EdgeKinds,
    ) -> Option<Vec<(usize, usize, &Link)>> {
        let mut hops = Vec::new();
        let mut at = start;
        while at != goal {
            let here = cost[at]?;
            let (next, link) = self
                .links_from(at)
                .filter(|(next, link)| {
                    let step = usize::from(link.conditional);
                    kinds.allows(link) && cost[*next].is_some_and(|c| (c.0 + 1, c.1 + step) == here)
                })
                .last()?;
            hops.push((at, next, link));
            at = next;
        }
        Some(hops)
    }

    fn upgrade_path(&self, start: usize, hops: &[(usize, usize, &Link)]) -> UpgradePath {
        let releases = self.releases();
        let stops = std::iter::once(start).chain(hops.iter().map(|&(_, to, _)| to));
        UpgradePath {
            releases: stops.map(|i| releases[i].clone()).collect(),
            hops: hops
                .iter()
                .map(|&(from, to, link)| Hop {
                    from: releases[from].version.clone(),
                    to: releases[to].version.clone(),
                    conditional: link.conditional,
                    risks: link.risks.clone(),
                })
                .collect(),
        }
    }

    fn unreachable(&self, start: usize, goal: usize, kinds: EdgeKinds) -> GraphError {
        let releases = self.releases();
        let reached = self.reachable_from(start, kinds);
        let conditional_path_exists =
            kinds == EdgeKinds::PlainOnly && self.reachable_from(start, EdgeKinds::All).contains(&goal);
        GraphError::Unreachable(Box::new(Unreachable {
            from: releases[start].version.clone(),
            to: releases[goal].version.clone(),
            scope: self.scope(),
            kinds,
            reachable: reached.into_iter().map(|i| releases[i].version.clone()).collect(),
            conditional_path_exists,
        }))
    }

    /// Releases reachable from `start` in one or more hops, ascending (`start` excluded).
    fn reachable_from(&self, start: usize, kinds: EdgeKinds) -> Vec<usize> {
        let mut seen = vec![false; self.releases().len()];
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for (next, link) in self.links_from(node) {
                if kinds.allows(link) && !seen[next] {
                    seen[next] = true;
                    queue.push_back(next);
                }
            }
        }
        seen[start] = false;
        seen.iter().enumerate().filter_map(|(i, &s)| s.then_some(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{body_json, v, Groups};
    use super::*;

    fn graph(versions: &[&str], edges: &[(&str, &str)], groups: Groups) -> Graph {
        let nodes: Vec<(&str, &str)> = versions.iter().map(|&s| (s, "stable-4.15")).collect();
        Graph::parse(body_json(&nodes, edges, groups).as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn path(g: &Graph, from: &str, to: &str, kinds: EdgeKinds) -> Vec<String> {
        let found = g.shortest_path(&v(from), &v(to), kinds).unwrap_or_else(|e| panic!("{e}"));
        found.releases.iter().map(|r| r.version.to_string()).collect()
    }

    fn unreachable(g: &Graph, from: &str, to: &str, kinds: EdgeKinds) -> (Unreachable, String) {
        match g.shortest_path(&v(from), &v(to), kinds) {
            Err(GraphError::Unreachable(u)) => {
                let text = u.to_string();
                (*u, text)
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    const V: [&str; 6] = ["4.14.1", "4.14.2", "4.14.3", "4.14.4", "4.15.0", "4.15.1"];

    #[test]
    fn skips_an_intermediate_release() {
        let edges = [("4.14.1", "4.14.2"), ("4.14.2", "4.14.3"), ("4.14.3", "4.15.0"), ("4.14.1", "4.14.3")];
        let g = graph(&V, &edges, &[]);
        assert_eq!(path(&g, "4.14.1", "4.15.0", EdgeKinds::All), ["4.14.1", "4.14.3", "4.15.0"]);
        assert_eq!(path(&g, "4.14.2", "4.14.2", EdgeKinds::All), ["4.14.2"]);
    }

    #[test]
    fn prefers_fewer_hops_then_fewer_conditional_hops_then_higher_releases() {
        // 4.14.1 -> 4.15.1: 2 hops via 4.14.2 (plain, plain), via 4.14.3 (plain, plain),
        // via 4.14.4 (conditional, plain); 3 plain hops via 4.15.0.
        let edges = [
            ("4.14.1", "4.14.2"),
            ("4.14.2", "4.15.1"),
            ("4.14.1", "4.14.3"),
            ("4.14.3", "4.15.1"),
            ("4.14.4", "4.15.1"),
            ("4.14.3", "4.15.0"),
            ("4.15.0", "4.15.1"),
        ];
        let groups: Groups = &[(&[("4.14.1", "4.14.4"), ("4.14.1", "4.15.0")], &["R"])];
        let g = graph(&V, &edges, groups);
        assert_eq!(path(&g, "4.14.1", "4.15.1", EdgeKinds::All), ["4.14.1", "4.14.3", "4.15.1"]);
        // A single conditional hop beats two plain ones: hops count first.
        assert_eq!(path(&g, "4.14.1", "4.15.0", EdgeKinds::All), ["4.14.1", "4.15.0"]);
        assert_eq!(path(&g, "4.14.1", "4.15.0", EdgeKinds::PlainOnly), ["4.14.1", "4.14.3", "4.15.0"]);
    }

    #[test]
    fn ties_on_conditional_hops_go_to_the_higher_first_step() {
        // Both 2-hop paths have one conditional hop; the one through 4.14.4 wins.
        let groups: Groups = &[(&[("4.14.1", "4.14.4"), ("4.14.2", "4.15.0")], &["R"])];
        let g = graph(&V, &[("4.14.1", "4.14.2"), ("4.14.4", "4.15.0")], groups);
        let found = g.shortest_path(&v("4.14.1"), &v("4.15.0"), EdgeKinds::All).unwrap();
        let stops: Vec<String> = found.releases.iter().map(|r| r.version.to_string()).collect();
        assert_eq!(stops, ["4.14.1", "4.14.4", "4.15.0"]);
        assert_eq!(found.conditional_hops(), 1);
    }

    #[test]
    fn conditional_hops_carry_their_risks() {
        let groups: Groups = &[
            (&[("4.14.4", "4.15.0"), ("4.14.1", "4.14.2")], &["OVNIPsec", "CephCap"]),
            (&[("4.14.4", "4.15.0")], &["CephCap", "AROBrokenDNS"]),
        ];
        let g = graph(&V, &[("4.14.1", "4.14.4")], groups);
        let found = g.shortest_path(&v("4.14.1"), &v("4.15.0"), EdgeKinds::All).unwrap();
        assert_eq!(found.hops.len(), 2);
        assert!(!found.hops[0].conditional && found.hops[0].risks.is_empty());
        let hop = &found.hops[1];
        assert_eq!(
            (hop.from.to_string(), hop.to.to_string(), hop.conditional),
            ("4.14.4".into(), "4.15.0".into(), true)
        );
        let names: Vec<&str> = hop.risks.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["AROBrokenDNS", "CephCap", "OVNIPsec"]);
        assert_eq!(found.releases[1].payload, "example.com/ocp-release@sha256:4.14.4");
    }

    #[test]
    fn no_path_reports_what_is_reachable() {
        let edges = [("4.14.1", "4.14.2"), ("4.14.2", "4.14.3"), ("4.14.4", "4.15.0")];
        let g = graph(&V, &edges, &[(&[("4.14.3", "4.14.1")], &["R"])]);
        let (err, text) = unreachable(&g, "4.14.1", "4.15.0", EdgeKinds::All);
        assert_eq!(err.reachable, [v("4.14.2"), v("4.14.3")]);
        assert!(!err.conditional_path_exists);
        assert_eq!(
            text,
            "4.15.0 is not reachable from 4.14.1 in the graph; reachable: 4.14.2, 4.14.3; \
             choose a reachable target, or a channel that holds a path to it"
        );
        let (err, text) = unreachable(&g, "4.15.0", "4.14.1", EdgeKinds::All);
        assert!(err.reachable.is_empty());
        assert!(text.contains("nothing is reachable from 4.15.0"), "{text}");
    }

    #[test]
    fn plain_only_says_when_conditional_updates_would_help() {
        let g = graph(&V, &[("4.14.1", "4.14.2")], &[(&[("4.14.2", "4.15.0")], &["R"])]);
        assert_eq!(path(&g, "4.14.1", "4.15.0", EdgeKinds::All), ["4.14.1", "4.14.2", "4.15.0"]);
        let narrowed = g.channel_filter("stable-4.15");
        let (err, text) = unreachable(&narrowed, "4.14.1", "4.15.0", EdgeKinds::PlainOnly);
        assert_eq!((err.reachable, err.conditional_path_exists), (vec![v("4.14.2")], true));
        assert_eq!(
            text,
            "4.15.0 is not reachable from 4.14.1 in channel stable-4.15 using plain updates only; \
             reachable: 4.14.2; a path exists through conditional updates: drop --no-conditional-updates to use it"
        );
        let (err, text) = unreachable(&g, "4.14.1", "4.15.1", EdgeKinds::PlainOnly);
        assert!(!err.conditional_path_exists, "no path to 4.15.1 at all");
        assert!(text.ends_with("; choose a reachable target, or a channel that holds a path to it"), "{text}");
    }

    #[test]
    fn long_reachable_lists_are_shortened_in_the_message() {
        let versions: Vec<String> = (0..30).map(|z| format!("4.14.{z}")).chain(["4.15.0".into()]).collect();
        let names: Vec<&str> = versions.iter().map(String::as_str).collect();
        let edges: Vec<(&str, &str)> = names[..30].windows(2).map(|w| (w[0], w[1])).collect();
        let g = graph(&names, &edges, &[]);
        let (err, text) = unreachable(&g, "4.14.0", "4.15.0", EdgeKinds::All);
        assert_eq!(err.reachable.len(), 29);
        assert!(text.contains("reachable (29 releases): 4.14.1, 4.14.2,"), "{text}");
        assert!(text.contains("4.14.8, …, 4.14.22,"), "{text}");
    }

    #[test]
    fn unknown_endpoints_are_not_found() {
        let g = graph(&V, &[], &[]);
        let err = g.shortest_path(&v("4.14.1"), &v("4.16.0"), EdgeKinds::All).unwrap_err();
        assert!(matches!(&err, GraphError::NotFound(n) if n.version == v("4.16.0")), "{err}");
    }
}
