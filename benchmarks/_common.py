"""What the benchmark scripts share: the machine's description and Linux's
per-process memory readings (``/proc/self/status``).  Standard library only,
so a script can import it before NumPy."""

from __future__ import annotations

import os
from pathlib import Path

MIB = 2.0**20


def thread_label() -> str:
    """What the reports print for threads: no script sets a thread or XLA
    variable, so every library runs with a user's defaults."""
    return f"default ({os.cpu_count()} cores, nothing pinned)"


def cpu_and_memory() -> tuple[str, str]:
    """The CPU's model name and total memory ("23.5 GiB"), or "unknown"."""
    cpu, memory = "unknown", "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    return cpu, memory


def status_mib(field: str) -> float | None:
    """A memory field of ``/proc/self/status`` (VmRSS, VmHWM) in MiB, or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset Linux's VmHWM so that it reports the peak from now on."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
