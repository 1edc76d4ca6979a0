"""Memory figures for the benchmarks, read from /proc (Linux).

`ru_maxrss` is not used: Linux carries it across fork and exec, so a benchmark started
by a large parent (a pytest worker) would report the parent's peak, not its own."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path


def status_kb(pid: int, field: str) -> int:
    """A `VmRSS`/`VmHWM`-style line of /proc/<pid>/status, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM), in MB; `ru_maxrss` off Linux."""
    try:
        return status_kb(os.getpid(), "VmHWM") / 1024
    except (OSError, RuntimeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start this process's VmHWM over from its current RSS (Linux 4.0+), so a peak read
    later is that of what ran after, not of an earlier phase; a no-op elsewhere."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")


def rss_mb() -> float:
    """This process's resident set now (VmRSS), in MB."""
    return status_kb(os.getpid(), "VmRSS") / 1024
