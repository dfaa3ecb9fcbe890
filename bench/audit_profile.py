"""Where an audit's time goes: each check's seconds in a demo audit, and the slowest's share.

Runs the demo as ``trustml report --demo NAME`` does (its models trained first, then audited)
and times every check's run (``CheckSpec.run``) inside the one audit, so the checks share
what they share in a real audit (predictions, the membership attacks). Prints the table,
slowest first, with the training and the rest of ``audit()`` beside; ``--out`` keeps it as
JSON.

Usage::

    OMP_WAIT_POLICY=PASSIVE python bench/audit_profile.py --demo tabular
    OMP_WAIT_POLICY=PASSIVE python bench/audit_profile.py --demo sentiment --out /tmp/p.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="tabular", choices=["tabular", "sentiment"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    from trustml.checks._registry import CheckSpec
    from trustml.demos import run_demo

    seconds: dict[str, float] = {}
    run = CheckSpec.run

    def timed(spec, ctx):
        began = time.perf_counter()
        try:
            return run(spec, ctx)
        finally:
            seconds[spec.name] = seconds.get(spec.name, 0.0) + time.perf_counter() - began
    CheckSpec.run = timed
    imported = time.perf_counter()
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"audit_profile_{args.demo}"
    run_demo(args.demo, out, progress=False)
    total = time.perf_counter() - start
    checks = sum(seconds.values())
    rows = sorted(seconds.items(), key=lambda kv: -kv[1])
    print(f"| {args.demo} demo | seconds | share of the run |\n|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.1f} | {s / total:.0%} |")
    print(f"| all checks | {checks:.1f} | {checks / total:.0%} |")
    print(f"| imports, training, the rest of audit(), writing | {total - checks:.1f} | "
          f"{(total - checks) / total:.0%} |")
    print(f"| whole run (imports {imported - start:.1f} s) | {total:.1f} | 100% |")
    if args.out:
        args.out.write_text(json.dumps({"demo": args.demo, "total": total, "checks": seconds,
                                        "load_average": os.getloadavg()[0]}, indent=1))


if __name__ == "__main__":
    main()
