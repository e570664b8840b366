# Shared by bench/signed.sh and bench/carry.sh (sourced, not run): the tools a benchmark
# needs, a private copy of the release build, local registries, timed runs and the record of
# the machine. The caller sets OUT and NAME before sourcing; it gets $work, $ours and $pids.

bench_setup() { # tools...: check them, build, copy the binaries, start $OUT afresh
    local tool
    for tool in docker-registry python3 curl /usr/bin/time "$@"; do
        command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 2; }
    done
    cargo build --quiet --release -p kubectl-release_mirror -p release-gen
    work=$(mktemp -d "/tmp/release-mirror-$NAME.XXXXXX")
    # A private copy: a build in this tree during the run must not swap the binary under us.
    cp target/release/kubectl-release_mirror target/release/release-gen "$work/"
    ours=$work/kubectl-release_mirror
    pids=()
    trap bench_cleanup EXIT
    rm -rf "$OUT"; mkdir -p "$OUT"
    { echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted src changes')"
      echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
      echo "started $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$OUT/machine.txt"
}
bench_cleanup() { # on exit: stop what was started; a failed run keeps the registries' logs in $OUT
    local status=$? p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ "$status" -eq 0 ] || cp "$work"/*.log "$OUT/" 2>/dev/null || true
    rm -rf "$work"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -fsS "$1" >/dev/null 2>&1 && return; sleep 0.05; done; echo "$1 did not answer" >&2; exit 1; }
registry() { # name port: a registry on port with storage $work/name (kept across restarts); pid in $last
    mkdir -p "$work/$1"
    printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:%s, secret: bench}\n' \
        "$work/$1" "$2" > "$work/$1.yml"
    docker-registry serve "$work/$1.yml" >> "$work/$1.log" 2>&1 &
    last=$!; pids+=("$last")
    wait_http "http://127.0.0.1:$2/v2/"
}
fresh_dst() { # a new, empty destination registry on $dst_port (pid in $dst_pid)
    [ -n "${dst_pid:-}" ] && { kill "$dst_pid"; wait "$dst_pid" 2>/dev/null || true; }
    rm -rf "$work/dst"; registry dst "$dst_port"; dst_pid=$last
}
measure() { # label cmd...: one line of $OUT/results.jsonl (wall, user+sys CPU, peak RSS)
    local label=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" > "$work/out" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r wall user sys rss < "$work/t"
    python3 -c 'import json,sys; l,w,u,s,r=sys.argv[1:]; print(json.dumps({"run":l,"wall_s":float(w),"cpu_s":round(float(u)+float(s),2),"peak_rss_mib":round(int(r)/1024,1)}))' \
        "$label" "$wall" "$user" "$sys" "$rss" | tee -a "$OUT/results.jsonl"
}
