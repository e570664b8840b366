#!/usr/bin/env bash
# Side-by-side benchmark of kubectl-release_mirror and skopeo, in one run, on two local
# docker-registry instances and a synthetic release made by the project's generator.
#   bench/run.sh                       # default: 60 components, ~1.5 GiB unique layers, 3 rounds
#   COMPONENTS=20 LAYER_MIB=8 ROUNDS=2 bench/run.sh
#   BIG_LAYER_MIB=1024 bench/run.sh    # add one 1 GiB layer (memory check)
# Prints a Markdown table: median wall time, CPU time (user+sys) and peak RSS of each tool per
# scenario, and our ratio to skopeo; every destination is verified complete and byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
COMPONENTS=${COMPONENTS:-60}
LAYER_MIB=${LAYER_MIB:-25}
SHARED_LAYERS=${SHARED_LAYERS:-2}
ROUNDS=${ROUNDS:-3}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-}
PER_REGISTRY=${PER_REGISTRY:-6}
for tool in docker-registry skopeo python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install docker-registry skopeo time)" >&2; exit 2; }
done
cargo build --quiet --release -p kubectl-release_mirror -p release-gen
ours=$PWD/target/release/kubectl-release_mirror
work=$(mktemp -d /tmp/release-mirror-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_registry() { # name -> sets ${name}_host, storage in $work/$name
    local name=$1 port; port=$(free_port)
    mkdir -p "$work/$name"
    printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:%s, secret: bench}\n' \
        "$work/$name" "$port" > "$work/$name.yml"
    docker-registry serve "$work/$name.yml" > "$work/$name.log" 2>&1 &
    pids+=($!)
    eval "${name}_pid=$!"
    eval "${name}_host=127.0.0.1:$port"
    for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "registry $name did not start" >&2; exit 1
}
reset_dest() { # fresh, empty destination registry
    [ -n "${dst_pid:-}" ] && kill "$dst_pid" 2>/dev/null && wait "$dst_pid" 2>/dev/null || true
    rm -rf "$work/dst"; start_registry dst
}
measure() { # label cmd... -> appends "label wall cpu rss_kib" to $work/times
    local label=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" > /dev/null 2> "$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
    read -r wall user sys rss < "$work/t"
    echo "$label $wall $(python3 -c "print(round($user+$sys,2))") $rss" >> "$work/times"
}

start_registry src
big=(); [ -n "$BIG_LAYER_MIB" ] && big=(--big-layer $((BIG_LAYER_MIB * 1024 * 1024)))
echo "generating: $COMPONENTS components, $LAYER_MIB MiB unique layers, $SHARED_LAYERS shared ${BIG_LAYER_MIB:+, one $BIG_LAYER_MIB MiB layer}" >&2
gen=$(./target/release/release-gen --push "$src_host" --insecure --components "$COMPONENTS" \
    --layer-size $((LAYER_MIB * 1024 * 1024)) --shared-layers "$SHARED_LAYERS" "${big[@]}")
release=$(printf '%s' "$gen" | sed -n 's/.*"release":"\([^"]*\)".*/\1/p')
bytes=$(printf '%s' "$gen" | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p')
echo "release $release: $bytes bytes of blobs" >&2
reset_dest
common=(--insecure --skip-release-image-signature -q --max-per-registry "$PER_REGISTRY")
"$ours" --from="$release" --to="$dst_host/mirror" "${common[@]}" --dry-run -o json > "$work/plan.json"
python3 - "$work/plan.json" > "$work/images" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1]))["mappings"]:
    print(m["source"], m["destination"].rsplit(":", 1)[1])
PY
skopeo_loop() { # src-transport-prefix dest-prefix
    while read -r src tag; do
        skopeo copy -q --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
            "$1$src" "$2:$tag" >/dev/null || exit 1
    done < "$work/images"
}
# skopeo 1.9 cannot read a Docker v2s2 manifest back out of an oci: layout ("no descriptor
# found for reference"), so its disk scenarios use one dir: per image, which round-trips.
skopeo_to_dirs() {
    while read -r src tag; do
        skopeo copy -q --all --preserve-digests --src-tls-verify=false "docker://$src" "dir:$work/dirs/$tag" >/dev/null || exit 1
    done < "$work/images"
}
skopeo_from_dirs() {
    while read -r src tag; do
        skopeo copy -q --all --preserve-digests --dest-tls-verify=false "dir:$work/dirs/$tag" "docker://$dst_host/mirror:$tag" >/dev/null || exit 1
    done < "$work/images"
}
export -f skopeo_loop skopeo_to_dirs skopeo_from_dirs; export work dst_host
verify() { python3 bench/verify.py "$work/plan.json" "$dst_host" mirror; }
replan() { "$ours" --from="$release" --to="$dst_host/mirror" "${common[@]}" --dry-run -o json > "$work/plan.json"; }

for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    reset_dest; replan; measure "r2r:ours" "$ours" --from="$release" --to="$dst_host/mirror" "${common[@]}"; verify
    measure "noop:ours" "$ours" --from="$release" --to="$dst_host/mirror" "${common[@]}"; verify
    reset_dest; replan; measure "r2r:skopeo" bash -c "skopeo_loop docker:// docker://$dst_host/mirror"; verify
    measure "noop:skopeo" bash -c "skopeo_loop docker:// docker://$dst_host/mirror"; verify
    reset_dest; replan; measure "r2r:ceiling" python3 bench/ceiling.py "$work/plan.json" "$PER_REGISTRY"; verify
    rm -rf "$work/disk" "$work/dirs"; mkdir -p "$work/dirs"
    measure "r2d:ours" "$ours" --from="$release" --to-dir="$work/disk" "${common[@]}"
    measure "r2d:skopeo" bash -c skopeo_to_dirs
    reset_dest; replan
    measure "d2r:ours" "$ours" --from-dir="$work/disk" --from="file://openshift/release:$(basename "${release##*:}")" \
        --to="$dst_host/mirror" "${common[@]}"; verify
    reset_dest; replan; measure "d2r:skopeo" bash -c skopeo_from_dirs; verify
done

python3 - "$work/times" "$bytes" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, cpu, rss = line.split()
    rows.setdefault(label, []).append((float(wall), float(cpu), int(rss)))
med = {k: (statistics.median(w for w, _, _ in v), statistics.median(c for _, c, _ in v), max(r for _, _, r in v)) for k, v in rows.items()}
print(f"| scenario | tool | median wall s | median CPU s | peak RSS MiB | ours / other |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for scen in ["r2r", "noop", "r2d", "d2r"]:
    o = med.get(f"{scen}:ours")
    for tool in ["ours", "skopeo", "ceiling"]:
        m = med.get(f"{scen}:{tool}")
        if not m:
            continue
        ratio = "" if tool == "ours" else f"{o[0] / m[0]:.2f}"
        print(f"| {scen} | {tool} | {m[0]:.2f} | {m[1]:.2f} | {m[2] / 1024:.1f} | {ratio} |")
print(f"\n{len(next(iter(rows.values())))} rounds; {int(sys.argv[2]) / 2**20:.0f} MiB of blobs")
PY
