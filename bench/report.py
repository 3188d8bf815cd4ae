"""Write a benchmark's figures to bench/results/<name>.json and print them as a table."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def report(name: str, results: dict[str, dict[str, float]], header: str, digits: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(f"| {header} |")
    print("|---|---|")
    for workload, figures in results.items():
        shown = ", ".join(f"{value:,.{digits}f} {unit}" for unit, value in figures.items())
        print(f"| {workload} | {shown} |")
