"""The namespace against a model (#20): random puts, mkdirs, moves, copies, deletes to
the trash, restores and version restores, with the store reopened between steps; after
every step the whole tree, every file's versions and the trash match the model, and a
refused operation changed nothing.

Names are chosen to trip what SQL gets wrong: case (``a``/``A``), LIKE's wildcards
(``%``, ``_``) and a name that is another's prefix (``a``/``a_``). Moves, copies and
deletes mostly take a path that exists, so that subtrees are what they act on.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from app.errors import AppError
from app.metadata.accounts import UserStore
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from tests.support.postgres import postgres_schema

HASHES = ("aa" * 32, "bb" * 32, "cc" * 32)
# Pairs a case-blind or wildcard match would confuse: a/A, a_/ab, b%/bb.
NAMES = ("a", "A", "a_", "ab", "b%", "bb")
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=2).map(lambda p: "/" + "/".join(p))
contents = st.sampled_from(HASHES)


class Refused(Exception):
    """What the model expects the store to refuse."""


@dataclass
class Model:
    """The tree as plain dicts: path -> (is_dir, hash, version); each path's archived
    versions (they stay keyed by path, whatever happens to the file); the trash."""

    entries: dict[str, tuple[bool, str | None, int]] = field(default_factory=dict)
    archive: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    trash: dict[str, tuple[str, list[tuple[str, bool, str | None]]]] = field(default_factory=dict)

    def ensure_folder(self, path: str) -> None:
        missing = []
        while path != "/":
            if path in self.entries:
                if not self.entries[path][0]:
                    raise Refused("a file is in the way")
                break
            missing.append(path)
            path = posixpath.dirname(path)
        for folder in missing:
            self.entries[folder] = (True, None, 0)

    def put(self, path: str, digest: str) -> None:
        self.ensure_folder(posixpath.dirname(path))
        current = self.entries.get(path)
        if current is not None and current[0]:
            raise Refused("a folder is there")
        archived = self.archive.setdefault(path, [])
        version = max([v for v, _ in archived] + [current[2] if current else 0]) + 1
        if current is not None:
            archived.append((current[2], current[1] or ""))
        self.entries[path] = (False, digest, version)

    def below(self, path: str) -> list[str]:
        return sorted(p for p in self.entries if p == path or p.startswith(path + "/"))

    def check_move(self, source: str, target: str) -> None:
        if target == source or target.startswith(source + "/"):
            raise Refused("inside itself")
        if source not in self.entries or target in self.entries:
            raise Refused("missing source or taken target")

    def move(self, source: str, target: str) -> None:
        self.check_move(source, target)
        self.ensure_folder(posixpath.dirname(target))
        for old in self.below(source):
            self.entries[target + old[len(source) :]] = self.entries.pop(old)
        for old in [p for p in self.archive if p == source or p.startswith(source + "/")]:
            self.archive.setdefault(target + old[len(source) :], []).extend(self.archive.pop(old))

    def copy(self, source: str, target: str) -> None:
        self.check_move(source, target)
        for old in self.below(source):
            is_dir, digest, _ = self.entries[old]
            new = target + old[len(source) :]
            if is_dir:
                self.ensure_folder(new)
            else:
                self.put(new, digest or "")

    def delete(self, path: str, trash_id: str) -> None:
        if path not in self.entries:
            raise Refused("nothing there")
        items = [(p, self.entries[p][0], self.entries[p][1]) for p in self.below(path)]
        for p, _, _ in items:
            del self.entries[p]
        self.trash[trash_id] = (path, items)

    def restore(self, trash_id: str) -> None:
        for item_path, is_dir, digest in sorted(self.trash[trash_id][1]):
            if is_dir:
                self.ensure_folder(item_path)
            else:
                self.put(item_path, digest or "")
        del self.trash[trash_id]

    def versions(self, path: str) -> list[tuple[int, str]]:
        current = self.entries.get(path)
        mine = [(current[2], current[1] or "")] if current and not current[0] else []
        return mine + sorted(self.archive.get(path, []), reverse=True)


class NamespaceMachine(RuleBasedStateMachine):
    """Each operation is tried on the model first; on a copy of it, so that a refusal
    leaves the model as the store's transaction leaves the database: unchanged."""

    trash_ids = Bundle("trash_ids")

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.engine = make_engine(url, synchronous="OFF")  # not a durability test
        catalogue = FileCatalogue(self.engine)
        for digest in HASHES:
            catalogue.register(FileRecord(digest, digest, 10, ("n1",), public=False))
        self.user = UserStore(self.engine).add(f"u{id(self)}", "x").id
        self.store = NamespaceStore(self.engine)
        self.model = Model()

    def both(self, model_step, store_step) -> object:
        import copy

        trial = copy.deepcopy(self.model)
        try:
            expected = model_step(trial)
        except Refused:
            with pytest.raises(AppError):
                store_step()
            return None
        result = store_step()
        self.model = trial
        return expected if expected is not None else result

    @rule(path=paths, digest=contents)
    def put(self, path, digest):
        self.both(
            lambda m: m.put(path, digest),
            lambda: self.store.put_file(self.user, path, digest, 10, quota=0),
        )

    @rule(path=paths)
    def mkdir(self, path):
        self.both(lambda m: m.ensure_folder(path), lambda: self.store.mkdir(self.user, path))

    def existing(self, data: st.DataObject) -> str:
        """A path that exists, most of the time (any path otherwise)."""
        known = sorted(self.model.entries)
        if known and data.draw(st.integers(0, 9)) > 0:
            return data.draw(st.sampled_from(known))
        return data.draw(paths)

    @rule(data=st.data(), dest=paths)
    def move(self, data, dest):
        source = self.existing(data)
        self.both(lambda m: m.move(source, dest), lambda: self.store.move(self.user, source, dest))

    @rule(data=st.data(), dest=paths)
    def copy(self, data, dest):
        source = self.existing(data)
        self.both(
            lambda m: m.copy(source, dest),
            lambda: self.store.copy(self.user, source, dest, quota=0),
        )

    @rule(target=trash_ids, data=st.data())
    def delete(self, data):
        path = self.existing(data)
        if path not in self.model.entries:
            with pytest.raises(AppError):
                self.store.trash(self.user, path)
            return "none"
        trash_id = self.store.trash(self.user, path)
        self.model.delete(path, trash_id)
        return trash_id

    @rule(trash_id=consumes(trash_ids))
    def restore(self, trash_id):
        if trash_id not in self.model.trash:
            return
        restored = self.both(
            lambda m: m.restore(trash_id),
            lambda: self.store.restore_trash(self.user, trash_id, quota=0),
        )
        if restored is None:  # refused: the entry stays in the trash, for a later try
            assert trash_id in {t["trash_id"] for t in self.store.list_trash(self.user)}

    @rule(path=paths, pick=st.integers(0, 3))
    def restore_version(self, path, pick):
        known = self.model.versions(path)
        if not known or self.model.entries.get(path, (False,))[0]:
            return
        version, digest = known[min(pick, len(known) - 1)]
        self.both(
            lambda m: m.put(path, digest),
            lambda: self.store.restore_version(self.user, path, version, quota=0),
        )

    @rule()
    def reopen(self):
        """As a restarted master: a new engine and store on the same database."""
        self.engine.dispose()
        self.engine = make_engine(self.url, synchronous="OFF")
        self.store = NamespaceStore(self.engine)

    @invariant()
    def the_tree_matches(self):
        tree = {e.path: (e.is_dir, e.hash, e.version) for e in self.store.subtree(self.user, "/")}
        assert tree == self.model.entries

    @invariant()
    def versions_and_trash_match(self):
        for path, (is_dir, _digest, _version) in self.model.entries.items():
            if not is_dir:
                got = [(v.version, v.hash) for v in self.store.versions(self.user, path)]
                assert got[0] == self.model.versions(path)[0]
                assert sorted(got[1:]) == sorted(self.model.versions(path)[1:])
        trashed = {t["trash_id"]: t["path"] for t in self.store.list_trash(self.user)}
        assert trashed == {tid: top for tid, (top, _items) in self.model.trash.items()}

    def teardown(self):
        self.engine.dispose()


RUN = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_namespace_behaves_as_its_model_on_sqlite(tmp_path):
    counter = iter(range(10_000))

    def machine() -> NamespaceMachine:
        return NamespaceMachine(sqlite_url(tmp_path / f"meta-{next(counter)}.db"))

    run_state_machine_as_test(machine, settings=RUN)


@pytest.mark.postgres
def test_the_namespace_behaves_as_its_model_on_postgresql():
    with postgres_schema() as url:
        run_state_machine_as_test(
            lambda: NamespaceMachine(url),
            settings=settings(RUN, max_examples=3),
        )
