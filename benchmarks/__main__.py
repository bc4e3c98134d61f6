"""Run the benchmarks: ``python -m benchmarks`` (or ``make bench``) prints one table and writes JSON.

    python -m benchmarks                      every benchmark, full sizes (about half an hour)
    python -m benchmarks --only paging import
    python -m benchmarks --smoke              tiny sizes: checks the suite runs (a minute or two)
    python -m benchmarks --only triggerer --counts 1000 5000 --intervals 1
    python -m benchmarks --only memory --max-log-mb 100

Charts of the triggerer and archive-memory results are drawn into ``docs/_static/`` (``benchmarks/charts.py``).

Results go to ``benchmarks/results/<name>.json`` (one file per benchmark and ``all.json``), each with the
command that produced it. Every figure is a ratio or a count from one run on this machine.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time

from benchmarks._support import Row, report, table

#: name -> module, in the order they run (the long memory runs last)
BENCHMARKS = {
    "import": "benchmarks.imports",
    "paging": "benchmarks.paging",
    "concurrency": "benchmarks.concurrency",
    "triggerer": "benchmarks.triggerer",
    "memory": "benchmarks.memory",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks that everything runs")
    parser.add_argument("--no-s3", action="store_true", help="archive memory: skip the S3 destination")
    parser.add_argument(
        "--max-log-mb",
        type=int,
        default=1024,
        help="archive memory: the largest log, in MB (1, 10, 100, 1024 up to it)",
    )
    parser.add_argument(
        "--counts", type=int, nargs="+", default=[1000, 5000, 10000], help="triggerer: trigger counts of the scale runs"
    )
    parser.add_argument("--interval", type=float, default=30.0, help="triggerer: seconds between checks (scale runs)")
    parser.add_argument("--intervals", type=int, default=2, help="triggerer: intervals of steady state measured")
    parser.add_argument("--no-peers", action="store_true", help="triggerer: skip the peers and the floor")
    parser.add_argument("--no-profile", action="store_true", help="triggerer: skip the profiles")
    parser.add_argument("--no-charts", action="store_true", help="do not draw the charts")
    args = parser.parse_args(argv)
    command = "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:])
    rows: list[Row] = []
    for name in args.only or list(BENCHMARKS):
        started = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        kwargs: dict[str, object] = {}
        if name == "memory":
            kwargs = {"s3": not args.no_s3, "sizes_mb": tuple(s for s in (1, 10, 100, 1024) if s <= args.max_log_mb)}
        elif name == "triggerer":
            kwargs = {
                "counts": tuple(args.counts),
                "interval": args.interval,
                "intervals": args.intervals,
                "peers": not args.no_peers,
                "profile": not args.no_profile,
            }
        produced = module.run(smoke=args.smoke, **kwargs)
        path = report(name, produced, command.strip())
        print(f"  {name}: {time.monotonic() - started:.0f} s, written to {path}", file=sys.stderr, flush=True)
        rows += produced
    report("all" if not args.only else "last", rows, command.strip())
    print(table(rows))
    if not args.no_charts and not args.smoke:
        from benchmarks.charts import draw

        for path in draw():
            print(f"chart written to {path}", file=sys.stderr)
    missed = [r for r in rows if r.met is False]
    if missed:
        print(f"\n{len(missed)} figure(s) missed their target.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
