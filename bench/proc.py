"""One process's CPU time, memory and disk writes, read from ``/proc/PID``.

CPU time is ``utime + stime`` of ``/proc/PID/stat`` (every thread of the process, in clock
ticks); a process's figure over a window is the difference of two samples.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    at: float
    """``time.time()`` when read."""
    cpu: float
    """Seconds of CPU, user + system, all threads."""
    write_bytes: int | None


def cpu_seconds(pid: int) -> float:
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def write_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sample(pid: int) -> Sample:
    return Sample(time.time(), cpu_seconds(pid), write_bytes(pid))


def memory_mb(pid: int | str) -> dict[str, float]:
    """``VmHWM`` (peak resident set) and ``VmRSS`` in MB (10^6 bytes)."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) * 1024 / 1e6
    return {"peak_rss_mb": found.get("VmHWM", 0.0), "rss_mb": found.get("VmRSS", 0.0)}


@dataclass(frozen=True)
class Window:
    start: Sample
    end: Sample

    @property
    def cpu(self) -> float:
        return self.end.cpu - self.start.cpu

    @property
    def seconds(self) -> float:
        return self.end.at - self.start.at

    @property
    def written(self) -> int | None:
        if self.start.write_bytes is None or self.end.write_bytes is None:
            return None
        return self.end.write_bytes - self.start.write_bytes


def machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy (not idle or iowait), all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICKS


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid``, by thread id (the main thread's id is ``pid``)."""
    found: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = cpu_seconds_of(task / "stat")
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return found


def cpu_seconds_of(stat: Path) -> float:
    """``utime + stime`` (fields 14 and 15 of proc(5)) of a ``stat`` file, in seconds."""
    text = stat.read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS
