//! The upgrade sequence at the end of a several-release run: the releases in order, each
//! hop with its risks when it is a conditional update, and the command that starts it.

use std::fmt::Write as _;

use release_mirror::graph::Hop;
use release_mirror::run::ReleaseReport;
use release_mirror::select::Route;

/// The text block (empty releases: nothing).
pub fn render(releases: &[ReleaseReport], path: Option<&Route>) -> String {
    let mut out = String::new();
    let Some(first) = releases.first() else { return out };
    match path {
        Some(p) => {
            let n = p.hops.len();
            let conditional = p.hops.iter().filter(|h| h.conditional).count();
            let _ = writeln!(
                out,
                "\nUpgrade sequence (channel {}, {n} hop{}, {conditional} conditional), from {}:",
                super::shown::one_line(&p.channel),
                if n == 1 { "" } else { "s" },
                super::shown::one_line(&first.release.version)
            );
        }
        None => _ = writeln!(out, "\nReleases in upgrade order:"),
    }
    for (i, r) in releases.iter().enumerate() {
        let hop = path.and_then(|p| i.checked_sub(1).and_then(|prev| find_hop(p, &releases[prev], r)));
        match hop {
            Some(h) => out.push_str(&hop_text(h)),
            None => _ = writeln!(out, "\n  {}", super::shown::one_line(&r.release.version)),
        }
        // On a path the first release is where the cluster is: nothing to run for it.
        let start = i == 0 && path.is_some();
        match &r.release.upgrade_command {
            Some(_) if start => _ = writeln!(out, "    (the cluster's current release)"),
            Some(cmd) => _ = writeln!(out, "    {cmd}"),
            None => {}
        }
    }
    out
}

fn find_hop<'a>(path: &'a Route, from: &ReleaseReport, to: &ReleaseReport) -> Option<&'a Hop> {
    path.hop(from.version.as_ref()?, to.version.as_ref()?)
}

fn hop_text(hop: &Hop) -> String {
    let mut out = String::new();
    if !hop.conditional {
        let _ = writeln!(out, "\n  {} -> {}", hop.from, hop.to);
        return out;
    }
    let _ = writeln!(
        out,
        "\n  {} -> {} (conditional update; accept its risks with oc adm upgrade --allow-not-recommended):",
        hop.from, hop.to
    );
    for risk in &hop.risks {
        out.push_str(&super::shown::risk(risk));
    }
    out
}
