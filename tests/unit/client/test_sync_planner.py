"""The sync planner: each rule on its own, then random histories of both sides (hypothesis
stateful tests) in which no content is ever lost and both sides converge."""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app.client.sync import planner
from app.client.sync.planner import DIR, conflicted_name, plan_sync
from tests.support.sync_model import World, file

NOW = datetime(2026, 12, 3, 19, 30, 5)


def kinds(plan: planner.Plan) -> list[tuple[str, str, str | None]]:
    return [(a.kind, a.path, a.target) for a in plan.actions]


def synced(tree: dict[str, planner.Node]) -> World:
    world = World()
    world.local.tree = dict(tree)
    world.remote.tree = dict(tree)
    world.base = dict(tree)
    return world


def test_new_files_travel_both_ways_and_folders_come_first():
    plan = plan_sync({"a": DIR, "a/x": file("1")}, {"b": file("2")}, {}, host="h", now=NOW)
    assert kinds(plan) == [
        ("mkdir_remote", "a", None),
        ("upload", "a/x", None),
        ("download", "b", None),
    ]


def test_nothing_changed_is_no_action():
    tree = {"a": DIR, "a/x": file("1")}
    assert plan_sync(tree, tree, tree, host="h", now=NOW).actions == []


def test_identical_content_on_both_sides_is_recorded_not_a_conflict():
    plan = plan_sync({"x": file("same")}, {"x": file("same")}, {}, host="h", now=NOW)
    assert kinds(plan) == [("record", "x", None)]


def test_concurrent_edits_keep_both():
    base = {"doc.txt": file("v1")}
    plan = plan_sync(
        {"doc.txt": file("mine")}, {"doc.txt": file("theirs")}, base, host="h", now=NOW
    )
    aside = "doc (conflicted copy h 2026-12-03 193005).txt"
    assert kinds(plan) == [
        ("rename_local", "doc.txt", aside),
        ("upload", aside, None),
        ("download", "doc.txt", None),
    ]


def test_edit_against_delete_keeps_the_edit_both_ways():
    base = {"x": file("v1")}
    assert kinds(plan_sync({"x": file("v2")}, {}, base, host="h", now=NOW)) == [
        ("upload", "x", None)
    ]
    assert kinds(plan_sync({}, {"x": file("v2")}, base, host="h", now=NOW)) == [
        ("download", "x", None)
    ]


def test_a_deleted_folder_is_one_delete_unless_something_under_it_changed():
    base = {"d": DIR, "d/x": file("1"), "d/y": file("2")}
    plan = plan_sync({}, dict(base), base, host="h", now=NOW)
    assert kinds(plan) == [("delete_remote", "d", None)]
    assert plan.deleted_files == 2 and plan.deleted_share() == 100.0
    edited = {**base, "d/y": file("3")}
    plan = plan_sync({}, edited, base, host="h", now=NOW)
    assert kinds(plan) == [
        ("delete_remote", "d/x", None),
        ("mkdir_local", "d", None),
        ("download", "d/y", None),
    ]


def test_a_renamed_folder_is_one_move_and_new_files_in_it_are_uploaded():
    base = {"d": DIR, **{f"d/{i}": file(str(i)) for i in range(5)}}
    local = {"e": DIR, **{f"e/{i}": file(str(i)) for i in range(5)}, "e/new": file("n")}
    plan = plan_sync(local, base, base, host="h", now=NOW)
    assert kinds(plan) == [("move_remote", "d", "e"), ("upload", "e/new", None)]


def test_a_renamed_file_is_a_move_on_the_other_side():
    base = {"a": file("1")}
    plan = plan_sync(base, {"sub": DIR, "b": file("1")}, base, host="h", now=NOW)
    assert kinds(plan) == [("move_local", "a", "b"), ("mkdir_local", "sub", None)]


def test_a_file_against_a_folder_keeps_both():
    plan = plan_sync({"p": file("f")}, {"p": DIR, "p/x": file("1")}, {}, host="h", now=NOW)
    aside = "p (conflicted copy h 2026-12-03 193005)"
    assert kinds(plan) == [
        ("rename_local", "p", aside),
        ("mkdir_local", "p", None),
        ("upload", aside, None),
        ("download", "p/x", None),
    ]


def test_conflicted_names_keep_the_extension_and_are_unique():
    assert conflicted_name("a/b.tar.gz", "h", NOW) == (
        "a/b.tar (conflicted copy h 2026-12-03 193005).gz"
    )
    assert conflicted_name(".env", "h", NOW) == ".env (conflicted copy h 2026-12-03 193005)"
    first = conflicted_name("x.txt", "h", NOW)
    assert conflicted_name("x.txt", "h", NOW, {first}) != first


def test_a_crash_between_the_conflict_rename_and_the_download_loses_nothing():
    world = synced({"doc": file("v1")})
    world.local.write("doc", "mine", keep_old=False)
    world.remote.write("doc", "theirs", keep_old=True)
    world.sync(stop_after=1, torn=True)
    for _ in range(3):
        world.sync()
    assert world.files(world.local) == world.files(world.remote)
    assert {"mine", "theirs"} <= set(world.files(world.local).values())


# ----- random histories -----

NAMES = ["a", "b", "a/x", "a/y", "b/x", "x", "y.txt", "a/c/z"]
CONTENTS = st.text(alphabet="pqrs", min_size=1, max_size=3)


class SyncHistory(RuleBasedStateMachine):
    """Users change both sides at random; syncs run between, some cut off by a crash."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.counter = 0

    def fresh(self, content: str) -> str:
        # Every write is a new content, so that what is lost can be told apart.
        self.counter += 1
        return f"{content}-{self.counter}"

    def side(self, remote: bool):
        return self.world.remote if remote else self.world.local

    @rule(remote=st.booleans(), path=st.sampled_from(NAMES), content=CONTENTS)
    def write(self, remote, path, content):
        side = self.side(remote)
        node = side.tree.get(path)
        if side.can_hold(path) and (node is None or not node.is_dir):
            # The server keeps an overwritten file as a version; a local editor does not.
            side.write(path, self.fresh(content), keep_old=remote)

    @rule(remote=st.booleans(), path=st.sampled_from(["a", "b", "a/c", "d"]))
    def mkdir(self, remote, path):
        side = self.side(remote)
        if side.can_hold(path) and path not in side.tree:
            side.makedirs(path)

    @rule(remote=st.booleans(), path=st.sampled_from(NAMES + ["a/c"]))
    def delete(self, remote, path):
        side = self.side(remote)
        if path in side.tree:
            side.remove(path, keep=remote)  # the server's delete is to its trash

    @rule(remote=st.booleans(), source=st.sampled_from(NAMES), dest=st.sampled_from(NAMES))
    def rename(self, remote, source, dest):
        side = self.side(remote)
        if (
            source in side.tree
            and dest not in side.tree
            and not (dest + "/").startswith(source + "/")
            and side.can_hold(dest)
        ):
            side.move(source, dest)

    @rule(crash=st.integers(min_value=0, max_value=6), torn=st.booleans())
    def sync(self, crash, torn):
        before = self.world.reachable()
        self.world.sync(stop_after=crash, torn=torn)
        assert before <= self.world.reachable()

    @rule()
    def full_sync(self):
        before = self.world.reachable()
        self.world.sync()
        assert before <= self.world.reachable()

    @invariant()
    def converges_once_changes_stop(self):
        # On a copy, so that the history goes on from where it is.
        probe = World()
        probe.local.tree, probe.remote.tree = (
            dict(self.world.local.tree),
            dict(self.world.remote.tree),
        )
        probe.local.kept, probe.remote.kept = (
            list(self.world.local.kept),
            list(self.world.remote.kept),
        )
        probe.base = dict(self.world.base)
        probe.clock = self.world.clock
        before = probe.reachable()
        for _ in range(3):
            probe.sync()
        assert before <= probe.reachable()
        assert probe.files(probe.local) == probe.files(probe.remote)
        assert probe.plan().actions == []


TestSyncHistory = SyncHistory.TestCase
TestSyncHistory.settings = settings(
    max_examples=150,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
