"""The charts of ``docs/performance.rst``, drawn from the last results in ``benchmarks/results/`` (matplotlib).

* ``triggerer-cpu.png`` and ``triggerer-lag.png``: CPU per check and worst loop lag against the number of
  triggers, for this provider's trigger, the peers and the floor (the triggerer benchmark's scale cases);
* ``archive-memory.png``: peak resident memory of an archive against the log's size (the memory benchmark).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks._support import RESULTS, ROOT

STATIC = ROOT / "docs" / "_static"
STYLES = {
    "ours": ("airflow-joblogs (BlueKing)", "tab:blue", "o"),
    "http": ("HttpSensorTrigger (HTTP provider)", "tab:orange", "s"),
    "dbt": ("DbtCloudRunJobTrigger (dbt Cloud provider)", "tab:red", "^"),
    "floor": ("bare asyncio loop, kept-alive socket (floor)", "tab:gray", "x"),
}


def _rows(name: str) -> list[dict[str, Any]]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def draw(folder: Path = STATIC) -> list[Path]:
    """Draw every chart whose results exist; return the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    folder.mkdir(parents=True, exist_ok=True)
    scale: dict[str, list[dict[str, Any]]] = {}
    for row in _rows("triggerer"):
        extra = row.get("extra") or {}
        if "kind" in extra and row["measure"].endswith("CPU per check"):
            scale.setdefault(extra["kind"], []).append(extra["result"])
    if scale:
        interval = next(iter(scale.values()))[0]["interval"]
        for name, title, value, unit in (
            ("triggerer-cpu.png", "CPU per check", lambda r: r["cpu_steady"] / max(1, r["checks"]) * 1000, "ms"),
            ("triggerer-lag.png", "worst event-loop lag", lambda r: r["worst_lag"] * 1000, "ms"),
        ):
            fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
            for kind, results in scale.items():
                label, color, marker = STYLES[kind]
                # a case that answered no check in the measured interval has no CPU per check: left out
                results = sorted((r for r in results if r["checks"]), key=lambda r: r["count"])
                ax.plot(
                    [r["count"] for r in results], [value(r) for r in results], marker=marker, color=color, label=label
                )
            ax.set_xlabel(f"triggers in one process, each checking every {interval:g} s")
            ax.set_ylabel(f"{title} ({unit})")
            ax.set_yscale("log")
            ax.set_title(f"{title} against trigger count (one run, shared 2-CPU machine)", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(folder / name)
            plt.close(fig)
            written.append(folder / name)
    peaks: dict[str, dict[int, dict[str, Any]]] = {}
    for row in _rows("memory"):
        where = "S3 (moto)" if "S3" in row["measure"] else "a file"
        peaks[where] = {int(size): r for size, r in (row.get("extra") or {}).get("peaks", {}).items()}
    if peaks:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        for where, by_size in peaks.items():
            sizes = sorted(by_size)
            ax.plot(sizes, [by_size[s]["peak_kib"] / 1024 for s in sizes], marker="o", label=f"peak RSS, to {where}")
        first = next(iter(peaks.values()))
        sizes = sorted(first)
        ax.plot(
            sizes,
            [first[s]["before_kib"] / 1024 for s in sizes],
            linestyle="--",
            color="gray",
            label="RSS before archiving",
        )
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("CodeArts build log archived (MB)")
        ax.set_ylabel("peak resident memory (MiB)")
        ax.set_title("archive peak memory against log size (one run)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "archive-memory.png")
        plt.close(fig)
        written.append(folder / "archive-memory.png")
    return written
