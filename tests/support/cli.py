"""Run the installed ``mdbx`` console script as a user's shell would, and stand for its
Ctrl+C in the client library's progress (``StopAfter``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MDBX = str(Path(sys.executable).with_name("mdbx"))
MIB = 1024 * 1024


def mdbx(
    *args: str,
    master: str | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI; the master comes from MDBX_MASTER, as a user's shell would set it.

    ``env`` adds variables (XDG_CONFIG_HOME, for one, keeps saved tokens in the test's
    own directory).
    """
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBX_")}
    env.update(extra)
    if master is not None:
        env["MDBX_MASTER"] = master
    return subprocess.run(
        [MDBX, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        input=input,
        timeout=timeout,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int) -> None:
    """One ``Error:`` line on stderr, the expected exit code, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")


class StopAfter:
    """A progress sink that stands for Ctrl+C once ``limit`` bytes have been sent."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = 0

    def update(self, n: int) -> None:
        self.sent += n
        if self.sent > self.limit:
            raise KeyboardInterrupt

    def reset(self, total: int | None = None) -> None:
        self.sent = 0
