"""How the ``mdbx`` command line shows things: progress bars, sizes, tables, JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from app.client.transfer import Progress


@contextmanager
def progress_bar(shown: bool, name: str, total: int) -> Iterator[Progress | None]:
    """A byte bar (rate, ETA) on stderr if ``shown`` (not with --json/--quiet) and stderr
    is a terminal; else none."""
    if not shown or not sys.stderr.isatty():
        yield None
        return
    # Imported only when a bar is drawn: a script's `mdbx get` starts faster without it.
    from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

    with tqdm(
        total=total,
        desc=name if len(name) <= 30 else "…" + name[-29:],
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
        dynamic_ncols=True,
    ) as bar:
        yield bar


def output_path(record: dict[str, Any], output: Path | None) -> Path:
    """Where ``get`` writes: -o FILE, into -o DIR, or the stored name's basename here."""
    base = record["name"].replace("\\", "/").rsplit("/", 1)[-1]
    if base in ("", ".", ".."):
        base = record["hash"]
    if output is None:
        return Path(base)
    return output / base if output.is_dir() else output


def without_locations(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "locations"}


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def human_size(size: int | None) -> str:
    """1536 → '1.5 KiB' (binary units, as the master's limits are set)."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rate(size: int, seconds: float) -> str:
    return f"{human_size(int(size / seconds))}/s" if seconds > 0 else "-"


def render_table(headers: list[str], rows: list[list[str]], indent: str = "") -> str:
    """Left-aligned columns two spaces apart; the last one is not padded."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append(indent + "  ".join([*cells, row[-1]]))
    return "\n".join(lines)
