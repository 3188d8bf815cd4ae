"""The bench's one results writer: the table, the JSON file, and BENCHMARKS.md's opening."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import results as results_module
from bench.results import HEADING, Results, write_section


def test_rows_show_the_ratio_and_whether_the_target_was_met() -> None:
    results = Results()
    ratio = results.figure("GET", 50.0, 200.0, "req/s")
    results.row("GET", "nginx 200", "ours 50", ratio, "≥ 0.15", ratio is not None and ratio >= 0.15)
    results.row("PUT", "dd 100", "ours 60", 0.6, "≥ 0.8", False)
    results.row("weed", "—", "1,000/s", None)
    lines = results.table().splitlines()
    assert lines[0] == "| workload | nginx / limit | Mini-Dropbox | ratio | target |"
    assert lines[2] == "| GET | nginx 200 | ours 50 | 0.25 | ≥ 0.15: met |"
    assert lines[3] == "| PUT | dd 100 | ours 60 | 0.60 | ≥ 0.8: **not met** |"
    assert lines[4] == "| weed | — | 1,000/s | — | — |"


def test_save_writes_every_figure_and_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_module, "RESULTS", tmp_path)
    results = Results()
    results.figure("GET", 2.0, 4.0, "MB/s", wrk="-t2")
    results.fail("PUT", RuntimeError("disk gone"))
    saved = json.loads(results.save("latest", {"date": "today"}).read_text())
    assert saved["date"] == "today"
    assert saved["workloads"] == [
        {
            "workload": "GET",
            "ours": 2.0,
            "reference": 4.0,
            "ratio": 0.5,
            "unit": "MB/s",
            "wrk": "-t2",
        }
    ]
    assert saved["failures"] == [{"workload": "PUT", "error": "RuntimeError: disk gone"}]


def test_the_latest_run_opens_the_file_and_replaces_the_last_one(tmp_path: Path) -> None:
    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n\nIntro.\n\n## Targets\n\nkept\n")
    write_section(f"{HEADING}\n\nrun 1\n", benchmarks)
    assert benchmarks.read_text() == (
        f"# Benchmarks\n\nIntro.\n\n{HEADING}\n\nrun 1\n\n## Targets\n\nkept\n"
    )
    write_section(f"{HEADING}\n\nrun 2\n", benchmarks)
    assert benchmarks.read_text() == (
        f"# Benchmarks\n\nIntro.\n\n{HEADING}\n\nrun 2\n\n## Targets\n\nkept\n"
    )
