"""``mdbx serve`` gives each run of a role a fresh metric directory."""

from __future__ import annotations

import os

from app.metrics.process_dir import DIR_NAME, MULTIPROC_ENV, prepare_process_dir
from app.server.application import REQUIRED_SETTINGS


def test_a_start_empties_the_last_runs_files_and_points_the_workers_there(tmp_path, monkeypatch):
    monkeypatch.setenv(MULTIPROC_ENV, "restored after the test")
    left = tmp_path / DIR_NAME / "counter_123.db"
    left.parent.mkdir()
    left.write_bytes(b"stale")
    path = prepare_process_dir(tmp_path)
    assert path == tmp_path / DIR_NAME and path.is_dir()
    assert list(path.iterdir()) == []
    assert os.environ[MULTIPROC_ENV] == str(path)


def test_gunicorn_marks_dead_workers_for_the_metrics():
    assert REQUIRED_SETTINGS["child_exit"].__name__ == "mark_worker_dead"
