#!/usr/bin/env bash
# Side-by-side benchmarks of kubectl-release_mirror, a skopeo loop and the reference copier
# (bench/ceiling.py), in one run, on local docker-registry instances and synthetic releases
# made by the project's generator (tools/release-gen). Every destination is verified complete
# and byte-identical (bench/verify.py).
#
#   bench/run.sh                        # SCENARIOS=local: 60 components, ~1.5 GiB, 3 rounds, loopback
#   COMPONENTS=20 LAYER_MIB=8 ROUNDS=2 bench/run.sh
#   BIG_LAYER_MIB=1024 bench/run.sh     # add one 1 GiB layer (memory check)
#   SCENARIOS=full,wan,path bench/run.sh   # issue 16, one round, ~1.5 h on 2 cores:
#     full  a full-size release (the 183 components of a real 4.14 image-references, a real
#           release's size profile, TOTAL_GIB=4 unique) on loopback: registry -> registry,
#           no-op rerun, registry -> disk, disk -> registry
#     wan   the same release from a distant registry: bench/linkproxy.py in front of the source
#           (per-request round trip, one shared bandwidth cap, 307 to a CDN listener) at each
#           LINKS entry (rtt_ms:mbit, 0 = unlimited), plus a no-op rerun at NOOP_LINK
#     cpu   the full-size release on loopback, ROUNDS of registry -> registry, -> disk and
#           disk -> registry, quiet and beside a CPU-bound process, with the hashing floor
#           (openssl sha256 of the same blob files) measured in the same rounds; cpu.md
#     path  an upgrade path of three releases (SERIES, ~25 % of components changed per
#           release) mirrored in one run (--from x3), against mirroring their union as one
#           release (UNION), over PATH_LINK; bytes read from the source counted at the proxy
#   SCENARIOS=signed bench/run.sh   # issue 26: the full-size release signed (cosign) against
#           unsigned, registry -> registry and no-op rerun at NOOP_LINK: bench/signed.sh with
#           TOTAL_GIB, ROUNDS, NOOP_LINK, FIRST_LINK (also the first mirrors over a link); results in OUT/signed
#   SCENARIOS=longpath bench/run.sh      # issue 26, ~13 GiB unique at TOTAL_GIB=4 (TOTAL_GIB=1 to try)
#     longpath  ten releases (SERIES defaults to 4.14.1..4.14.10) in one run against their
#           union (UNION) as one release, registry -> registry and registry -> disk over
#           PATH_LINK, then the no-op rerun of the ten at NOOP_LINK; bytes read from the source
#           counted at the proxy; ours runs without -q so its log's "planned ... in X s" line
#           gives the plan time (the "plan s" column)
# The link scenarios write OUT (default bench/results): results.jsonl (one record per run),
# scenarios.jsonl, tables.md (printed too) and wan-throughput.png (needs matplotlib: taken
# from python3 when it has it, else installed once into a venv under ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS=${SCENARIOS:-local}
COMPONENTS=${COMPONENTS:-60}
LAYER_MIB=${LAYER_MIB:-25}
SHARED_LAYERS=${SHARED_LAYERS:-2}
ROUNDS=${ROUNDS:-3}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-}
PER_REGISTRY=${PER_REGISTRY:-}   # empty: ours adapts its transfers (the default); N: --max-per-registry N
WORKERS=${PER_REGISTRY:-6}     # the ceiling's transfers at once
TOTAL_GIB=${TOTAL_GIB:-4}
NAMES_FROM=${NAMES_FROM:-../shared/fixtures/oc-mirror/tests/unit/testdata/working-dir-fake/hold-release/ocp-release/4.14.1-x86_64/release-manifests/image-references}
LINKS=${LINKS:-0:0 40:1000 100:200}
NOOP_LINK=${NOOP_LINK:-100:200}
PATH_LINK=${PATH_LINK:-40:1000}
LONG_SERIES=4.14.1,4.14.2,4.14.3,4.14.4,4.14.5,4.14.6,4.14.7,4.14.8,4.14.9,4.14.10
SERIES=${SERIES:-$([[ ",$SCENARIOS," == *",longpath,"* ]] && echo "$LONG_SERIES" || echo 4.14.1,4.14.2,4.14.3)}
UNION=${UNION:-4.14.99}
SKOPEO=${SKOPEO:-1}            # 0: leave the skopeo loops out of full/wan/path
WIDE=${WIDE-32}                # wan/path also run ours at --max-per-registry WIDE (empty: not)
BIGSLOW_MIB=${BIGSLOW_MIB:-160} BIGSLOW_MBIT=${BIGSLOW_MBIT:-8}   # bigslow: one layer, transfer > 120 s
OUT=${OUT:-bench/results}
for tool in docker-registry skopeo python3 curl /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install docker-registry skopeo time curl)" >&2; exit 2; }
done
has() { [[ ",$SCENARIOS," == *",$1,"* ]]; }
cargo build --quiet --release -p kubectl-release_mirror -p release-gen
work=$(mktemp -d /tmp/release-mirror-bench.XXXXXX)
# A private copy: a build in this tree during the run must not swap the binary under us.
cp target/release/kubectl-release_mirror target/release/release-gen "$work/"
ours=$work/kubectl-release_mirror
src_pid="" dst_pid="" proxy_pid="" hog_pid=""
cleanup() { for p in "$hog_pid" "$proxy_pid" "$src_pid" "$dst_pid"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url: up to 10 s
    for _ in $(seq 200); do curl -fsS "$1" >/dev/null 2>&1 && return; sleep 0.05; done
    echo "$1 did not answer" >&2; exit 1
}
run_registry() { # name port -> pid in ${name}_pid; storage $work/name is kept across restarts
    local name=$1 port=$2 pid
    mkdir -p "$work/$name"
    printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:%s, secret: bench}\n' \
        "$work/$name" "$port" > "$work/$name.yml"
    docker-registry serve "$work/$name.yml" >> "$work/$name.log" 2>&1 &
    pid=$!
    eval "${name}_pid=$pid"
    wait_http "http://127.0.0.1:$port/v2/"
}
stop() { # pid variable name
    local pid=${!1}
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
    eval "$1=''"
}
# The source: the payload names src_host. There, either the registry itself listens (direct),
# or the link proxy, with the registry behind it on src_inner_port. verify.py and the plans
# read the registry directly at src_reg_host.
src_port=$(free_port) src_inner_port=$(free_port) cdn_port=$(free_port) dst_port=$(free_port)
src_host=127.0.0.1:$src_port dst_host=127.0.0.1:$dst_port src_reg_host=$src_host
link_down() {
    stop proxy_pid
    if [ "$src_reg_host" != "$src_host" ] || [ -z "$src_pid" ]; then
        stop src_pid; run_registry src "$src_port"; src_reg_host=$src_host
    fi
}
link_up() { # rtt_ms mbit
    stop proxy_pid
    link_mbit=$2
    if [ "$src_reg_host" != "127.0.0.1:$src_inner_port" ]; then
        stop src_pid; run_registry src "$src_inner_port"; src_reg_host=127.0.0.1:$src_inner_port
    fi
    python3 bench/linkproxy.py --upstream "$src_reg_host" --port "$src_port" --cdn-port "$cdn_port" \
        --rtt-ms "$1" --mbit "$2" > "$work/proxy.log" 2>&1 &
    proxy_pid=$!
    wait_http "http://$src_host/__linkproxy/stats"
}
reset_dest() { # a fresh, empty destination registry on the same port
    stop dst_pid; rm -rf "$work/dst"; run_registry dst "$dst_port"
}
base_flags=(--insecure --skip-release-image-signature -q)
common=("${base_flags[@]}" ${PER_REGISTRY:+--max-per-registry "$PER_REGISTRY"})
images_of() { # plan.json -> "source tag" lines
    python3 - "$1" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1]))["mappings"]:
    print(m["source"], m["destination"].rsplit(":", 1)[1])
PY
}
skopeo_loop() { # images-file src-transport-prefix dest-prefix
    while read -r src tag; do
        skopeo copy -q --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
            "$2$src" "$3:$tag" >/dev/null || exit 1
    done < "$1"
}
# skopeo 1.9 cannot read a Docker v2s2 manifest back out of an oci: layout ("no descriptor
# found for reference"), so its disk scenarios use one dir: per image, which round-trips.
skopeo_to_dirs() { # images-file
    while read -r src tag; do
        skopeo copy -q --all --preserve-digests --src-tls-verify=false "docker://$src" "dir:$work/dirs/$tag" >/dev/null || exit 1
    done < "$1"
}
skopeo_from_dirs() { # images-file
    while read -r src tag; do
        skopeo copy -q --all --preserve-digests --dest-tls-verify=false "dir:$work/dirs/$tag" "docker://$dst_host/mirror:$tag" >/dev/null || exit 1
    done < "$1"
}
export -f skopeo_loop skopeo_to_dirs skopeo_from_dirs; export work dst_host

# ---- local: the loopback set, medians of ROUNDS -------------------------------------------------
scenario_local() {
    measure() { # label cmd... -> appends "label wall cpu rss_kib" to $work/times
        local label=$1; shift
        /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" > /dev/null 2> "$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
        read -r wall user sys rss < "$work/t"
        echo "$label $wall $(python3 -c "print(round($user+$sys,2))") $rss" >> "$work/times"
    }
    link_down
    local big=() gen release bytes
    [ -n "$BIG_LAYER_MIB" ] && big=(--big-layer $((BIG_LAYER_MIB * 1024 * 1024)))
    echo "generating: $COMPONENTS components, $LAYER_MIB MiB unique layers, $SHARED_LAYERS shared ${BIG_LAYER_MIB:+, one $BIG_LAYER_MIB MiB layer}" >&2
    gen=$("$work/release-gen" --push "$src_host" --insecure --components "$COMPONENTS" \
        --layer-size $((LAYER_MIB * 1024 * 1024)) --shared-layers "$SHARED_LAYERS" "${big[@]}")
    release=$(printf '%s' "$gen" | sed -n 's/.*"release":"\([^"]*\)".*/\1/p')
    bytes=$(printf '%s' "$gen" | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p')
    echo "release $release: $bytes bytes of blobs" >&2
    reset_dest
    "$ours" --from="$release" --to="$dst_host/mirror" "${common[@]}" --dry-run -o json > "$work/plan.json"
    images_of "$work/plan.json" > "$work/images"
    verify() { python3 bench/verify.py "$work/plan.json" "$dst_host" mirror; }
    for round in $(seq "$ROUNDS"); do
        echo "round $round/$ROUNDS" >&2
        reset_dest; measure "r2r:ours" "$ours" --from="$release" --to="$dst_host/mirror" "${common[@]}"; verify
        measure "noop:ours" "$ours" --from="$release" --to="$dst_host/mirror" "${common[@]}"; verify
        if [ -z "$PER_REGISTRY" ]; then # the adaptive transfers against oc's fixed 6, same round
            reset_dest; measure "r2r:ours-c6" "$ours" --from="$release" --to="$dst_host/mirror" "${base_flags[@]}" --max-per-registry 6; verify
        fi
        reset_dest; measure "r2r:skopeo" bash -c "skopeo_loop $work/images docker:// docker://$dst_host/mirror"; verify
        measure "noop:skopeo" bash -c "skopeo_loop $work/images docker:// docker://$dst_host/mirror"; verify
        reset_dest; measure "r2r:ceiling" python3 bench/ceiling.py "$work/plan.json" "$WORKERS"; verify
        rm -rf "$work/disk" "$work/dirs"; mkdir -p "$work/dirs"
        measure "r2d:ours" "$ours" --from="$release" --to-dir="$work/disk" "${common[@]}"
        measure "r2d:skopeo" bash -c "skopeo_to_dirs $work/images"
        reset_dest
        measure "d2r:ours" "$ours" --from-dir="$work/disk" --from="file://openshift/release:$(basename "${release##*:}")" \
            --to="$dst_host/mirror" "${common[@]}"; verify
        reset_dest; measure "d2r:skopeo" bash -c "skopeo_from_dirs $work/images"; verify
    done
    rm -rf "$work/disk" "$work/dirs"
    mkdir -p "$OUT"
    python3 - "$work/times" "$bytes" <<'PY' | tee "$OUT/local.md"
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
    for tool in ["ours", "ours-c6", "skopeo", "ceiling"]:
        m = med.get(f"{scen}:{tool}")
        if not m:
            continue
        ratio = "" if tool == "ours" else f"{o[0] / m[0]:.2f}"
        print(f"| {scen} | {tool} | {m[0]:.2f} | {m[1]:.2f} | {m[2] / 1024:.1f} | {ratio} |")
print(f"\n{len(next(iter(rows.values())))} rounds; {int(sys.argv[2]) / 2**20:.0f} MiB of blobs; ours-c6: ours at --max-per-registry 6 (oc's default), ours / ours-c6 is what the adaptive transfers cost\n\nReproduce: `bench/run.sh`")
PY
}

# ---- full / wan / path ----------------------------------------------------------------------------
ticks() { # pid -> CPU clock ticks (user+sys) so far
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14+$15}' "/proc/$1/stat" || echo 0
}
run() { # scenario tool cmd... : one measured run, recorded in $OUT/results.jsonl
    local scen=$1 tool=$2; shift 2
    local stats=() before_src before_dst before_proxy start
    [ -n "$proxy_pid" ] && curl -fsS -X POST "http://$src_host/__linkproxy/reset" >/dev/null
    before_src=$(ticks "$src_pid") before_dst=$(ticks "$dst_pid") before_proxy=$(ticks "$proxy_pid")
    start=$(date +%s.%N)
    /usr/bin/time -f "%e %U %S %M %x" -o "$work/t" "$@" > "$work/last.out" 2> "$work/last.err" \
        || [ "${ALLOW_FAIL:-}" = 1 ] || { tail -20 "$work/last.err" >&2; exit 1; }
    mkdir -p "$OUT/logs"
    cp "$work/last.err" "$OUT/logs/$scen.$tool.err"
    if [ -n "$proxy_pid" ]; then
        mkdir -p "$OUT/events"
        curl -fsS "http://$src_host/__linkproxy/stats" > "$work/stats.json"
        curl -fsS "http://$src_host/__linkproxy/events" > "$OUT/events/$scen.$tool.json"
        stats=(stats="$work/stats.json" events="$OUT/events/$scen.$tool.json" mbit="$link_mbit")
    fi
    local hz; hz=$(getconf CLK_TCK)
    python3 bench/report.py record "$OUT" "$scen" "$tool" "$work/t" "$start" "${stats[@]}" log="$work/last.err" \
        src_cpu=$(( $(ticks "$src_pid") - before_src ))/$hz dst_cpu=$(( $(ticks "$dst_pid") - before_dst ))/$hz \
        proxy_cpu=$(( $(ticks "$proxy_pid") - before_proxy ))/$hz
    echo "  $scen $tool: $(tail -1 "$work/t" | cut -d' ' -f1) s, exit $(tail -1 "$work/t" | cut -d' ' -f5)" >&2
}
verify_to() { # plan -> the destination registry matches it
    python3 bench/verify.py "$1" "$dst_host" mirror --source "$src_reg_host"
}
link_name() { local rtt=${1%%:*} mbit=${1##*:}; echo "${rtt}ms-$([ "$mbit" = 0 ] && echo unlimited || echo "${mbit}mbit")"; }
link_title() { local rtt=${1%%:*} mbit=${1##*:}; echo "$rtt ms, $([ "$mbit" = 0 ] && echo unlimited || echo "$mbit Mbit/s")"; }

setup_big() {
    link_down
    local versions=(--version "${SERIES%%,*}") gen
    { has path || has longpath; } && versions=(--series "$SERIES" --union "$UNION")
    echo "generating: $(basename "$NAMES_FROM") names, $TOTAL_GIB GiB ${versions[*]} (streamed; a few minutes)" >&2
    gen=$("$work/release-gen" --push "$src_host" --insecure --names-from "$NAMES_FROM" --total-gib "$TOTAL_GIB" "${versions[@]}")
    mapfile -t rels < <(printf '%s\n' "$gen" | sed -n 's/.*"release":"\([^"]*\)".*/\1/p')
    printf '%s\n' "$gen" >&2
    rel1=${rels[0]}
    rm -rf "$OUT"; mkdir -p "$OUT"
    { echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted src changes')"
      echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), skopeo $(skopeo --version | cut -d' ' -f3)"
      echo "started $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$OUT/machine.txt"
    printf '%s\n' "$gen" > "$OUT/releases.jsonl"
    reset_dest  # the plans look at an empty destination
    "$ours" --from="$rel1" --to="$dst_host/mirror" "${common[@]}" --dry-run -o json > "$work/plan1.json"
    "$ours" --from="$rel1" --to-dir="$work/disk" "${common[@]}" --dry-run -o json > "$work/plan1-dir.json"
    images_of "$work/plan1.json" > "$work/images1"
    python3 bench/report.py unique "$work/plan1.json" "$src_reg_host" > "$work/u1.json"
    if has path || has longpath; then
        local from=() r
        for r in "${rels[@]:0:${#rels[@]}-1}"; do from+=(--from="$r"); done
        "$ours" "${from[@]}" --to="$dst_host/mirror" "${common[@]}" --dry-run -o json > "$work/plan3.json"
        "$ours" --from="${rels[-1]}" --to="$dst_host/mirror" "${common[@]}" --dry-run -o json > "$work/planU.json"
        images_of "$work/plan3.json" > "$work/images3"
        python3 bench/report.py unique "$work/plan3.json" "$src_reg_host" > "$work/u3.json"
        python3 bench/report.py unique "$work/planU.json" "$src_reg_host" > "$work/uU.json"
        path_from=("${from[@]}") union_ref=${rels[-1]}
    fi
    cp "$work"/u*.json "$OUT/"
}

copy_set() { # scenario noop-scenario|- plan images from-args... : ceiling, skopeo, ours, each
    # into a fresh destination; with a noop scenario, each tool's rerun on its own copy
    local scen=$1 noop=$2 plan=$3 images=$4; shift 4
    reset_dest; run "$scen" ceiling python3 bench/ceiling.py "$plan" "$WORKERS"; verify_to "$plan"
    if [ "$SKOPEO" = 1 ]; then
        reset_dest; run "$scen" skopeo bash -c "skopeo_loop $images docker:// docker://$dst_host/mirror"; verify_to "$plan"
        if [ "$noop" != - ]; then
            run "$noop" skopeo bash -c "skopeo_loop $images docker:// docker://$dst_host/mirror"; verify_to "$plan"
        fi
    fi
    reset_dest; run "$scen" ours "$ours" "$@" --to="$dst_host/mirror" "${common[@]}"; verify_to "$plan"
    if [ "$noop" != - ]; then
        run "$noop" ours "$ours" "$@" --to="$dst_host/mirror" "${common[@]}"; verify_to "$plan"
    fi
    if [ -n "$WIDE" ] && [ -n "$proxy_pid" ]; then
        reset_dest; run "$scen" "ours-c$WIDE" "$ours" "$@" --to="$dst_host/mirror" "${base_flags[@]}" --max-per-registry "$WIDE"
        verify_to "$plan"
    fi
}

scenario_full() {
    link_down
    echo "full: loopback, no proxy" >&2
    python3 bench/report.py scenario "$OUT" full-r2r title="Full size, registry → registry, loopback (no proxy)" \
        unique="$work/u1.json" command="SCENARIOS=full bench/run.sh"
    python3 bench/report.py scenario "$OUT" full-noop title="Full size, no-op rerun, loopback" command="SCENARIOS=full bench/run.sh"
    copy_set full-r2r full-noop "$work/plan1.json" "$work/images1" --from="$rel1"
    python3 bench/report.py scenario "$OUT" full-r2d title="Full size, registry → disk, loopback" \
        unique="$work/u1.json" command="SCENARIOS=full bench/run.sh"
    rm -rf "$work/disk" "$work/dirs"; mkdir -p "$work/dirs"
    run full-r2d ours "$ours" --from="$rel1" --to-dir="$work/disk" "${common[@]}"
    python3 bench/verify.py "$work/plan1-dir.json" --dir "$work/disk" --source "$src_reg_host"
    if [ "$SKOPEO" = 1 ]; then run full-r2d skopeo bash -c "skopeo_to_dirs $work/images1"; fi
    python3 bench/report.py scenario "$OUT" full-d2r title="Full size, disk → registry, loopback" \
        unique="$work/u1.json" command="SCENARIOS=full bench/run.sh"
    reset_dest
    run full-d2r ours "$ours" --from-dir="$work/disk" --from="file://openshift/release:${rel1##*:}" \
        --to="$dst_host/mirror" "${common[@]}"
    verify_to "$work/plan1.json"
    if [ "$SKOPEO" = 1 ]; then
        reset_dest; run full-d2r skopeo bash -c "skopeo_from_dirs $work/images1"; verify_to "$work/plan1.json"
    fi
    rm -rf "$work/disk" "$work/dirs"
}

scenario_cpu() { # CPU per GiB of each direction, quiet and beside a CPU hog, with the hashing floor
    link_down
    local round hog files=$work/blob-files
    find "$work/src/docker/registry/v2/blobs" -name data -type f > "$files"
    echo "cpu: $ROUNDS rounds of each direction, quiet and beside a CPU-bound process" >&2
    for round in $(seq "$ROUNDS"); do
        for hog in "" +hog; do
            # The hog: one busy process, as a build or another mirror on a 2-core jump host.
            [ -n "$hog" ] && { python3 -c 'while True: pass' & hog_pid=$!; }
            # The floor: sha256 of the same blob files, their reads included (openssl, SHA extensions).
            run cpu-floor "openssl$hog" bash -c "xargs -a '$files' openssl dgst -sha256 > /dev/null"
            reset_dest; run cpu-r2r "ours$hog" "$ours" --from="$rel1" --to="$dst_host/mirror" "${common[@]}"
            verify_to "$work/plan1.json"
            rm -rf "$work/disk"; run cpu-r2d "ours$hog" "$ours" --from="$rel1" --to-dir="$work/disk" "${common[@]}"
            python3 bench/verify.py "$work/plan1-dir.json" --dir "$work/disk" --source "$src_reg_host"
            reset_dest; run cpu-d2r "ours$hog" "$ours" --from-dir="$work/disk" --from="file://openshift/release:${rel1##*:}" \
                --to="$dst_host/mirror" "${common[@]}"
            verify_to "$work/plan1.json"
            [ -n "$hog" ] && { kill "$hog_pid"; wait "$hog_pid" 2>/dev/null || true; hog_pid=""; }
        done
    done
    if [ "$SKOPEO" = 1 ]; then
        reset_dest; run cpu-r2r skopeo bash -c "skopeo_loop $work/images1 docker:// docker://$dst_host/mirror"
        rm -rf "$work/dirs"; mkdir -p "$work/dirs"; run cpu-r2d skopeo bash -c "skopeo_to_dirs $work/images1"
        reset_dest; run cpu-d2r skopeo bash -c "skopeo_from_dirs $work/images1"; verify_to "$work/plan1.json"
    fi
    rm -rf "$work/disk" "$work/dirs"
    python3 bench/report.py cpu "$OUT" "$work/u1.json" | tee "$OUT/cpu.md"
}

scenario_wan() {
    local link name noop_read
    # A no-op rerun must still read the release manifest, its config and its payload layer.
    noop_read=$(python3 -c "import json; print(json.load(open('$work/u1.json'))['release_read_bytes'])")
    for link in $LINKS; do
        name=wan-$(link_name "$link")
        echo "wan: $(link_title "$link")" >&2
        link_up "${link%%:*}" "${link##*:}"
        python3 bench/report.py scenario "$OUT" "$name" title="Full size, registry → registry over $(link_title "$link"), CDN redirect" \
            unique="$work/u1.json" rtt_ms="${link%%:*}" mbit="${link##*:}" rtts=8 \
            command="SCENARIOS=wan LINKS=$link bench/run.sh"
        local noop=-
        if [ "$link" = "$NOOP_LINK" ]; then
            noop=noop-$(link_name "$link")
            python3 bench/report.py scenario "$OUT" "$noop" title="Full size, no-op rerun over $(link_title "$link")" \
                rtt_ms="${link%%:*}" mbit="${link##*:}" rtts=5 noop=1 noop_bytes="$noop_read" \
                unique="$work/u1.json" command="SCENARIOS=wan LINKS=$link bench/run.sh"
        fi
        copy_set "$name" "$noop" "$work/plan1.json" "$work/images1" --from="$rel1"
    done
    link_down
}

scenario_path() {
    local name
    name=path-$(link_name "$PATH_LINK")
    echo "path: $(link_title "$PATH_LINK")" >&2
    link_up "${PATH_LINK%%:*}" "${PATH_LINK##*:}"
    python3 bench/report.py scenario "$OUT" "$name" title="Upgrade path of three releases over $(link_title "$PATH_LINK")" \
        unique="$work/u3.json" unique_ours-union="$work/uU.json" rtt_ms="${PATH_LINK%%:*}" mbit="${PATH_LINK##*:}" rtts=8 \
        command="SCENARIOS=path PATH_LINK=$PATH_LINK bench/run.sh"
    copy_set "$name" - "$work/plan3.json" "$work/images3" "${path_from[@]}"
    reset_dest; run "$name" ours-union "$ours" --from="$union_ref" --to="$dst_host/mirror" "${common[@]}"; verify_to "$work/planU.json"
    link_down
}

scenario_longpath() { # ten releases in one run against their union as one release
    local n=${#path_from[@]} flags r2r r2d noop
    # No -q: the log keeps the "planned ... in X s" line the records read the plan time from.
    flags=(--insecure --skip-release-image-signature ${PER_REGISTRY:+--max-per-registry "$PER_REGISTRY"})
    r2r=longpath-r2r-$(link_name "$PATH_LINK") r2d=longpath-r2d-$(link_name "$PATH_LINK")
    noop=longpath-noop-$(link_name "$NOOP_LINK")
    "$ours" "${path_from[@]}" --to-dir="$work/disk" "${common[@]}" --dry-run -o json > "$work/plan3-dir.json"
    "$ours" --from="$union_ref" --to-dir="$work/disk" "${common[@]}" --dry-run -o json > "$work/planU-dir.json"
    local noop_read; noop_read=$(python3 -c "import json; print(json.load(open('$work/u3.json'))['release_read_bytes'])")
    local at="rtt_ms=${PATH_LINK%%:*} mbit=${PATH_LINK##*:}" cmd="SCENARIOS=longpath TOTAL_GIB=$TOTAL_GIB bench/run.sh"
    # shellcheck disable=SC2086
    python3 bench/report.py scenario "$OUT" "$r2r" title="Long path: $n releases in one run, registry → registry over $(link_title "$PATH_LINK")" \
        unique="$work/u3.json" unique_ours-union="$work/uU.json" $at rtts=8 command="$cmd"
    # shellcheck disable=SC2086
    python3 bench/report.py scenario "$OUT" "$noop" title="Long path: no-op rerun of the $n releases over $(link_title "$NOOP_LINK")" \
        unique="$work/u3.json" rtt_ms="${NOOP_LINK%%:*}" mbit="${NOOP_LINK##*:}" rtts=5 noop=1 noop_bytes="$noop_read" command="$cmd"
    # shellcheck disable=SC2086
    python3 bench/report.py scenario "$OUT" "$r2d" title="Long path: $n releases in one run, registry → disk over $(link_title "$PATH_LINK")" \
        unique="$work/u3.json" unique_ours-union="$work/uU.json" $at rtts=8 command="$cmd"
    echo "longpath: $n releases over $(link_title "$PATH_LINK"), no-op at $(link_title "$NOOP_LINK")" >&2
    link_up "${PATH_LINK%%:*}" "${PATH_LINK##*:}"
    reset_dest; run "$r2r" ours "$ours" "${path_from[@]}" --to="$dst_host/mirror" "${flags[@]}"; verify_to "$work/plan3.json"
    link_up "${NOOP_LINK%%:*}" "${NOOP_LINK##*:}"
    run "$noop" ours "$ours" "${path_from[@]}" --to="$dst_host/mirror" "${flags[@]}"; verify_to "$work/plan3.json"
    link_up "${PATH_LINK%%:*}" "${PATH_LINK##*:}"
    reset_dest; run "$r2r" ours-union "$ours" --from="$union_ref" --to="$dst_host/mirror" "${flags[@]}"; verify_to "$work/planU.json"
    if [ "$SKOPEO" = 1 ]; then
        reset_dest; run "$r2r" skopeo bash -c "skopeo_loop $work/images3 docker:// docker://$dst_host/mirror"; verify_to "$work/plan3.json"
    fi
    reset_dest  # the disk runs need the room
    rm -rf "$work/disk"; run "$r2d" ours "$ours" "${path_from[@]}" --to-dir="$work/disk" "${flags[@]}"
    python3 bench/verify.py "$work/plan3-dir.json" --dir "$work/disk" --source "$src_reg_host"
    rm -rf "$work/disk"; run "$r2d" ours-union "$ours" --from="$union_ref" --to-dir="$work/disk" "${flags[@]}"
    python3 bench/verify.py "$work/planU-dir.json" --dir "$work/disk" --source "$src_reg_host"
    rm -rf "$work/disk"
    link_down
}

scenario_bigslow() { # one big layer whose transfer takes longer than two minutes
    link_down
    local gen rel
    gen=$("$work/release-gen" --push "$src_host" --insecure --components 2 --version 4.99.7 \
        --big-layer $((BIGSLOW_MIB * 1024 * 1024)))
    rel=$(printf '%s' "$gen" | sed -n 's/.*"release":"\([^"]*\)".*/\1/p')
    reset_dest
    "$ours" --from="$rel" --to="$dst_host/mirror" "${common[@]}" --dry-run -o json > "$work/planB.json"
    python3 bench/report.py unique "$work/planB.json" "$src_reg_host" > "$work/uB.json"
    echo "bigslow: one $BIGSLOW_MIB MiB layer over 0 ms, $BIGSLOW_MBIT Mbit/s" >&2
    link_up 0 "$BIGSLOW_MBIT"
    python3 bench/report.py scenario "$OUT" bigslow title="One $BIGSLOW_MIB MiB layer over 0 ms, $BIGSLOW_MBIT Mbit/s (a transfer longer than 120 s)" \
        unique="$work/uB.json" rtt_ms=0 mbit="$BIGSLOW_MBIT" rtts=8 command="SCENARIOS=bigslow bench/run.sh"
    reset_dest; run bigslow ceiling python3 bench/ceiling.py "$work/planB.json" "$WORKERS"; verify_to "$work/planB.json"
    # --retries 2: the outcome shows after two tries instead of five
    reset_dest; ALLOW_FAIL=1 run bigslow ours-retries2 "$ours" --from="$rel" --to="$dst_host/mirror" "${common[@]}" --retries 2
    [ "$(tail -1 "$work/t" | cut -d' ' -f5)" = 0 ] && verify_to "$work/planB.json"
    link_down
}

plot() {
    local py=python3 names=() link
    if ! python3 -c 'import matplotlib' 2>/dev/null; then
        py=${XDG_CACHE_HOME:-$HOME/.cache}/release-mirror-bench/venv/bin/python
        if ! "$py" -c 'import matplotlib' 2>/dev/null; then
            echo "installing matplotlib into a venv for the plot: ${py%/bin/python}" >&2
            python3 -m venv "${py%/bin/python}" && "${py%/bin/python}/bin/pip" install -q matplotlib \
                || { echo "no matplotlib: plot skipped (pip install matplotlib, then rerun)" >&2; return; }
        fi
    fi
    for link in $LINKS; do [ "${link##*:}" != 0 ] && names+=("wan-$(link_name "$link")"); done
    if [ ${#names[@]} -gt 0 ]; then "$py" bench/report.py plot "$OUT" "$OUT/wan-throughput.png" "${names[@]}"; fi
}

has local && scenario_local
if has full || has cpu || has wan || has path || has longpath || has bigslow; then
    if has wan || has path || has longpath || has bigslow; then
        # The instrument first: redirect, Range, keep-alive, delay per request, rate cap.
        python3 bench/linkproxy_test.py >&2 || { echo "bench/linkproxy_test.py failed: the link proxy cannot be trusted" >&2; exit 1; }
    fi
    setup_big
    has full && scenario_full
    has cpu && scenario_cpu
    has wan && scenario_wan
    has path && scenario_path
    has longpath && scenario_longpath
    has bigslow && scenario_bigslow
    python3 bench/report.py tables "$OUT" | tee "$OUT/tables.md"
    if has wan; then plot; fi
fi
if has signed; then
    TOTAL_GIB=$TOTAL_GIB ROUNDS=$ROUNDS NOOP_LINK=$NOOP_LINK FIRST_LINK=${FIRST_LINK:-} OUT="$OUT/signed" bench/signed.sh
fi
exit 0
