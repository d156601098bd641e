"""Measuring: median wall times, peak memory of a phase's process and its children, and the machine."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _status_kib(pid: int | str, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def reset_peak_memory() -> None:
    """Start a new peak-RSS measurement for this process (Linux; elsewhere the process peak is kept)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mib() -> dict[str, float]:
    """Peak RSS since the last reset: this process (with the in-process Sail server) and its child processes."""
    own = _status_kib("self", "VmHWM")
    if not own:  # no /proc: the process lifetime peak (KiB on Linux, bytes on macOS)
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    children = sum(_status_kib(pid, "VmHWM") for pid in _descendants(os.getpid()))
    return {"process_mib": round(own / 1024, 1), "children_mib": round(children / 1024, 1)}


def timed(action: Callable[[], object], repeat: int) -> dict[str, Any]:
    """Median wall time of `repeat` runs of `action`, with every run."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(round(time.perf_counter() - started, 3))
    return {"median_s": statistics.median(runs), "runs_s": runs}


def ratio(numerator: float, denominator: float) -> float | None:
    """`numerator / denominator` to 3 decimals; None when a phase took no measurable time."""
    return round(numerator / denominator, 3) if denominator else None


def machine() -> dict[str, Any]:
    import pysail
    import pyspark

    cpu = ""
    if Path("/proc/cpuinfo").exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr.splitlines()
    return {
        "platform": platform.platform(),
        "cpu": cpu or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(_status_kib_meminfo() / 1024**2, 1),
        "python": platform.python_version(),
        "pysail": getattr(pysail, "__version__", "?"),
        "pyspark": pyspark.__version__,
        "java": java[0] if java else "",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _status_kib_meminfo() -> int:
    try:
        return int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return 0
