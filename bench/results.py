"""The one results writer: figures as JSON (bench/results/<name>.json), the table, and the
section of BENCHMARKS.md that ``make bench`` replaces on each run."""

from __future__ import annotations

import json
import statistics
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BENCHMARKS = REPO / "BENCHMARKS.md"
HEADING = "## `make bench`: the latest run"


@dataclass
class Results:
    """The JSON entries (one per figure) and the printed table's rows."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)

    def figure(
        self,
        workload: str,
        ours: float | None,
        reference: float | None,
        unit: str,
        **details: Any,
    ) -> float | None:
        """Record one figure; return ours / reference when both are known."""
        ratio = ours / reference if ours is not None and reference else None
        self.entries.append(
            {
                "workload": workload,
                "ours": ours,
                "reference": reference,
                "ratio": ratio,
                "unit": unit,
                **details,
            }
        )
        return ratio

    def row(
        self,
        workload: str,
        reference: str,
        ours: str,
        ratio: float | str | None,
        target: str = "",
        met: bool | None = None,
    ) -> None:
        """Add a line to the table; ``target`` is shown with whether it was ``met``."""
        if isinstance(ratio, float):
            ratio = f"{ratio:.3f}" if ratio < 0.1 else f"{ratio:.2f}"
        if target and met is not None:
            target = f"{target}: {'met' if met else '**not met**'}"
        self.rows.append((workload, reference, ours, ratio or "—", target or "—"))

    def fail(self, workload: str, error: BaseException) -> None:
        text = f"{type(error).__name__}: {error}".strip()
        self.failures.append({"workload": workload, "error": text})
        self.rows.append((workload, "", f"**failed**: {text.splitlines()[0][:200]}", "—", "—"))
        print(f"  FAILED {workload}: {text}", flush=True)
        traceback.print_exc()

    def table(self) -> str:
        lines = [
            "| workload | nginx / limit | Mini-Dropbox | ratio | target |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        return "\n".join(lines)

    def save(self, name: str, report: dict[str, Any]) -> Path:
        """Write ``report`` with these figures to bench/results/<name>.json."""
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{name}.json"
        document = {**report, "workloads": self.entries, "failures": self.failures}
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path


def num(value: float, unit: str = "") -> str:
    if value != value:  # nan
        return "n/a"
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def spread(samples: list[float], unit: str) -> str:
    """The median, and the range when there are several samples."""
    median = num(statistics.median(samples), unit)
    if len(samples) < 2:
        return median
    return f"{median} ({num(min(samples))}–{num(max(samples))})"


def rate_latency(rate: float, unit: str, p50: float, p99: float) -> str:
    return f"{num(rate, unit)}, p50 {num(p50, 'ms')}, p99 {num(p99, 'ms')}"


def cpu_note(ms_per_op: dict[str, float]) -> str:
    """Where an operation's CPU went, by process tree (the client: the load generators)."""
    spent = ", ".join(f"{label} {ms:.2f}" for label, ms in ms_per_op.items())
    return f"; CPU ms per op: {spent}"


def errors_note(errors: list[str] | int, first: list[str] | None = None) -> str:
    if isinstance(errors, int):
        if not errors:
            return ""
        return f" (**{errors} errors**: {'; '.join(first or [])[:200]})"
    return f" ({'; '.join(errors)})" if errors else ""


def markdown(report: dict[str, Any], table: str) -> str:
    """The BENCHMARKS.md section of a ``make bench`` run."""
    m, v, o = report["machine"], report["versions"], report["options"]
    setup = report["setup"]
    lines = [
        HEADING,
        "",
        f"Written by `make bench` (`python -m bench --write-md`) on {report['date']}, in "
        f"{report['seconds']:.0f} s; each run replaces this section. Figures also in "
        "`bench/results/latest.json`. Targets are issue #7's.",
        "",
        f"- Machine: {m['nproc']} × {m['cpu']}, {m['memory_gib']} GiB, {m['os']}, "
        f"kernel {m['kernel']}; scratch dir {setup.get('disk', '?')}.",
        "- Versions: " + ", ".join(f"{name} {version}" for name, version in v.items()) + ".",
        f"- Cluster: {setup.get('cluster', '?')}.",
        f"- nginx: {setup.get('nginx', '?')}. Load: {setup.get('client', '?')}.",
        "- Options: " + ", ".join(f"{k}={val}" for k, val in o.items()) + ".",
        "- Ratio: Mini-Dropbox / reference (for PUT the reference is the disk's limit). "
        "Single-stream rows are the median (and range) of the repetitions; wrk rows use the same "
        "threads, connections and duration for both.",
    ]
    # Wrapped like the rest of the file; the table is not.
    lines = [
        textwrap.fill(
            line,
            92,
            subsequent_indent="  " if line.startswith("-") else "",
            break_long_words=False,
            break_on_hyphens=False,
        )
        if line
        else line
        for line in lines
    ]
    lines += ["", table, ""]
    if report["failures"]:
        lines += ["Failed workloads:", ""]
        lines += [f"- {f['workload']}: `{f['error'][:500]}`" for f in report["failures"]]
        lines.append("")
    return "\n".join(lines)


def write_section(section: str, benchmarks: Path = BENCHMARKS) -> None:
    """Replace the latest run's section of BENCHMARKS.md, keeping the rest; a file without
    one gets it before its first other section, so that the file opens with it."""
    current = benchmarks.read_text() if benchmarks.exists() else "# Benchmarks\n"
    start = current.find(f"\n{HEADING}\n")
    if start == -1:
        first = current.find("\n## ")
        if first == -1:
            benchmarks.write_text(current.rstrip("\n") + "\n\n" + section)
        else:
            benchmarks.write_text(current[: first + 1] + section + "\n" + current[first + 1 :])
        return
    end = current.find("\n## ", start + 1)
    rest = "" if end == -1 else "\n" + current[end + 1 :]
    benchmarks.write_text(current[: start + 1] + section + rest)
