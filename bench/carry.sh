#!/usr/bin/env bash
# Carrying less (issue 24), in one run: the full-size release (the 183 components of a real
# 4.14 image-references, TOTAL_GIB) and the next one of its series (CHANGED of the components
# changed), made by the project's generator into a local registry, then
#   - the first to disk as oc's tree, and the second with --since that tree: bytes written
#     against the bytes that changed (blobs of the second the first does not have);
#   - the first as tar segments (--archive-size) against the plain tree: wall, CPU, peak RSS;
#   - each tree uploaded to a fresh registry (segments read in place): wall, CPU, peak RSS.
#
#   bench/carry.sh        # ~10 min on 2 cores; results in bench/results/carry/
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL_GIB=${TOTAL_GIB:-4}
CHANGED=${CHANGED:-0.25}
SEGMENT=${SEGMENT:-700MiB}
NAMES_FROM=${NAMES_FROM:-../shared/fixtures/oc-mirror/tests/unit/testdata/working-dir-fake/hold-release/ocp-release/4.14.1-x86_64/release-manifests/image-references}
OUT=${OUT:-bench/results/carry}
NAME=carry
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup

src_port=$(free_port) dst_port=$(free_port)
src=127.0.0.1:$src_port dst=127.0.0.1:$dst_port
registry src "$src_port"
echo "generating 4.14.1 and 4.14.2 ($TOTAL_GIB GiB, $CHANGED changed; a few minutes)" >&2
mapfile -t rels < <("$work/release-gen" --push "$src" --insecure --names-from "$NAMES_FROM" --total-gib "$TOTAL_GIB" \
    --series 4.14.1,4.14.2 --changed-fraction "$CHANGED" | sed -n 's/.*"release":"\([^"]*\)".*/\1/p')
flags=(--insecure --skip-release-image-signature -q)
measure tree-full "$ours" --from="${rels[0]}" --to-dir="$work/full" "${flags[@]}"
measure tree-since "$ours" --from="${rels[1]}" --to-dir="$work/since" --since="$work/full" "${flags[@]}"
# What changed, independently of --since: the second release written whole, its blob files
# less the first tree's.
"$ours" --from="${rels[1]}" --to-dir="$work/full2" "${flags[@]}" > /dev/null
measure segments-full "$ours" --from="${rels[0]}" --to-dir="$work/segs" --archive-size="$SEGMENT" "${flags[@]}"
fresh_dst
measure upload-tree "$ours" --from-dir="$work/full" --to="$dst/mirror" "${flags[@]}"
measure upload-since "$ours" --from-dir="$work/since" --to="$dst/mirror" "${flags[@]}"
fresh_dst
measure upload-segments "$ours" --from-dir="$work/segs" --to="$dst/mirror" "${flags[@]}"
python3 - "$work" "$OUT/results.jsonl" "$SEGMENT" <<'PY' | tee "$OUT/table.md"
import json, os, sys
work, results, segment = sys.argv[1:]
def blobs(root):
    """Config and layer files (oc's tree also keeps manifest bodies under blobs/: left out)."""
    out, manifests = {}, set()
    for d, _, fs in os.walk(os.path.join(root, "v2")):
        if os.path.basename(d) == "blobs":
            out.update({f: os.path.getsize(os.path.join(d, f)) for f in fs if f.startswith("sha256:")})
        if os.path.basename(d) == "manifests":
            manifests.update(f for f in fs if f.startswith("sha256:"))
    return {k: v for k, v in out.items() if k not in manifests}
def walk(root):
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
full, full2, since = blobs(f"{work}/full"), blobs(f"{work}/full2"), blobs(f"{work}/since")
changed = {d: s for d, s in full2.items() if d not in full}
segs = walk(f"{work}/segs")
rows = {r["run"]: r for r in map(json.loads, open(results))}
print(f"changed blobs of 4.14.2 (not in 4.14.1's tree): {len(changed)}, {sum(changed.values()):,} bytes")
print(f"--since tree: {len(since)} config and layer files, {sum(since.values()):,} bytes (manifests are always carried); "
      f"the same set as the changed blobs: {set(since) == set(changed)}")
print(f"whole trees: 4.14.1 {sum(full.values()):,} blob bytes, 4.14.2 {sum(full2.values()):,}")
print(f"segments ({segment}): {len(segs)} files, largest {max(map(os.path.getsize, segs)):,} bytes, "
      f"symbolic links {sum(map(os.path.islink, segs))}")
print()
print("| run | wall s | CPU s | peak RSS MiB |")
print("| --- | ---: | ---: | ---: |")
for run, title in [("tree-full", "4.14.1 to oc's tree"), ("segments-full", f"4.14.1 to segments of {segment}"),
                   ("tree-since", "4.14.2 to a tree, --since the first"), ("upload-tree", "upload the plain tree"),
                   ("upload-segments", "upload the segments, in place"), ("upload-since", "upload the --since tree after the first")]:
    r = rows[run]
    print(f"| {title} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mib']:.1f} |")
PY
