"""The master's file catalogue against a model (#20): random registrations (``/register``,
a node's new copies), renames, deletes, nodes' inventories (which may report content
deleted meanwhile) and reopens (a restarted master); after every step each file's name,
size and copies, the global listing and the count match the model, a delete purges
exactly the copies the model knows, and an inventory is told to drop exactly what was
deleted, never bringing it back.

The files here are public and of one blob each: the catalogue's core. Private content
and manifests have tests of their own (``test_visibility``, ``test_blocks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from app.metadata.engine import make_engine, sqlite_url
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import FileRecord, HeldCopy
from tests.support.postgres import postgres_schema

HASHES = tuple(c * 64 for c in "abcd")
SIZES = {digest: 10 + index for index, digest in enumerate(HASHES)}
NODES = ("n1", "n2", "n3")
NAMES = ("a.txt", "b.txt", "A.txt")

digests = st.sampled_from(HASHES)
names = st.sampled_from(NAMES)
nodes = st.sampled_from(NODES)
node_sets = st.sets(nodes, min_size=1).map(lambda s: tuple(sorted(s)))


@dataclass
class Model:
    """hash -> (name, nodes holding a copy); the hashes deleted and not stored since."""

    files: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def store(self, digest: str, name: str, on: set[str]) -> None:
        """A public write of the content: it names it, and its copies add to those known."""
        _old_name, held = self.files.get(digest, (name, set()))
        self.files[digest] = (name, held | on)
        self.deleted.discard(digest)


class CatalogueMachine(RuleBasedStateMachine):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.engine = make_engine(url, synchronous="OFF")  # not a durability test
        self.catalogue = FileCatalogue(self.engine)
        self.model = Model()

    @rule(digest=digests, name=names, on=node_sets)
    def register(self, digest: str, name: str, on: tuple[str, ...]) -> None:
        got = self.catalogue.register(FileRecord(digest, name, SIZES[digest], on))
        self.model.store(digest, name, set(on))
        assert (got.name, set(got.replicas)) == self.model.files[digest]

    @rule(node=nodes, picked=st.lists(st.tuples(digests, names), min_size=1, max_size=3))
    def node_stored_copies(self, node: str, picked: list[tuple[str, str]]) -> None:
        copies = [HeldCopy(digest, name, SIZES[digest]) for digest, name in picked]
        self.catalogue.register_copies(node, copies)
        for copy in copies:
            self.model.store(copy.hash, copy.name, {node})

    @rule(digest=digests, name=names)
    def rename(self, digest: str, name: str) -> None:
        got = self.catalogue.rename(digest, name)
        if digest not in self.model.files:
            assert got is None
            return
        _name, held = self.model.files[digest]
        self.model.files[digest] = (name, held)
        assert got is not None and got.name == name

    @rule(digest=digests)
    def delete(self, digest: str) -> None:
        answer = self.catalogue.delete_file(digest)
        if digest not in self.model.files:
            assert answer is None
            return
        assert answer is not None
        record, purged = answer
        _name, held = self.model.files.pop(digest)
        self.model.deleted.add(digest)
        assert record.hash == digest
        # No user keeps it: its one blob goes, with every copy the catalogue knew.
        assert [(p.hash, set(p.replicas)) for p in purged] == [(digest, held)]

    @rule(node=nodes, reported=st.sets(st.tuples(digests, names), min_size=1, max_size=4))
    def inventory(self, node: str, reported: set[tuple[str, str]]) -> None:
        """A node reports what it holds (after a restart, say): content deleted meanwhile
        is to be dropped, the rest confirmed, and content never seen becomes a file under
        the node's name for it."""
        by_hash = dict(sorted(reported))
        items = [HeldCopy(digest, name, SIZES[digest]) for digest, name in by_hash.items()]
        drop = self.catalogue.confirm_inventory(node, items)
        assert drop == sorted(d for d in by_hash if d in self.model.deleted)
        for digest, name in by_hash.items():
            if digest in self.model.deleted:
                continue
            known_name, held = self.model.files.get(digest, (name, set()))
            self.model.files[digest] = (known_name, held | {node})

    @rule()
    def reopen(self) -> None:
        """A restarted master: a new engine on the same database."""
        self.engine.dispose()
        self.engine = make_engine(self.url, synchronous="OFF")
        self.catalogue = FileCatalogue(self.engine)

    @invariant()
    def every_file_is_as_the_model_says(self) -> None:
        for digest in HASHES:
            got = self.catalogue.get(digest)
            if digest not in self.model.files:
                assert got is None, digest
                continue
            assert got is not None, digest
            name, held = self.model.files[digest]
            assert (got.name, got.size, got.public) == (name, SIZES[digest], True)
            assert set(got.replicas) == held and got.hidden == ()
        listed = {r.hash: (r.name, set(r.replicas)) for r in self.catalogue.list_files()}
        assert listed == self.model.files
        assert self.catalogue.count_files() == len(self.model.files)

    def teardown(self) -> None:
        self.engine.dispose()


RUN = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_catalogue_behaves_as_its_model_on_sqlite(tmp_path):
    counter = iter(range(10_000))

    def machine() -> CatalogueMachine:
        return CatalogueMachine(sqlite_url(tmp_path / f"meta-{next(counter)}.db"))

    run_state_machine_as_test(machine, settings=RUN)


class PostgresCatalogueMachine(CatalogueMachine):
    """The same, each example in a schema of its own (a catalogue has no user to tell
    one example's rows from another's)."""

    def __init__(self) -> None:
        self._schema = postgres_schema()
        super().__init__(self._schema.__enter__())

    def teardown(self) -> None:
        super().teardown()
        self._schema.__exit__(None, None, None)


@pytest.mark.postgres
def test_the_catalogue_behaves_as_its_model_on_postgresql():
    run_state_machine_as_test(PostgresCatalogueMachine, settings=settings(RUN, max_examples=3))
