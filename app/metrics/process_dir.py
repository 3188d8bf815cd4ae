"""The directory where a role's processes keep their metric files, one per role process tree.

prometheus-client's multiprocess mode has each gunicorn worker write its counters to
mmap'd files under ``PROMETHEUS_MULTIPROC_DIR``; ``/metrics``, in whichever worker
answers, sums every file there. ``mdbx serve`` makes the directory fresh before gunicorn
forks (the library reads the variable when first imported, so this module does not
import it at the top): files a previous run left would be counted again, and a killed
run cannot clean up. A dead worker's files stay, its counters still count (a counter
must not go back), and ``mark_worker_dead`` drops what only a live worker can say.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DIR_NAME = "metrics"


def prepare_process_dir(data_dir: Path) -> Path:
    """Empty (or make) ``data_dir``/metrics and point this process tree's metrics at it."""
    path = data_dir / DIR_NAME
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def mark_worker_dead(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: the worker's live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
