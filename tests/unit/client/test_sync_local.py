"""The local side of mdbx sync on real files: the scan and its hash cache, the ignore
rules, the trash, and the state database across a reopen."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from click.testing import CliRunner

from app.client.cli.root import main
from app.client.sync.local import SyncRules, move_to_trash, scan_folder
from app.client.sync.planner import DIR, Node
from app.client.sync.state import FolderBusy, SyncState


def write(root, rel, data, age_s=10):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    past = time.time_ns() - age_s * 10**9
    os.utime(path, ns=(past, past))
    return path


def test_a_scan_hashes_only_what_changed_and_what_is_too_young_to_trust(tmp_path):
    write(tmp_path, "a/old.txt", b"old")
    write(tmp_path, "young.txt", b"young", age_s=0)
    first = scan_folder(tmp_path, SyncRules(), {})
    assert first.hashed == 2
    assert first.tree["a"] == DIR
    assert first.tree["a/old.txt"] == Node(False, hashlib.sha256(b"old").hexdigest(), 3)
    cache = {rel: (first.stats[rel], first.tree[rel].hash) for rel in first.stats}
    again = scan_folder(tmp_path, SyncRules(), cache)
    assert again.hashed == 1  # young.txt, changed within the last two seconds
    write(tmp_path, "a/old.txt", b"new")  # same size, another mtime
    changed = scan_folder(tmp_path, SyncRules(), cache)
    assert changed.tree["a/old.txt"].hash == hashlib.sha256(b"new").hexdigest()


def test_ignore_rules_defaults_and_exclusions(tmp_path):
    write(tmp_path, ".mdbxignore", b"build/\n*.log\n!keep.log\n")
    for rel in (
        "src/main.py",
        "build/out.o",
        "x.log",
        "keep.log",
        "notes.txt.swp",
        "draft~",
        ".#lock",
        "~$report.docx",
        ".DS_Store",
        ".doc.txt.abc.part",
        "private/secret",
        ".mdbx/sync.db",
        ".mdbx-trash/old",
    ):
        write(tmp_path, rel, b"x")
    os.symlink("/etc/passwd", tmp_path / "link")
    rules = SyncRules.of_folder(tmp_path, excluded=["/private/"])
    found = scan_folder(tmp_path, rules, {}).tree
    assert sorted(found) == [".mdbxignore", "keep.log", "src", "src/main.py"]
    # The same rules hold for the remote tree, with what is below a folder left out.
    remote = {p: DIR for p in ("build", "build/deep", "private", "src")}
    remote["build/deep/x.c"] = Node(False, "h", 1)
    assert sorted(rules.filter(remote)) == ["src"]


def test_a_local_delete_goes_to_the_trash_at_its_path(tmp_path):
    write(tmp_path, "a/b.txt", b"first")
    assert move_to_trash(tmp_path, "a/b.txt") == tmp_path / ".mdbx-trash" / "a" / "b.txt"
    write(tmp_path, "a/b.txt", b"second")
    again = move_to_trash(tmp_path, "a/b.txt")
    assert again.name == "b (2).txt" and again.read_bytes() == b"second"
    assert (tmp_path / ".mdbx-trash" / "a" / "b.txt").read_bytes() == b"first"


def test_the_state_keeps_the_base_moves_and_forgets_subtrees(tmp_path):
    state = SyncState(tmp_path)
    state.record("d", DIR)
    state.record("d/x", Node(False, "h1", 2, 7))
    state.record("dx", Node(False, "h2", 2, 1))
    state.move("d", "e")
    state.set_excluded(["b", "a", "a"])
    state.close()
    reopened = SyncState(tmp_path)
    assert reopened.base() == {"e": DIR, "e/x": Node(False, "h1", 2), "dx": Node(False, "h2", 2)}
    assert reopened.base()["e/x"].version == 7
    assert reopened.excluded() == ["a", "b"]
    reopened.forget("e")
    assert set(reopened.base()) == {"dx"}
    reopened.close()


def test_one_sync_of_a_folder_at_a_time(tmp_path):
    first = SyncState(tmp_path)
    with pytest.raises(FolderBusy):
        SyncState(tmp_path)
    first.close()
    SyncState(tmp_path).close()


def test_mdbx_sync_is_a_command_and_fails_cleanly_without_a_master(tmp_path, monkeypatch):
    shown = CliRunner().invoke(main, ["sync", "--help"])
    assert shown.exit_code == 0
    for option in ("--watch", "--max-delete", "--force", "--exclude", "--dry-run", "--json"):
        assert option in shown.output
    monkeypatch.setenv("MDBX_TOKEN", "not-a-token")
    result = CliRunner().invoke(
        main, ["--master", "http://127.0.0.1:9", "sync", str(tmp_path / "new"), "/work"]
    )
    assert result.exit_code == 2, result.output
    assert "unreachable" in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "new" / ".mdbx" / "sync.db").exists()
