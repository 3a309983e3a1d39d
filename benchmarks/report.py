"""Results: agreement between contenders, the terminal table, latest.json, the docs page and chart."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import os
import platform
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.config import DOCS_DIR, REPO, Layout
from benchmarks.contenders import CONTENDERS
from benchmarks.contenders.gdal_settings import THREADS, TUNED_GDAL
from benchmarks.venvs import REFERENCE_REQUIREMENT

TRUTH_ORDER = ("rasterio", "rasterio_sequential")  # GDAL is the ground truth when it ran
DESCRIPTIONS = {
    "W1": "build: index 50 scenes x 4 bands (200 COGs) from a static STAC catalog",
    "W2": "AOI time series: 5 field-sized AOIs x 24 dates x 2 bands",
    "W3": "points: 1,000 points x 24 dates x 2 bands",
    "W4": "chips: 64 random 256x256 chips x 4 bands x 8 dates, one chip after another (TorchGeo-style)",
    "W5": "decode-bound: full reads of local 4096x4096 scenes (4 single-band COGs + one 4-band COG)",
}
TARGETS = {
    "W1": {"reference": 5.0},
    "W2": {"reference": 2.0, "rasterio": 3.0, "rasterio_sequential": 10.0},
    "W3": {"reference": 2.0, "rasterio": 3.0, "rasterio_sequential": 10.0},
    "W4": {"reference": 2.0, "rasterio": 3.0, "rasterio_sequential": 10.0},
}
NOTES = REPO / "benchmarks" / "notes.md"


def mark_agreement(rows: dict[str, dict[str, Any]]) -> None:
    """Set ``ok`` on every row that ran: its digest equals GDAL's (or the majority's)."""
    digests = {n: r["digest"] for n, r in rows.items() if r.get("digest")}
    truth = next((digests[n] for n in TRUTH_ORDER if n in digests), None)
    if truth is None and digests:
        truth = Counter(digests.values()).most_common(1)[0][0]
    for r in rows.values():
        if "digest" in r:
            r["ok"] = r["digest"] == truth and truth != "unstable"
        elif "error" in r:
            r["ok"] = False


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for pkg in ("rasteret", "rasterio", "obstore", "imagecodecs", "async-geotiff", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    try:
        import rasterio

        versions["GDAL"] = rasterio.__gdal_version__
    except ImportError:
        pass
    versions["reference"] = REFERENCE_REQUIREMENT
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }


def build_results(
    results: dict[str, dict[str, Any]],
    extras: dict[str, Any],
    args: argparse.Namespace,
    layout: Layout,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    workloads: dict[str, Any] = {}
    for w, rows in results.items():
        out = {}
        for name in CONTENDERS:
            if name in rows:
                out[name] = {k: _round(v) for k, v in rows[name].items()}
        if w in extras:
            out["lower_bound_s"] = round(extras[w]["lower_bound_s"], 4)
            out["lower_bound"] = {k: _round(v) for k, v in extras[w].items()}
        workloads[w] = out
    return {
        "latency_ms": args.latency_ms,
        "scale": args.scale,
        "bandwidth_mbps": args.bandwidth_mbps,
        "quick": args.quick,
        "warm_runs": args.repeats,
        "proxy_cpus": args.proxy_cpus or None,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "s2_tile_px": layout.s2_side,
            "w5_scene_px": layout.w5_side,
            "files": manifest["files"],
            "bytes": manifest["bytes"],
        },
        "machine": machine(),
        "workloads": workloads,
    }


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def ratio(doc: dict[str, Any], workload: str, name: str) -> float | None:
    """How many times longer ``name`` took than rasteret (None when either did not run)."""
    rows = doc["workloads"].get(workload, {})
    ours, other = rows.get("rasteret", {}), rows.get(name, {})
    if "median_s" in ours and "median_s" in other and ours["median_s"] > 0:
        return other["median_s"] / ours["median_s"]
    return None


def _fmt_row(name: str, r: dict[str, Any], x: float | None) -> list[str]:
    if "skipped" in r:
        return [name, "skipped", "", "", "", "", "", r["skipped"][:60]]
    if "median_s" not in r:
        return [name, "error", "", "", "", "", "", r.get("error", "")[:60]]
    mb = f"{r['bytes'] / 1e6:.1f}" if r.get("bytes") is not None else "-"
    return [
        name,
        f"{r['median_s']:.3f}" + ("*" if r.get("warm_runs") == 0 else ""),
        f"{r['cold_s']:.3f}",
        f"{x:.2f}x" if x is not None else "-",
        str(r["requests"]) if r.get("requests") is not None else "-",
        mb,
        f"{r['peak_rss_mb']:.0f}",
        "yes" if r.get("ok") else "WRONG",
    ]


COLD_ONLY = "* cold run only (no warm run: --repeats 0, or --quick and the cold run took over 5 s)"
HEADER = [
    "contender",
    "median s",
    "cold s",
    "vs rasteret",
    "requests",
    "MB",
    "peak RSS MB",
    "pixels agree",
]


def _rows(doc: dict[str, Any], workload: str) -> list[list[str]]:
    rows = doc["workloads"][workload]
    return [_fmt_row(n, rows[n], ratio(doc, workload, n)) for n in CONTENDERS if n in rows]


def table(doc: dict[str, Any]) -> str:
    """Plain-text table for the terminal."""
    lines = [
        f"\nrasteret benchmarks: latency {doc['latency_ms']:g} ms, scale {doc['scale']:g}, "
        f"{doc['warm_runs']} warm run(s) per pair after one cold run (median of warm runs)"
    ]
    for w, rows in doc["workloads"].items():
        lines.append(f"\n{w}  {DESCRIPTIONS[w]}")
        body = [HEADER, *_rows(doc, w)]
        widths = [max(len(r[i]) for r in body) for i in range(len(HEADER))]
        for r in body:
            lines.append("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
        if "lower_bound_s" in rows:
            lb = rows["lower_bound_s"]
            ours = rows.get("rasteret", {}).get("median_s")
            extra = f"; rasteret at {ours / lb:.2f}x of it" if ours else ""
            lines.append(f"  decode lower bound {lb:.3f} s{extra}")
    lines.append(f"\n{COLD_ONLY}")
    return "\n".join(lines)


def targets(doc: dict[str, Any]) -> list[str]:
    """One line per target: met or missed, and by how much."""
    out = []
    for w, wanted in TARGETS.items():
        for name, factor in wanted.items():
            x = ratio(doc, w, name)
            if x is None:
                out.append(f"| {w} | {factor:g}x faster than {name} | not measured | - |")
                continue
            verdict = "met" if x >= factor else f"missed ({x / factor:.0%} of target)"
            out.append(f"| {w} | {factor:g}x faster than {name} | {x:.2f}x | {verdict} |")
    w5 = doc["workloads"].get("W5", {})
    if "lower_bound_s" in w5 and "median_s" in w5.get("rasteret", {}):
        x = w5["rasteret"]["median_s"] / w5["lower_bound_s"]
        verdict = "met" if x <= 1.3 else f"missed ({x:.2f}x instead of <= 1.3x)"
        out.append(f"| W5 | within 1.3x of the decode lower bound | {x:.2f}x | {verdict} |")
    return out


def _md_table(doc: dict[str, Any], workload: str) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += [
        "| " + " | ".join(c.replace("*", "\\*") for c in r) + " |" for r in _rows(doc, workload)
    ]
    return "\n".join(lines)


def _profiles(doc: dict[str, Any]) -> list[str]:
    """Top self-time functions of each profiled row (``--profile``), as a docs section."""
    out = []
    for w, rows in doc["workloads"].items():
        for name, r in rows.items():
            prof = r.get("profile") if isinstance(r, dict) else None
            if prof and prof.get("self"):
                top = "; ".join(f"{share:.0%} `{frame}`" for share, frame in prof["self"][:6])
                out.append(f"- {w} {name}: {top}")
    if not out:
        return []
    return [
        "## Profiles",
        "",
        "Share of busy samples (py-spy, extra untimed run) by function, most self time first:",
        "",
        *out,
        "",
    ]


def write_docs(doc: dict[str, Any]) -> None:
    DOCS_DIR.mkdir(exist_ok=True)
    chart(doc, DOCS_DIR / "benchmarks.png")
    m = doc["machine"]
    parts = [
        "# Benchmarks",
        "",
        "Generated by `make bench` / `make bench-quick` (`python -m benchmarks.run`); do not edit by "
        "hand: the analysis section comes from `benchmarks/notes.md`.",
        "",
        f"Run {doc['generated']}: latency {doc['latency_ms']:g} ms per request"
        + (
            f", bandwidth capped at {doc['bandwidth_mbps']:g} Mbit/s"
            if doc["bandwidth_mbps"]
            else ""
        )
        + f", scale "
        f"{doc['scale']:g} ({doc['data']['s2_tile_px']} px S2-like tiles, "
        f"{doc['data']['w5_scene_px']} px W5 scenes), "
        f"{'quick mode, ' if doc['quick'] else ''}one cold run then {doc['warm_runs']} warm "
        "run(s) per contender, each in a fresh process; times are medians of the warm runs. "
        '"vs rasteret" is how many times longer a contender took than rasteret.',
        "",
        "![benchmark chart](benchmarks.png)",
        "",
    ]
    for w in doc["workloads"]:
        parts += [f"## {w}: {DESCRIPTIONS[w]}", "", _md_table(doc, w), ""]
        if "lower_bound_s" in doc["workloads"][w]:
            lb = doc["workloads"][w]["lower_bound"]
            parts += [
                f"Decode lower bound: {lb['lower_bound_s']:.3f} s (single-threaded libdeflate + "
                f"predictor decode of all {lb['tiles']} tiles: {lb['single_thread_decode_s']:.3f} s, "
                f"divided by {lb['cores']} cores).",
                "",
            ]
    parts += [
        "\\" + COLD_ONLY,
        "",
        "## Targets",
        "",
        "| workload | target | measured | verdict |",
        "|---|---|---|---|",
        *targets(doc),
        "",
    ]
    parts += _profiles(doc)
    if NOTES.exists():
        parts += [NOTES.read_text().strip(), ""]
    parts += [
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['memory_gb']} GB RAM; {m['os']}",
        f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        "",
        "## Method",
        "",
        METHOD.format(
            threads=THREADS, gdal="\n".join(f"    - `{k}={v}`" for k, v in TUNED_GDAL.items())
        ),
    ]
    (DOCS_DIR / "benchmarks.md").write_text("\n".join(parts).rstrip() + "\n")


METHOD = """\
- **Data** (`benchmarks/data.py`, cached under `.bench/data/`): Sentinel-2-like COGs, uint16,
  DEFLATE + predictor 2, 512 px tiles, overviews, written by GDAL's COG driver. Texture is 1/f^3
  noise (NumPy FFT) plus per-date haze and sensor noise, which DEFLATE compresses ~1.5x like real
  L2A bands. Three tiles (two in UTM zone 32N, one in 33N) x 24 dates x 4 bands (B02, B03, B04,
  B08), static STAC catalogs for them, and for W5 one local 4096 px scene as four single-band
  COGs plus one pixel-interleaved 4-band COG. `--scale` multiplies the tile sizes.
- **Serving** (`benchmarks/serving.py`): nginx on 127.0.0.1 over HTTPS (a throwaway local CA)
  serving a path-style `bucket/key` tree, behind the project's proxy (`tests/servers/proxy.py`,
  TCP mode) which delays every request and every new connection by `--latency-ms` and can cap
  bandwidth (`--bandwidth-mbps`). The reference implementation reaches HTTPS servers only through
  the system trust store, so the run installs the CA system-wide
  (`/usr/local/share/ca-certificates/rasteret-bench-local-ca.crt`) and removes it at the end:
  run the benchmarks on a throwaway machine. GDAL gets the system bundle through
  `GDAL_CURL_CA_BUNDLE`. Requests and bytes per run are counted from nginx's access log.
- **Contenders** (`benchmarks/contenders/`), each run in a fresh process (interpreter start and
  imports excluded from the time; index builds for W2-W5 are done beforehand and not timed):
  - `rasteret`: this project, through its public API with default arguments.
  - `reference`: `rasteret==0.4.1` from PyPI in its own venv (`.bench/venv-reference`,
    Python 3.12), the same API calls (`rasteret_api.py` serves both).
  - `rasterio`: rasterio/GDAL tuned, a pool of {threads} threads over files, settings:
{gdal}
  - `rasterio_sequential`: rasterio with GDAL defaults, one file after another.
  - `async_geotiff`: developmentseed async-geotiff on obstore, all files in one event loop
    (64 in flight), each file opened once per run.
  - `torchgeo`: TorchGeo's `RasterDataset` for W4, only when `torchgeo` is installed (in this
    venv, or in `.bench/venv-torchgeo`, which `--setup-torchgeo` creates: ~6 GB).
- **Workloads**: W1 builds a collection from a static catalog (`build_from_stac`; the GDAL and
  async-geotiff contenders open the same 200 files and read their headers). W2 is one
  `get_numpy` per AOI (rasterio: one window read per file). W3 is one `sample_points` call with
  all 1,000 points (rasterio: `sample()` per file). W4 reads one chip after another, as a
  TorchGeo sampler drives a dataset: rasteret and the reference one
  `read_window(..., group_by="id")` per chip over the 8 dates, rasterio and async-geotiff one
  window per file per chip with files kept open, TorchGeo one query per date. W5 reads every pixel of each file
  (rasteret and the reference: `get_numpy` with the scene's bounds).
- **Correctness**: AOIs and chips are pixel-aligned rectangles in the scene's UTM CRS and points
  sit on pixel centres, so every library must return identical pixels. Each run's output is
  reduced to an order-independent SHA-256 digest (`benchmarks/digest.py`); a row whose digest
  differs from GDAL's is marked WRONG.
- **Columns**: median of the warm runs' workload time; the cold (first) run; time relative to
  rasteret (above 1: slower than rasteret); HTTP requests and MB served by nginx (W1-W4) or MB
  read from local files through read() (W5); peak RSS of the contender process; whether its
  pixels agree with GDAL's. `latest.json` also has per-run times, connections and the CPU time
  nginx and the proxy used during each run (`server_cpu_s`, 5-15% of the two cores).
- **W5 lower bound** (`benchmarks/lower_bound.py`): single-threaded `imagecodecs.deflate_decode`
  + `delta_decode` of every full-resolution tile of the W5 files, divided by the cores.

Reproduce: `make bench-quick` (one warm run per pair; about 3.5 minutes here) or `make bench`
(five), passing options through `BENCH_ARGS="..."`, or `.venv/bin/python -m benchmarks.run
--help`: `--latency-ms`, `--bandwidth-mbps`, `--scale`, `--workloads`, `--contenders`,
`--proxy-cpus`, `--profile rasteret` (py-spy, adds the Profiles section), `--setup-torchgeo`,
`--docs-only` (rebuild this page from `latest.json`). The first run generates the data (~1
minute at scale 1, 2.1 GB) and the reference venv (~1 minute); later runs reuse both. Needs
root for nginx's system CA step; `make system-deps` installs nginx on Debian.
"""


def chart(doc: dict[str, Any], path: Path) -> None:
    """Grouped bars of median seconds per workload (log scale), WRONG rows hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(doc["workloads"])
    names = [
        n
        for n in CONTENDERS
        if any("median_s" in doc["workloads"][w].get(n, {}) for w in workloads)
    ]
    fig, ax = plt.subplots(figsize=(max(8, 2.1 * len(workloads)), 4.2))
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        xs, ys, hatches = [], [], []
        for i, w in enumerate(workloads):
            r = doc["workloads"][w].get(name, {})
            if "median_s" in r:
                xs.append(i + (k - (len(names) - 1) / 2) * width)
                ys.append(r["median_s"])
                hatches.append("" if r.get("ok") else "xx")
        bars = ax.bar(xs, ys, width, label=name)
        for bar, h in zip(bars, hatches, strict=True):
            bar.set_hatch(h)
    for i, w in enumerate(workloads):
        lb = doc["workloads"][w].get("lower_bound_s")
        if lb:
            ax.hlines(
                lb,
                i - 0.45,
                i + 0.45,
                colors="black",
                linestyles="dashed",
                label="decode lower bound",
            )
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_ylabel("median wall time, s (log)")
    ax.set_title(
        f"rasteret benchmarks, {doc['latency_ms']:g} ms latency (hatched: pixels disagree)"
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
