//! The text of `--graph-data-image`: where the graph-data image is (or would be), then the
//! `UpdateService` to create and the one command that points the cluster at it.

use std::fmt::Write as _;

use release_mirror::osus::{GraphDataImage, UpdateService};

/// The graph-data image line and, when there is one, the UpdateService with its command.
pub fn render(image: Option<&GraphDataImage>, service: Option<&UpdateService>, dry_run: bool) -> String {
    let mut out = String::new();
    let Some(image) = image else { return out };
    let built = match (&image.base, image.layer_size) {
        (Some(base), Some(size)) => format!(" on {base} (graph-data layer {size} bytes)"),
        _ => String::new(),
    };
    let verb = match (dry_run, image.action) {
        (true, "uploaded") => "Would upload",
        (true, _) => "Would build",
        (false, "present") => "Already present:",
        (false, "uploaded") => "Uploaded",
        (false, _) => "Built",
    };
    let _ = writeln!(out, "\n{verb} graph-data image {}{built}", image.image);
    let Some(service) = service else { return out };
    let written = match (&service.file, dry_run) {
        (Some(file), false) => format!(" (written to {file})"),
        (Some(file), true) => format!(" (would be written to {file})"),
        (None, _) => String::new(),
    };
    let _ = writeln!(
        out,
        "\nTo serve update recommendations inside the network, install the OpenShift Update Service \
         operator and create this UpdateService{written}:\n"
    );
    for line in service.resource.lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "\nThen point the cluster at it:\n\n  {}", service.cluster_version_command);
    out
}
