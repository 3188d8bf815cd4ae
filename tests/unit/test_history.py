"""The history checker of the fault tests (tests/support/history.py) on hand-made
histories: it passes what a register may do and catches each kind of bad answer."""

from __future__ import annotations

import hashlib

from tests.support.history import (
    ABSENT,
    DELETE,
    LIST,
    READ,
    WRITE,
    Op,
    check,
    content,
    token_of,
)


def write(name, token, start, end, ok=True):
    return Op(WRITE, name, start, end, ok, token)


def read(name, value, start, end, final=False):
    return Op(READ, name, start, end, True, value, final=final)


def delete(name, start, end, ok=True):
    return Op(DELETE, name, start, end, ok)


def listing(start, end, **names):
    seen = tuple(
        (name, hashlib.sha256(content(name, token)).hexdigest()) for name, token in names.items()
    )
    return Op(LIST, "/", start, end, True, seen=seen)


def problems(*ops):
    verdict = check(ops)
    return [v.split(":")[0] for v in verdict.violations]


def test_content_names_its_write_and_nothing_else_passes_for_it():
    data = content("a", "1:7")
    assert token_of("a", data) == "1:7"
    assert token_of("b", data) is None
    assert token_of("a", data[:-1]) is None
    assert token_of("a", data[:-1] + bytes([data[-1] ^ 1])) is None
    assert content("a", "1:7") != content("a", "1:8")


def test_a_sequential_history_passes_and_is_counted():
    verdict = check(
        [
            read("a", ABSENT, 0, 1),
            write("a", "w1", 2, 3),
            read("a", "w1", 4, 5),
            write("a", "w2", 6, 7),
            read("a", "w2", 8, 9),
            delete("a", 10, 11),
            read("a", ABSENT, 12, 13),
            listing(14, 15),
        ]
    )
    assert verdict.ok, verdict.violations
    assert verdict.checked == {READ: 4, WRITE: 2, DELETE: 1, LIST: 1}
    assert "8 operations" in verdict.summary()


def test_a_read_concurrent_with_a_write_may_see_either_value():
    base = [write("a", "w1", 0, 1), write("a", "w2", 2, 5)]
    assert problems(*base, read("a", "w1", 3, 4)) == []
    assert problems(*base, read("a", "w2", 3, 4)) == []
    # A read that began before w2 ended may even see w1 after w2 ended.
    assert problems(*base, read("a", "w1", 4, 6)) == []


def test_a_stale_read_is_caught():
    assert problems(write("a", "w1", 0, 1), write("a", "w2", 2, 3), read("a", "w1", 4, 5)) == [
        "stale read"
    ]


def test_a_deleted_file_read_back_is_a_stale_read():
    assert problems(write("a", "w1", 0, 1), delete("a", 2, 3), read("a", "w1", 4, 5)) == [
        "stale read"
    ]


def test_a_lost_write_is_caught_by_the_last_reads():
    ops = [write("a", "w1", 0, 1), write("a", "w2", 2, 3)]
    assert problems(*ops, read("a", ABSENT, 10, 11, final=True)) == ["lost write"]
    assert problems(*ops, read("a", "w1", 10, 11, final=True)) == ["lost write"]
    assert problems(*ops, read("a", "w2", 10, 11, final=True)) == []


def test_a_phantom_value_is_caught():
    assert problems(write("a", "w1", 0, 1), read("a", "never", 2, 3)) == ["phantom"]
    # A value written to another name is a phantom here too.
    assert problems(write("b", "w1", 0, 1), read("a", "w1", 2, 3)) == ["phantom"]


def test_a_failed_write_may_or_may_not_be_visible():
    ops = [write("a", "w1", 0, 1), write("a", "w2", 2, 3, ok=False)]
    assert problems(*ops, read("a", "w2", 4, 5)) == []
    assert problems(*ops, read("a", "w1", 4, 5)) == []
    # But it overwrites nothing for sure: absence is still wrong after w1.
    assert problems(*ops, read("a", ABSENT, 4, 5)) == ["stale read"]


def test_a_failed_delete_may_or_may_not_have_happened():
    ops = [write("a", "w1", 0, 1), delete("a", 2, 3, ok=False)]
    assert problems(*ops, read("a", ABSENT, 4, 5)) == []
    assert problems(*ops, read("a", "w1", 4, 5)) == []


def test_a_value_read_before_its_write_began_is_caught():
    assert problems(read("a", "w1", 0, 1), write("a", "w1", 2, 3)) == ["phantom"]


def test_listings_follow_the_same_rule_by_content_hash():
    ops = [write("a", "w1", 0, 1), write("b", "w2", 0, 1)]
    assert problems(*ops, listing(2, 3, a="w1", b="w2")) == []
    assert problems(*ops, listing(2, 3, a="w1")) == ["stale read"]  # b missing after its write
    assert problems(*ops, delete("a", 2, 3), listing(4, 5, a="w1", b="w2")) == ["stale read"]
    assert problems(*ops, listing(2, 3, a="w1", b="w2", c="w9")) == ["phantom"]
    # A listing concurrent with a write may or may not show it.
    assert problems(*ops, write("c", "w3", 2, 5), listing(3, 4, a="w1", b="w2")) == []
