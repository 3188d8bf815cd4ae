"""What the figures were measured on: the machine, the versions, the scratch disk."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from bench.load import MIB, wrk_binary
from bench.nginx import nginx_version


def tool_version(command: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError:
        return "missing"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    os_release = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
    return {
        "nproc": os.cpu_count(),
        "cpu": model.group(1).strip() if model else "unknown",
        "kernel": platform.release(),
        "os": os_release.group(1) if os_release else "unknown",
        "memory_gib": round(int(meminfo.group(1)) / MIB, 1) if meminfo else None,
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("gunicorn", "gevent", "flask"):
        found[package] = importlib.metadata.version(package)
    found["nginx"] = nginx_version()
    found["wrk"] = tool_version([str(wrk_binary()), "-v"], r"wrk (\S+)")
    found["curl"] = tool_version(["curl", "--version"], r"curl (\S+)")
    return found


def filesystem(path: Path) -> str:
    """The filesystem type and device of ``path`` (``df -T``)."""
    out = (
        subprocess.run(
            ["df", "-T", str(path)], capture_output=True, text=True, check=True, timeout=30
        )
        .stdout.splitlines()[-1]
        .split()
    )
    return f"{out[1]} on {out[0]}"
