#!/usr/bin/env bash
# Signed against unsigned, in one run: the full-size release (the 183 components of a real
# 4.14 image-references, TOTAL_GIB unique) made twice by the project's generator with the same
# seed, once plain and once with a 4.22-shaped `openshift` ClusterImagePolicy in its payload
# and every image signed in cosign's format (bench/cosign_sign.py, openssl as the signer).
# Each is mirrored registry -> registry on loopback into a fresh destination ROUNDS times
# (the signed one verifies every signature before the copy and copies the .sig images beside
# their images), then a no-op rerun of each goes through bench/linkproxy.py at NOOP_LINK
# (100 ms, 200 Mbit/s by default). With FIRST_LINK (`rtt_ms:mbit`, e.g. 40:1000) each is also
# mirrored ROUNDS times with its source behind that link, where the registries no longer
# share the two cores' time with a loopback copy.
#
#   bench/signed.sh                 # ~10 min on 2 cores; results in bench/results/signed/
#   FIRST_LINK=40:1000 bench/signed.sh   # + the first mirrors over 40 ms (~8 min more)
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL_GIB=${TOTAL_GIB:-4}
ROUNDS=${ROUNDS:-3}
NOOP_LINK=${NOOP_LINK:-100:200}
FIRST_LINK=${FIRST_LINK:-}
NAMES_FROM=${NAMES_FROM:-../shared/fixtures/oc-mirror/tests/unit/testdata/working-dir-fake/hold-release/ocp-release/4.14.1-x86_64/release-manifests/image-references}
OUT=${OUT:-bench/results/signed}
NAME=signed
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup openssl
sig_tags() { # registry repo -> how many sha256-*.sig tags
    curl -fsS "http://$1/v2/$2/tags/list?n=100000" | python3 -c 'import json,sys; print(sum(t.endswith(".sig") for t in json.load(sys.stdin)["tags"] or []))'
}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
plain_port=$(free_port) signed_port=$(free_port) inner_port=$(free_port) cdn_port=$(free_port) dst_port=$(free_port)
plain=127.0.0.1:$plain_port signed=127.0.0.1:$signed_port dst=127.0.0.1:$dst_port
registry plain "$plain_port"; plain_pid=$last
registry signed "$signed_port"; signed_pid=$last
gen() { "$work/release-gen" --push "$1" --insecure --names-from "$NAMES_FROM" --total-gib "$TOTAL_GIB" --version 4.14.1 "${@:2}" \
    | sed -n 's/.*"release":"\([^"]*\)".*/\1/p'; }
echo "generating the plain and the signed release ($TOTAL_GIB GiB each; a few minutes)" >&2
rel_plain=$(gen "$plain")
rel_signed=$(gen "$signed" --image-policy-key "$work/pub.pem")
flags=(--insecure --skip-release-image-signature -q)
"$ours" --from="$rel_signed" --to="$dst/plan" "${flags[@]}" --sigstore=skip --dry-run -o json > "$work/plan.json"
python3 bench/cosign_sign.py "$work/plan.json" "$signed" "$work/key.pem" 4.14.1
images=$(python3 -c 'import json,sys; print(sum(not m["name"].endswith(".sig") for m in json.load(open(sys.argv[1]))["mappings"]))' "$work/plan.json")

# On loopback the registries' own work is most of a run's CPU: each .sig image is two blob
# uploads and a manifest at the destination. Counted beside ours (user + sys of both).
registries_cpu() { # pids... -> their user + sys CPU seconds so far, summed
    local ticks; ticks=$(getconf CLK_TCK)
    for p in "$@"; do cat "/proc/$p/stat"; done | awk -v hz="$ticks" '{t += $14 + $15} END {printf "%.2f", t / hz}'
}
first_mirror() { # kind label: a fresh destination, the kind's release mirrored into it, measured
    local ref=rel_$1 src_pid_var=${1}_pid before after
    fresh_dst
    before=$(registries_cpu "${!src_pid_var}" "$dst_pid")
    measure "$2" "$ours" --from="${!ref}" --to="$dst/mirror" "${flags[@]}"
    after=$(registries_cpu "${!src_pid_var}" "$dst_pid")
    echo "{\"run\":\"$2\",\"images\":$images,\"sig_tags_at_destination\":$(sig_tags "$dst" mirror),\"registries_cpu_s\":$(python3 -c "print(round($after - $before, 2))")}" >> "$OUT/results.jsonl"
}
for round in $(seq "$ROUNDS"); do
    for kind in plain signed; do first_mirror "$kind" "$kind-r2r-$round"; done
done
# The no-op reruns: the source behind a distant link; the destination keeps the signed copy
# of the last round, so the signed rerun runs first, then a fresh plain copy and its rerun.
link() { # name port rtt_ms:mbit: the registry of name moved behind the link proxy listening on port
    local pid_var=${1}_pid
    kill "${!pid_var}"; wait "${!pid_var}" 2>/dev/null || true
    registry "$1" "$inner_port"; eval "$pid_var=$last"
    python3 bench/linkproxy.py --upstream "127.0.0.1:$inner_port" --port "$2" --cdn-port "$cdn_port" \
        --rtt-ms "${3%%:*}" --mbit "${3##*:}" > "$work/proxy.log" 2>&1 &
    proxy_pid=$!; pids+=("$proxy_pid")
    wait_http "http://127.0.0.1:$2/__linkproxy/stats"
}
unlink() { # name port: the proxy gone, the registry of name back on port
    local pid_var=${1}_pid
    kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
    kill "${!pid_var}"; wait "${!pid_var}" 2>/dev/null || true
    registry "$1" "$2"; eval "$pid_var=$last"
}
if [ -n "$FIRST_LINK" ]; then
    # One kind behind the link at a time (one proxy); the unsigned first, as on loopback.
    for kind in plain signed; do
        port_var=${kind}_port; link "$kind" "${!port_var}" "$FIRST_LINK"
        for round in $(seq "$ROUNDS"); do first_mirror "$kind" "$kind-link-$round"; done
        unlink "$kind" "${!port_var}"
    done
fi
link signed "$signed_port" "$NOOP_LINK"
for round in $(seq "$ROUNDS"); do measure "signed-noop-$round" "$ours" --from="$rel_signed" --to="$dst/mirror" "${flags[@]}"; done
kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
kill "$signed_pid" 2>/dev/null || true
fresh_dst
"$ours" --from="$rel_plain" --to="$dst/mirror" "${flags[@]}" > /dev/null
link plain "$plain_port" "$NOOP_LINK"
for round in $(seq "$ROUNDS"); do measure "plain-noop-$round" "$ours" --from="$rel_plain" --to="$dst/mirror" "${flags[@]}"; done

python3 - "$OUT/results.jsonl" "$images" "$NOOP_LINK" "$FIRST_LINK" > "$OUT/table.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def runs(prefix): return [r for r in rows if r["run"].startswith(prefix) and "wall_s" in r]
def med(prefix, key): return statistics.median(r[key] for r in runs(prefix))
sigs = [r["sig_tags_at_destination"] for r in rows if r["run"].startswith("signed-r2r") and "sig_tags_at_destination" in r]
plain_sigs = [r["sig_tags_at_destination"] for r in rows if r["run"].startswith("plain-r2r") and "sig_tags_at_destination" in r]
print(f"| run | median wall s | median CPU s | peak RSS MiB | runs |")
print(f"| --- | ---: | ---: | ---: | ---: |")
for p, title in [("plain-r2r", "unsigned, registry → registry"), ("signed-r2r", "signed, registry → registry"),
                 ("plain-noop", f"unsigned, no-op rerun at {sys.argv[3]}"), ("signed-noop", f"signed, no-op rerun at {sys.argv[3]}")]:
    print(f"| {title} | {med(p,'wall_s'):.2f} | {med(p,'cpu_s'):.2f} | {max(r['peak_rss_mib'] for r in runs(p)):.1f} | {len(runs(p))} |")
linked = sys.argv[4] and runs("signed-link")
if linked:
    for p, title in [("plain-link", f"unsigned, registry → registry at {sys.argv[4]}"), ("signed-link", f"signed, registry → registry at {sys.argv[4]}")]:
        print(f"| {title} | {med(p,'wall_s'):.2f} | {med(p,'cpu_s'):.2f} | {max(r['peak_rss_mib'] for r in runs(p)):.1f} | {len(runs(p))} |")
cpu = lambda p: statistics.median(r["registries_cpu_s"] for r in rows if r["run"].startswith(p) and "registries_cpu_s" in r)
print()
print(f"registries' CPU (source + destination, user + sys), median: unsigned {cpu('plain-r2r'):.2f} s, signed {cpu('signed-r2r'):.2f} s")
print()
print(f"signed / unsigned wall: {med('signed-r2r','wall_s')/med('plain-r2r','wall_s'):.3f}x; "
      f"images {sys.argv[2]}; .sig tags at the destination: signed {sigs}, unsigned {plain_sigs}")
if linked:
    print()
    print(f"at {sys.argv[4]}: signed / unsigned wall {med('signed-link','wall_s')/med('plain-link','wall_s'):.3f}x; "
          f"registries' CPU unsigned {cpu('plain-link'):.2f} s, signed {cpu('signed-link'):.2f} s")
PY
cat "$OUT/table.md"
