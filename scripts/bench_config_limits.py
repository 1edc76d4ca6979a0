"""What a hostile or mistaken configuration file costs `connector.config.yaml_source`, against a
naive reader in the same run: PyYAML's `safe_load`, then a walk of the data (`json.dumps`,
as any validator or consumer walks it), which is where aliases expand.

    python scripts/bench_config_limits.py [--levels 9] [--naive-levels 7]

Cases: the classic "billion laughs" alias bomb (`--levels` levels of nine aliases: 342
bytes at 9), the same bomb at `--naive-levels` read both ways (the naive reader cannot
finish 9 levels: 9**9 values), and a 50 MB file, refused by its size before it is parsed.
Each case runs in a fresh process; memory is the peak of Python allocations while reading
(tracemalloc, which also slows both readers alike).

The last line is one JSON object: per case {bytes, wall_s, peak_mb, result}, and the
naive/ours ratios of time and memory on the bomb both can read."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from connector.config import read_yaml

ROOT = Path(__file__).resolve().parents[1]


def laughs(levels: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in pairwise("abcdefghijklmnopqrstuvwxyz"[:levels]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _read(reader: str, path: str) -> str:
    if reader == "naive":
        with Path(path).open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        return f"accepted, {len(json.dumps(data)):,} bytes of JSON"
    doc = read_yaml(path)
    return str(doc.problems[0]) if doc.problems else "accepted"


def one(reader: str, path: str) -> dict[str, Any]:
    """Run in a child process: read `path` one way; time, peak memory and the outcome."""
    started = time.perf_counter()
    _read(reader, path)
    wall = time.perf_counter() - started
    tracemalloc.start()
    result = _read(reader, path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "bytes": Path(path).stat().st_size,
        "wall_s": round(wall, 4),
        "peak_mb": round(peak / 1024 / 1024, 1),
        "result": result,
    }


def child(reader: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", reader, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, default=9)
    parser.add_argument("--naive-levels", type=int, default=7)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(*args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="smsync-bench-yaml-") as tmp:
        bomb = Path(tmp) / "bomb.yaml"
        bomb.write_text(laughs(args.levels), encoding="utf-8")
        small = Path(tmp) / "small_bomb.yaml"
        small.write_text(laughs(args.naive_levels), encoding="utf-8")
        huge = Path(tmp) / "huge.yaml"
        with huge.open("w", encoding="utf-8") as handle:
            handle.write("version: 1\nitems:\n")
            for _ in range(50):
                handle.write("  - name: x\n" * (1024 * 1024 // 12))
        ours_small, naive_small = child("ours", small), child("naive", small)
        report = {
            f"bomb_{args.levels}_levels": child("ours", bomb),
            f"bomb_{args.naive_levels}_levels": {"ours": ours_small, "naive": naive_small},
            "naive_over_ours_time": round(naive_small["wall_s"] / ours_small["wall_s"], 1),
            "naive_over_ours_memory": round(naive_small["peak_mb"] / ours_small["peak_mb"], 1),
            "file_50mb": child("ours", huge),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
