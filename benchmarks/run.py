"""``python -m benchmarks.run [--quick]``: generate (once), serve, run every contender, report.

Each (workload, contender) pair runs in fresh processes: one cold run, then ``--repeats`` warm
runs; the reported time is the median of the warm runs. Output: a terminal table,
``benchmarks/results/latest.json``, ``docs/benchmarks.md`` and ``docs/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import data, plans, profile, report, stac
from benchmarks.config import (
    BANDS,
    BENCH_DIR,
    MULTIBAND_COLLECTION,
    REPO,
    S2_COLLECTION,
    Layout,
)
from benchmarks.contenders import CONTENDERS, ONLY
from benchmarks.lower_bound import decode_lower_bound
from benchmarks.runner import Contender, run_child
from benchmarks.serving import DEFAULT_PORT, BenchServers
from benchmarks.venvs import ensure_reference_venv, setup_torchgeo_venv, torchgeo_python

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
INDEXED = ("rasteret", "reference")  # contenders that read through a prebuilt collection
RUN_DIR = BENCH_DIR / "run"
LATEST = REPO / "benchmarks" / "results" / "latest.json"
QUICK_COLD_ONLY_S = 5.0  # in --quick, a pair whose cold run took longer gets no warm run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one warm run per pair (make bench-quick)")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="data size factor (1.0: 2048 px tiles)"
    )
    ap.add_argument("--latency-ms", type=float, default=20.0, help="first-byte delay per request")
    ap.add_argument("--bandwidth-mbps", type=float, default=None, help="cap on the proxy's link")
    ap.add_argument(
        "--repeats", type=int, default=None, help="warm runs per pair (default 5, quick 1)"
    )
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument(
        "--timeout", type=float, default=None, help="seconds per process (default 600, quick 180)"
    )
    ap.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="proxy port (kept stable for caches)"
    )
    ap.add_argument("--proxy-cpus", default="", help="pin the proxy to these CPUs, e.g. '1'")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md/.png")
    ap.add_argument(
        "--docs-only",
        action="store_true",
        help="only rewrite the docs page and chart from benchmarks/results/latest.json",
    )
    ap.add_argument(
        "--profile", default="", help="also profile these contenders with py-spy (untimed run)"
    )
    ap.add_argument(
        "--setup-torchgeo", action="store_true", help="create .bench/venv-torchgeo (~6 GB) first"
    )
    args = ap.parse_args(argv)
    args.repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    args.timeout = args.timeout or (180.0 if args.quick else 600.0)
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    args.profile = [c.strip() for c in args.profile.split(",") if c.strip()]
    for name in args.workloads:
        if name not in WORKLOADS:
            ap.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    for name in args.contenders:
        if name not in CONTENDERS:
            ap.error(f"unknown contender {name!r}; choose from {', '.join(CONTENDERS)}")
    return args


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))
    return path


def _src_fingerprint() -> str:
    """Changes whenever this project's source changes (its cached collections are then rebuilt)."""
    h = hashlib.sha1()
    for p in sorted((REPO / "src" / "rasteret").rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


def render_catalogs(layout: Layout, manifest: dict, base_url: str) -> dict[str, str]:
    """Static catalogs for this run's server URL (cheap: JSON files)."""
    s2 = stac.render_items(manifest["s2_items"], f"{base_url}/{'bench'}")
    root = RUN_DIR / "catalogs"
    return {
        "s2": str(stac.write_catalog(root / "s2", S2_COLLECTION, s2, "Synthetic S2-like scenes")),
        "w1": str(
            stac.write_catalog(
                root / "w1", S2_COLLECTION, s2[: plans.W1_SCENES], "W1: 50 scenes to index"
            )
        ),
        "w5_single": str(
            stac.write_catalog(
                root / "w5_single", S2_COLLECTION, manifest["w5_items"]["single"], "W5 local"
            )
        ),
        "w5_multiband": str(
            stac.write_catalog(
                root / "w5_multiband",
                MULTIBAND_COLLECTION,
                manifest["w5_items"]["multiband"],
                "W5 local multi-band",
            )
        ),
    }


def collection_specs(contender: str, catalogs: dict[str, str], base_url: str, layout: Layout):
    """Where each indexed contender keeps its collections; keyed so caches stay valid."""
    key = f"{base_url}|{layout.data_dir.name}"
    if contender == "rasteret":
        key += "|" + _src_fingerprint()
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    root = BENCH_DIR / "collections" / contender / digest
    return {
        name: {
            "catalog": catalogs[name],
            "collection": MULTIBAND_COLLECTION if name == "w5_multiband" else S2_COLLECTION,
            "multiband": name == "w5_multiband",
            "workspace": str(root / name),
        }
        for name in ("s2", "w5_single", "w5_multiband")
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.docs_only:
        report.write_docs(json.loads(LATEST.read_text()))
        log("rewrote docs/benchmarks.md and docs/benchmarks.png from latest.json")
        return 0
    t_start = time.perf_counter()
    layout = Layout.for_scale(args.scale)
    manifest = data.ensure_data(layout, log=log)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)

    contenders: dict[str, Contender] = {}
    skipped: dict[str, str] = {}
    for name in args.contenders:
        if name == "reference":
            python, reason = ensure_reference_venv(log)
            if python is None:
                skipped[name] = reason or "unavailable"
                log(f"reference skipped: {reason}")
                continue
            contenders[name] = Contender(name, python)
        elif name == "torchgeo":
            if args.setup_torchgeo:
                failure = setup_torchgeo_venv(log)
                if failure:
                    log(f"TorchGeo venv could not be created: {failure}")
            contenders[name] = Contender(name, torchgeo_python())
        else:
            contenders[name] = Contender(name)

    proxy_cpus = {int(c) for c in args.proxy_cpus.split(",") if c.strip()} or None
    results: dict[str, dict[str, Any]] = {w: {} for w in args.workloads}
    extras: dict[str, Any] = {}
    log(f"starting nginx (HTTPS) + latency proxy ({args.latency_ms:g} ms)")
    with BenchServers(
        layout.www_root,
        latency_ms=args.latency_ms,
        bandwidth_mbps=args.bandwidth_mbps,
        port=args.port,
        proxy_cpus=proxy_cpus,
    ) as servers:
        base_url = servers.base_url
        catalogs = render_catalogs(layout, manifest, base_url)
        plan_base = {
            "W1": plans.w1_plan(
                layout, stac.render_items(manifest["s2_items"], None), base_url, catalogs["w1"]
            ),
            "W2": plans.w2_plan(layout, base_url),
            "W3": plans.w3_plan(layout, base_url),
            "W4": plans.w4_plan(layout, base_url),
            "W5": plans.w5_plan(layout, manifest["w5_items"]),
        }
        collections = prepare_indexes(contenders, skipped, catalogs, base_url, layout, args)
        for workload in args.workloads:
            for name in args.contenders:
                plan = dict(plan_base[workload], collections=collections.get(name, {}))
                results[workload][name] = run_pair(
                    name,
                    workload,
                    plan,
                    contenders,
                    skipped,
                    None if workload == "W5" else servers,
                    args,
                )
            if workload == "W5":
                w5 = plan_base["W5"]
                extras["W5"] = decode_lower_bound(
                    [*w5["single"]["paths"].values(), w5["multiband"]["path"]]
                )
                log(f"W5 decode lower bound {extras['W5']['lower_bound_s']:.3f} s")
            report.mark_agreement(results[workload])

    doc = report.build_results(results, extras, args, layout, manifest)
    doc["total_s"] = round(time.perf_counter() - t_start, 1)
    print(report.table(doc))
    complete = args.workloads == list(WORKLOADS) and args.contenders == list(CONTENDERS)
    out = _write_json(LATEST if complete else RUN_DIR / "results.json", doc)
    if complete and not args.no_docs:
        report.write_docs(doc)
    log(f"done in {doc['total_s']} s; wrote {out.relative_to(REPO)}")
    if not complete:
        log("a subset of workloads/contenders: latest.json and the docs page were left alone")
    return 0


def run_pair(name, workload, plan, contenders, skipped, servers, args) -> dict[str, Any]:
    """Measure (and optionally profile) one contender on one workload; or say why not."""
    if name in skipped:
        return {"skipped": skipped[name]}
    if workload not in ONLY.get(name, (workload,)):
        return {"skipped": f"{name} only takes part in {', '.join(ONLY[name])}"}
    plan_path = _write_json(RUN_DIR / "plans" / f"{workload}-{name}.json", plan)
    row = measure(contenders[name], workload, plan_path, servers, args)
    if name in args.profile and "median_s" in row:
        row["profile"] = profile_run(contenders[name], workload, plan_path, args)
    return row


def prepare_indexes(contenders, skipped, catalogs, base_url, layout, args) -> dict[str, dict]:
    """Build (or reuse) the collections rasteret and the reference read in W2-W5; not timed."""
    out: dict[str, dict] = {}
    needs = [w for w in args.workloads if w != "W1"]
    for name in INDEXED:
        if name not in contenders or not needs:
            continue
        specs = collection_specs(name, catalogs, base_url, layout)
        plan_path = _write_json(
            RUN_DIR / "plans" / f"prepare-{name}.json", {"bands": list(BANDS), "collections": specs}
        )
        t0 = time.perf_counter()
        res = run_child(
            contenders[name], "prepare", plan_path, RUN_DIR / "out", tag="prepare", log=None,
            timeout=max(args.timeout, 600),
        )  # fmt: skip
        if "prepared" not in res:
            reason = res.get("skipped") or f"building its collections failed: {res.get('error')}"
            skipped[name] = reason
            log(f"{name}: {reason}")
            continue
        log(f"{name}: collections ready in {time.perf_counter() - t0:.1f} s")
        out[name] = res["prepared"]
    return out


def measure(contender: Contender, workload: str, plan: Path, log_, args) -> dict[str, Any]:
    """One cold run, then ``args.repeats`` warm runs, each in a fresh process."""
    runs = []
    for i in range(1 + args.repeats):
        tag = "cold" if i == 0 else f"warm{i}"
        res = run_child(
            contender, workload, plan, RUN_DIR / "out", tag=tag, log=log_, timeout=args.timeout
        )
        if "skipped" in res:
            log(f"{workload} {contender.name}: skipped ({res['skipped']})")
            return {"skipped": res["skipped"]}
        if "error" in res:
            log(f"{workload} {contender.name} {tag}: ERROR {res['error'][:300]}")
            return {"error": res["error"], "ok": False}
        server = f", server CPU {res['server_cpu_s']:.2f} s" if "server_cpu_s" in res else ""
        log(
            f"{workload} {contender.name} {tag}: {res['seconds']:.2f} s, "
            f"{res.get('requests', '-')} requests on {res.get('connections', '-')} connections, "
            f"{res['peak_rss_mb']:.0f} MB{server}"
        )
        runs.append(res)
        if i == 0 and args.quick and res["seconds"] > QUICK_COLD_ONLY_S:
            log(
                f"{workload} {contender.name}: cold run > {QUICK_COLD_ONLY_S:g} s, no warm run (quick)"
            )
            break
    warm = runs[1:] or runs
    digests = {r["digest"] for r in runs}
    return {
        "median_s": statistics.median(r["seconds"] for r in warm),
        "cold_s": runs[0]["seconds"],
        "warm_runs": len(runs) - 1,
        "runs_s": [round(r["seconds"], 4) for r in runs],
        "requests": _median_int(r.get("requests") for r in warm),
        "connections": _median_int(r.get("connections") for r in warm),
        "bytes": _median_int(r.get("bytes") if log_ else r.get("read_bytes") for r in warm),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in warm), 1),
        "server_cpu_s": _median(r.get("server_cpu_s") for r in warm),
        "digest": runs[0]["digest"] if len(digests) == 1 else "unstable",
        "parts": runs[0]["parts"],
    }


def profile_run(contender: Contender, workload: str, plan: Path, args) -> dict[str, Any]:
    """One extra, untimed run under py-spy; the summary goes into the results."""
    raw = BENCH_DIR / "profiles" / f"{contender.name}-{workload}.txt"
    wrap = profile.wrapper(raw)
    if wrap is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    raw.unlink(missing_ok=True)
    res = run_child(
        contender, workload, plan, RUN_DIR / "out", tag="profile", log=None,
        timeout=args.timeout * 4, wrap=wrap,
    )  # fmt: skip
    if not raw.exists():
        return {"error": res.get("error", "py-spy wrote no profile")}
    summary = profile.summarize(raw)
    log(f"{workload} {contender.name} profile ({raw}), most self time:")
    for share, frame in summary["self"][:8]:
        log(f"    {share:6.1%}  {frame}")
    return {"raw": str(raw.relative_to(REPO)), **summary}


def _median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 3) if vals else None


def _median_int(values) -> int | None:
    vals = [v for v in values if v is not None]
    return int(statistics.median(vals)) if vals else None


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: children killed, servers stopped, CA removed


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
