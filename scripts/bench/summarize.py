"""Turns the raw runs of scripts/bench.sh into medians, ratios, a markdown table and JSON."""
import json
import statistics
import sys


def main(raw_path, json_path):
    runs = [json.loads(line) for line in open(raw_path) if line.strip()]
    groups = {}
    for run in runs:
        groups.setdefault((run["target"], run["connections"]), []).append(run)
    results = []
    for (target, connections), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        med = lambda key: statistics.median(r[key] for r in group if r.get(key) is not None) if any(
            r.get(key) is not None for r in group) else None
        results.append({
            "target": target, "connections": connections, "runs": len(group),
            "rps": med("rps"), "p50_ms": med("p50_ms"), "p90_ms": med("p90_ms"), "p99_ms": med("p99_ms"),
            "cpu_us_per_request": med("cpu_us_per_request"), "peak_rss_mb": med("peak_rss_mb"),
        })
    by = {(r["target"], r["connections"]): r for r in results}
    for r in results:
        for other in ("nginx", "haproxy", "floor"):
            base = by.get((other, r["connections"]))
            r[f"rps_vs_{other}"] = round(r["rps"] / base["rps"], 3) if base and base["rps"] else None
    for r in results:
        base = by.get(("portico-base", r["connections"]))
        r["rps_vs_portico_base"] = round(r["rps"] / base["rps"], 3) if base and base["rps"] else None
    json.dump({"results": results}, open(json_path, "w"), indent=2)
    fmt = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    print("| conns | target | req/s | p50 ms | p90 ms | p99 ms | CPU µs/req | peak RSS MB | vs nginx | vs HAProxy "
          "| vs floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['connections']} | {r['target']} | {fmt(r['rps'], 0)} | {fmt(r['p50_ms'], 2)} | {fmt(r['p90_ms'], 2)} "
              f"| {fmt(r['p99_ms'], 2)} | {fmt(r['cpu_us_per_request'])} | {fmt(r['peak_rss_mb'])} "
              f"| {fmt(r['rps_vs_nginx'], 2)} | {fmt(r['rps_vs_haproxy'], 2)} | {fmt(r['rps_vs_floor'], 2)} |")
    bases = [r for r in results if r["target"] == "portico" and r["rps_vs_portico_base"]]
    for r in bases:
        base = by[("portico-base", r["connections"])]
        print(f"\nportico / portico-base at {r['connections']} connections: {r['rps_vs_portico_base']:.3f}× req/s, "
              f"CPU {r['cpu_us_per_request']:.1f} vs {base['cpu_us_per_request']:.1f} µs/req")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
