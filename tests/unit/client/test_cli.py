"""Argument handling, naming and rendering of ``mdbx`` (click's CliRunner, no cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.client.api import Client
from app.client.cli.blobs import plan_uploads
from app.client.cli.cluster import health_problems
from app.client.cli.render import human_size, output_path
from app.client.cli.root import main

FILES = [
    {"hash": "ab" * 32, "name": "docs/report.pdf", "size": 1536, "replicas": ["8001", "8002"]},
    {"hash": "cd" * 32, "name": "photo.jpg", "size": 3 * 1024 * 1024, "replicas": ["8001"]},
]


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "album" / "2024").mkdir(parents=True)
    (tmp_path / "album" / "b.jpg").write_bytes(b"b")
    (tmp_path / "album" / "2024" / "a.jpg").write_bytes(b"a")
    (tmp_path / "one.txt").write_bytes(b"1")
    return tmp_path


def names(plan, root):
    return [(path.relative_to(root).as_posix(), name) for path, name in plan]


def test_a_directory_keeps_its_name_and_relative_paths(tree):
    plan = plan_uploads([tree / "album"], None)
    assert names(plan, tree) == [
        ("album/b.jpg", "album/b.jpg"),
        ("album/2024/a.jpg", "album/2024/a.jpg"),
    ]


def test_to_renames_a_single_source(tree):
    assert names(plan_uploads([tree / "one.txt"], "notes/first.txt"), tree) == [
        ("one.txt", "notes/first.txt")
    ]
    assert names(plan_uploads([tree / "album"], "backup"), tree) == [
        ("album/b.jpg", "backup/b.jpg"),
        ("album/2024/a.jpg", "backup/2024/a.jpg"),
    ]


def test_to_is_a_prefix_for_several_sources_or_a_trailing_slash(tree):
    assert names(plan_uploads([tree / "one.txt"], "docs/"), tree) == [("one.txt", "docs/one.txt")]
    plan = plan_uploads([tree / "one.txt", tree / "album"], "x")
    assert [name for _, name in plan] == ["x/one.txt", "x/album/b.jpg", "x/album/2024/a.jpg"]


def test_output_path_defaults_to_the_basename_and_goes_into_a_directory(tmp_path):
    record = {"hash": "ab" * 32, "name": "docs/report.pdf"}
    assert output_path(record, None) == Path("report.pdf")
    assert output_path(record, tmp_path) == tmp_path / "report.pdf"
    assert output_path(record, tmp_path / "r.pdf") == tmp_path / "r.pdf"
    assert output_path({"hash": "ab" * 32, "name": "a/.."}, None) == Path("ab" * 32)


@pytest.mark.parametrize(
    ("size", "shown"),
    [(None, "-"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (10 * 1024**2, "10.0 MiB")],
)
def test_human_size(size, shown):
    assert human_size(size) == shown


def test_health_problems():
    health = {
        "replication": 2,
        "nodes_up": 2,
        "degraded": 0,
        "under_replicated": 0,
        "unavailable": 0,
        "lost": 0,
    }
    assert health_problems(health) == []
    assert health_problems({**health, "nodes_up": 1, "degraded": 3}) == [
        "3 degraded",
        "1 of 2 nodes needed up",
    ]


def test_ls_renders_a_table_and_json_on_the_group_or_the_command(monkeypatch):
    monkeypatch.setattr(Client, "list", lambda self: FILES)
    table = invoke("blobs", "ls")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["HASH", "SIZE", "REPLICAS", "NAME"]
    assert lines[1].split() == ["abababababab", "1.5", "KiB", "2", "docs/report.pdf"]
    assert "2 files" in table.stderr
    for args in (["--json", "blobs", "ls"], ["blobs", "ls", "--json"]):
        result = invoke(*args)
        assert result.exit_code == 0 and json.loads(result.stdout) == FILES
        assert result.stderr == ""


def test_master_comes_from_the_option_or_the_environment(dead_url):
    from_env = invoke("status", env={"MDBX_MASTER": dead_url})
    assert from_env.exit_code == 2 and dead_url in from_env.stderr
    from_flag = invoke("--master", dead_url, "blobs", "ls")
    assert from_flag.exit_code == 2 and from_flag.stderr.startswith("Error: master")


def test_ctrl_c_exits_130(monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "list", interrupted)
    result = invoke("blobs", "ls")
    assert result.exit_code == 130 and "interrupted" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["put"],
        ["get"],
        ["rm"],
        ["ls", "a", "b"],
        ["blobs", "put"],
        ["blobs", "get"],
        ["blobs", "rm"],
        ["blobs", "ls", "extra"],
        ["restore", "x", "--version", "0"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args):
    assert invoke(*args).exit_code == 2


def test_put_of_an_empty_directory_fails(tmp_path, dead_url):
    result = invoke("--master", dead_url, "blobs", "put", str(tmp_path))
    assert result.exit_code == 1 and "nothing to upload" in result.stderr


def test_serve_keeps_its_options():
    result = invoke("serve", "--help")
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data-dir", "--master", "--node-id", "--workers"):
        assert option in result.stdout
    assert invoke("serve", "master", "--node-id", "x").exit_code == 2
