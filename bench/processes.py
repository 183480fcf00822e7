"""What the processes of a benchmark run cost: CPU seconds and peak memory, from /proc.

Shared by `bench/sweep.py` and `bench/join.py`, so that both count the same
processes the same way: each service, RabbitMQ (`beam.smp`), PostgreSQL (all
its backends), the benchmark itself and whatever else it names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def _cpu_of(pid: int, tick: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_seconds(named: Mapping[str, list[int]]) -> dict[str, float]:
    """CPU time (user + system) used so far by each group of `named` pids, by RabbitMQ
    and PostgreSQL, and by this process (`bench`)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids: dict[str, list[int]] = {name: list(group) for name, group in named.items()}
    pids["bench"] = [os.getpid()]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if name == "beam.smp":
            pids.setdefault("rabbitmq", []).append(int(entry))
        elif name.startswith("postgres"):
            pids.setdefault("postgresql", []).append(int(entry))
    return {name: sum(_cpu_of(pid, tick) for pid in group) for name, group in pids.items()}


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two `cpu_seconds` readings."""
    return {name: after[name] - before.get(name, 0.0) for name in after}


def peak_rss_mb(named: Mapping[str, int]) -> dict[str, tuple[float, float]]:
    """(VmHWM, VmRSS) in MB of each named process."""
    peaks = {}
    for name, pid in named.items():
        fields: dict[str, float] = {}
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    key, _, value = line.partition(":")
                    if key in ("VmHWM", "VmRSS"):
                        fields[key] = int(value.split()[0]) / 1024
        except OSError:
            continue
        peaks[name] = (fields.get("VmHWM", 0.0), fields.get("VmRSS", 0.0))
    return peaks
