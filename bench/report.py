#!/usr/bin/env python3
"""Bookkeeping of bench/run.sh's link scenarios: what a scenario must move, one record per
measured run, the Markdown tables and the throughput plot.

  report.py unique PLAN.json SRC_HOST            JSON: blobs, blob_bytes, manifest_bytes that
                                                 the plan's images hold (walked at SRC_HOST)
  report.py scenario OUT NAME key=value...       describe a scenario (title, rtt_ms, mbit,
                                                 rtts, unique=FILE from `unique`, command)
  report.py record OUT SCENARIO TOOL TIMEFILE START [stats=STATS.json] [log=STDERR]...
                                                 one measured run (GNU time "%e %U %S %M"); the
                                                 plan time from the log's "planned ..." line
  report.py tables OUT                           Markdown tables of every scenario
  report.py cpu OUT UNIQUE.json                  CPU per GiB of the cpu scenario's runs
  report.py plot OUT PNG SCENARIO...             throughput over time of those scenarios

The ideal of a scenario over a link of R seconds round trip and B bytes/s is
  U / B + k * R
U: the bytes that must cross the link (unique blobs + manifests), k: the round trips no
client can overlap with the transfer (see docs/benchmarks.md)."""
import json
import os
import re
import sys

from ceiling import get_manifest, split

GIB = 1 << 30


def unique(plan_path, src_host):
    plan = json.load(open(plan_path))
    blobs, manifest_bytes, seen = {}, 0, set()
    for m in plan["mappings"]:
        _, rest = split(m["source"])
        repo, digest = rest.split("@")
        todo = [digest]
        while todo:
            ref = todo.pop()
            if (repo, ref) in seen:
                continue
            seen.add((repo, ref))
            body, _ = get_manifest(src_host, repo, ref)
            manifest_bytes += len(body)
            doc = json.loads(body)
            todo.extend(c["digest"] for c in doc.get("manifests", []))
            for b in ([doc["config"]] if "config" in doc else []) + doc.get("layers", []):
                blobs[b["digest"]] = b["size"]
    # What even a no-op rerun reads: each release's manifest, config and payload (top) layer.
    release_read = 0
    for release in (m for m in plan["mappings"] if m["name"] == ""):
        _, rest = split(release["source"])
        body, _ = get_manifest(src_host, *rest.split("@"))
        doc = json.loads(body)
        release_read += len(body) + doc["config"]["size"] + doc["layers"][-1]["size"]
    return {"images": len(plan["mappings"]), "blobs": len(blobs), "blob_bytes": sum(blobs.values()),
            "manifest_bytes": manifest_bytes, "release_read_bytes": release_read}


def append(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def load(path):
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def scenario(out, name, pairs):
    rec = {"name": name}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "unique":
            rec["unique"] = json.load(open(value))
        elif key.startswith("unique_"):
            rec.setdefault("unique_by_tool", {})[key.removeprefix("unique_")] = json.load(open(value))
        elif key in ("rtt_ms", "mbit", "rtts", "noop_bytes"):
            rec[key] = float(value)
        else:
            rec[key] = value
    append(os.path.join(out, "scenarios.jsonl"), rec)


def record(out, scen, tool, timefile, start, *extra):
    """extra: stats=PROXY_STATS.json, and NAME_cpu=TICKS/HZ of the registries and the proxy."""
    # GNU time writes "Command exited with non-zero status N" first when N != 0.
    wall, user, sys_, rss, status = (open(timefile).read().strip().splitlines()[-1].split() + ["0"])[:5]
    rec = {"scenario": scen, "tool": tool, "wall": float(wall), "cpu": float(user) + float(sys_),
           "user": float(user), "sys": float(sys_), "rss_kib": int(rss), "start": float(start), "exit": int(status)}
    rec["load1"] = float(open("/proc/loadavg").read().split()[0])  # others sharing the cores
    stats_path = events_path = None
    for pair in extra:
        key, _, value = pair.partition("=")
        if key == "stats":
            stats_path = value
        elif key == "events":
            events_path = value
        elif key == "mbit":
            rec["link_mbit"] = float(value)
        elif key == "log" and os.path.exists(value):
            rec.update(plan_time(open(value, errors="replace").read()))
        elif key.endswith("_cpu"):
            ticks, hz = value.split("/")
            rec[key] = int(ticks) / int(hz)
    if stats_path and os.path.exists(stats_path):
        stats = json.load(open(stats_path))
        bins = stats.pop("bins")
        rec["proxy"] = stats
        if stats.get("first_blob_byte"):
            rec["first_blob_byte_s"] = stats["first_blob_byte"] - float(start)
        curve = os.path.join(out, "curves", f"{scen}.{tool}.json")
        os.makedirs(os.path.dirname(curve), exist_ok=True)
        json.dump({"bin_s": stats["bin_s"], "offset_s": stats["since"] - float(start), "bins": bins}, open(curve, "w"))
        events = json.load(open(events_path)) if events_path and os.path.exists(events_path) else []
        rec["phases"] = phases(stats, bins, events, stats["since"] - float(start), rec.get("link_mbit"))
    append(os.path.join(out, "results.jsonl"), rec)


PLANNED = re.compile(r"planned (\d+) images, (\d+) blobs to copy \(([^)]*)\) in ([0-9.]+) s")


def plan_time(log):
    """The run's own "planned N images, M blobs to copy (X) in S s" line, when it logged one."""
    found = PLANNED.search(log)
    if not found:
        return {}
    return {"plan_s": float(found[4]), "plan_images": int(found[1]), "plan_blobs": int(found[2])}


def phases(stats, bins, events, offset, mbit):
    """When the run did what, in seconds since its start, from the proxy's record: the span of
    its manifest reads, its blob requests, when the link first ran at >= 90 % of its rate
    (1 s average), how long it ran so, and the last byte."""
    out = {}
    manifests = [e for e in events if e[2] == "manifest-get"]
    blobs = [e for e in events if e[2] in ("blob-redirect", "cdn-get")]
    if manifests:
        out["manifests"] = [round(min(e[0] for e in manifests) + offset, 2), round(max(e[1] for e in manifests) + offset, 2)]
    if blobs:
        out["blobs"] = [round(min(e[0] for e in blobs) + offset, 2), round(max(e[1] for e in blobs) + offset, 2)]
    last = max((i for i, b in enumerate(bins) if b), default=None)
    if last is not None:
        out["last_byte"] = round((last + 1) * stats["bin_s"] + offset, 2)
    if mbit:
        rate = mbit * 1e6 / 8 * stats["bin_s"]
        width = max(1, round(1.0 / stats["bin_s"]))
        avg = [sum(bins[max(0, i - width + 1):i + 1]) / width for i in range(len(bins))]
        full = [i for i, v in enumerate(avg) if v >= 0.9 * rate]
        if full:
            out["full_at"] = round((full[0] + 1) * stats["bin_s"] + offset, 2)
        out["full_s"] = round(sum(1 for b in bins if b >= 0.9 * rate) * stats["bin_s"], 2)
    return out


def ideal_of(s):
    """(seconds, formula text) or (None, reason)."""
    if not s.get("mbit") or "unique" not in s:
        return None, "unlimited link: no bandwidth term"
    u = s["unique"]["blob_bytes"] + s["unique"]["manifest_bytes"]
    if s.get("noop"):
        u = float(s.get("noop_bytes", 0))
    rate = s["mbit"] * 1e6 / 8
    rtt = s.get("rtt_ms", 0) / 1000
    k = s.get("rtts", 0)
    return u / rate + k * rtt, f"{u / 1e9:.3f} GB / {s['mbit']:g} Mbit/s + {k:g} x {rtt * 1000:g} ms"


def fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}"


def tables(out):
    scens = {s["name"]: s for s in load(os.path.join(out, "scenarios.jsonl"))}
    runs = load(os.path.join(out, "results.jsonl"))
    for name, s in scens.items():
        rows = [r for r in runs if r["scenario"] == name]
        if not rows:
            continue
        ideal, formula = ideal_of(s)
        ceiling = next((r["wall"] for r in rows if r["tool"] == "ceiling"), None)
        proxied = any("proxy" in r for r in rows)
        print(f"### {s.get('title', name)}\n")
        if "unique" in s:
            u = s["unique"]
            text = (f"{u['images']} images, {u['blobs']} unique blobs, {u['blob_bytes'] / GIB:.2f} GiB "
                    f"({u['blob_bytes']:,} bytes) + {u['manifest_bytes']:,} bytes of manifests. ")
            if s.get("noop"):
                text = f"Destination complete; the release manifest, config and payload layer still to read ({s['noop_bytes']:,.0f} bytes). "
            print(text + (f"Ideal = {formula} = {ideal:.2f} s." if ideal is not None else f"Ideal: n/a ({formula})."))
            print()
        planned = any("plan_s" in r for r in rows)
        head = ["tool", "wall s", "× ideal", "× ceiling", "CPU s (user+sys)", "CPU s / GiB", "peak RSS MiB",
                "CPU s: src registry / dst registry" + (" / proxy" if proxied else "")]
        head += ["plan s"] if planned else []
        if proxied:
            head += ["first blob byte s", "blob bytes read from source", "read − unique"]
        print("| " + " | ".join(head) + " |")
        print("| --- |" + " ---: |" * (len(head) - 1))
        if ideal is not None:
            print("| ideal | " + f"{ideal:.2f} | 1.00 |" + " |" * (len(head) - 3))
        for r in rows:
            u = s.get("unique_by_tool", {}).get(r["tool"], s.get("unique"))
            moved = u["blob_bytes"] if u and not s.get("noop") else 0
            others = " / ".join(fmt(r.get(k), 1) for k in ["src_cpu", "dst_cpu"] + (["proxy_cpu"] if proxied else []))
            name = r["tool"] + (f" (**failed**, exit {r['exit']})" if r.get("exit") else "")
            cells = [name, f"{r['wall']:.2f}", fmt(r["wall"] / ideal if ideal else None),
                     fmt(r["wall"] / ceiling if ceiling and r["tool"] != "ceiling" else None), f"{r['cpu']:.2f}",
                     fmt(r["cpu"] / (moved / GIB) if moved else None), f"{r['rss_kib'] / 1024:.1f}", others]
            cells += [fmt(r.get("plan_s"))] if planned else []
            if proxied:
                read = r.get("proxy", {}).get("blob_bytes")
                extra = read - u["blob_bytes"] if read is not None and u and not s.get("noop") else None
                cells += [fmt(r.get("first_blob_byte_s")), f"{read:,}" if read is not None else "",
                          f"{extra:+,}" if extra is not None else ""]
            print("| " + " | ".join(cells) + " |")
        timed = [r for r in rows if r.get("phases")]
        if timed:
            print("\nWhen (seconds since start, at the proxy): manifest reads, blob requests (first start – last "
                  "end), the link at ≥ 90 % of its rate (first, and for how long), the last byte.\n")
            print("| tool | manifest reads | blob requests | link ≥ 90 % from | ≥ 90 % for | last byte | end |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            span = lambda p, k: f"{p[k][0]:.2f} – {p[k][1]:.2f}" if k in p else ""
            for r in timed:
                p = r["phases"]
                print(f"| {r['tool']} | {span(p, 'manifests')} | {span(p, 'blobs')} | {fmt(p.get('full_at'))} "
                      f"| {fmt(p.get('full_s'), 1)} | {fmt(p.get('last_byte'))} | {r['wall']:.2f} |")
        if s.get("command"):
            print(f"\nReproduce: `{s['command']}`")
        print()


def cpu(out, unique_path):
    """Medians of the cpu scenario: CPU seconds per GiB of blobs moved, against the floor."""
    import statistics
    gib = json.load(open(unique_path))["blob_bytes"] / GIB
    runs = [r for r in load(os.path.join(out, "results.jsonl")) if r["scenario"].startswith("cpu-")]
    groups = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["tool"]), []).append(r)
    med = {k: (statistics.median(r["cpu"] for r in v), statistics.median(r["wall"] for r in v),
               max(r["rss_kib"] for r in v), len(v), statistics.median(r["user"] for r in v),
               statistics.median(r["sys"] for r in v)) for k, v in groups.items()}
    floor = {hog: med.get(("cpu-floor", "openssl" + hog)) for hog in ("", "+hog")}
    print(f"{gib:.2f} GiB of blobs; medians of the runs; CPU = user + sys of the process (and its children).\n")
    print("| direction | tool | runs | CPU s | user / sys s | CPU s / GiB | × floor | wall s | peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for scen in ("cpu-floor", "cpu-r2r", "cpu-r2d", "cpu-d2r"):
        for tool in ("openssl", "openssl+hog", "ours", "ours+hog", "skopeo"):
            m = med.get((scen, tool))
            if not m:
                continue
            f = floor["+hog" if tool.endswith("+hog") else ""]
            ratio = fmt(m[0] / f[0]) if f else ""
            print(f"| {scen.removeprefix('cpu-')} | {tool} | {m[3]} | {m[0]:.2f} | {m[4]:.2f} / {m[5]:.2f} | "
                  f"{m[0] / gib:.2f} | {ratio} | {m[1]:.2f} | {m[2] / 1024:.1f} |")
    print()
    for scen in ("cpu-r2r", "cpu-r2d", "cpu-d2r"):
        quiet, hog = med.get((scen, "ours")), med.get((scen, "ours+hog"))
        if quiet and hog:
            print(f"- {scen.removeprefix('cpu-')}: beside the hog {hog[0] / quiet[0]:.2f}× the quiet CPU")
    print("\nReproduce: `SCENARIOS=cpu OUT=bench/results/cpu bench/run.sh`")


def plot(out, png, names):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scens = {s["name"]: s for s in load(os.path.join(out, "scenarios.jsonl"))}
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 3.6 * len(names)), squeeze=False)
    colours = {"ours": "tab:blue", "ceiling": "tab:green", "skopeo": "tab:orange", "ours-c6": "tab:purple", "ours-c32": "tab:red"}
    for ax, name in zip(axes[:, 0], names):
        s = scens[name]
        ideal, _ = ideal_of(s)
        for tool in colours:
            path = os.path.join(out, "curves", f"{name}.{tool}.json")
            if not os.path.exists(path):
                continue
            c = json.load(open(path))
            width = max(1, round(1.0 / c["bin_s"]))  # one-second moving average
            bins = c["bins"]
            smooth = [sum(bins[max(0, i - width + 1):i + 1]) / (width * c["bin_s"]) for i in range(len(bins))]
            xs = [c["offset_s"] + (i + 1) * c["bin_s"] for i in range(len(bins))]
            ax.plot(xs, [v * 8 / 1e6 for v in smooth], label=tool, color=colours[tool], linewidth=1)
        if s.get("mbit"):
            ax.axhline(s["mbit"], color="grey", linestyle="--", linewidth=0.8, label=f"link {s['mbit']:g} Mbit/s")
        if ideal:
            ax.axvline(ideal, color="black", linestyle=":", linewidth=0.8, label=f"ideal end {ideal:.0f} s")
        ax.set_title(s.get("title", name), fontsize=10)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("Mbit/s from the source (1 s avg)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "unique":
        print(json.dumps(unique(args[0], args[1])))
    elif cmd == "scenario":
        scenario(args[0], args[1], args[2:])
    elif cmd == "record":
        record(*args)
    elif cmd == "tables":
        tables(args[0])
    elif cmd == "cpu":
        cpu(args[0], args[1])
    elif cmd == "plot":
        plot(args[0], args[1], args[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
