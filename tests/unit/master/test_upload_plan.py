from __future__ import annotations

import pytest

from app.errors import AppError
from app.master.validation import MAX_BLOCKS, parse_upload_plan

MIB = 1024 * 1024
H = [f"{i:x}" * 64 for i in range(1, 4)]
PLAN = {"name": "a/b.iso", "size": 9 * MIB, "hash": H[0], "block_size": 4 * MIB, "blocks": H}


def test_block_sizes_follow_from_the_file_size():
    plan = parse_upload_plan(PLAN, 10 * MIB)
    assert plan.blocks == ((H[0], 4 * MIB), (H[1], 4 * MIB), (H[2], MIB))
    assert (plan.name, plan.size, plan.hash) == ("a/b.iso", 9 * MIB, H[0])


def test_hashes_are_lower_cased():
    plan = parse_upload_plan({**PLAN, "hash": H[0].upper()}, 10 * MIB)
    assert plan.hash == H[0]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"blocks": H[:2]}, "invalid_field", "blocks"),
        ({"blocks": [*H, H[0]]}, "invalid_field", "blocks"),
        ({"blocks": [H[0], "x", H[2]]}, "invalid_hash", None),
        ({"hash": "../etc"}, "invalid_hash", None),
        ({"block_size": 1000}, "invalid_field", "block_size"),
        ({"block_size": 11 * MIB, "blocks": H[:1]}, "invalid_field", "block_size"),
        ({"size": -1}, "invalid_field", "size"),
        ({"size": None}, "missing_field", "size"),
        ({"name": "a\x00b"}, "invalid_field", "name"),
        # A file of one block is that block: its hash must be the file's.
        ({"size": MIB, "blocks": [H[1]]}, "invalid_field", "blocks"),
    ],
)
def test_what_does_not_add_up_is_refused(change, code, field):
    with pytest.raises(AppError) as caught:
        parse_upload_plan({**PLAN, **change}, 10 * MIB)
    assert caught.value.code == code
    assert caught.value.status == 400
    if field:
        assert caught.value.details["field"] == field


def test_the_empty_file_is_one_empty_block():
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    plan = parse_upload_plan(
        {"name": "", "size": 0, "hash": empty, "block_size": 4 * MIB, "blocks": [empty]},
        10 * MIB,
    )
    assert plan.blocks == ((empty, 0),)


@pytest.mark.parametrize("size", [MAX_BLOCKS * 64 * 1024 + 1, 2**63 - 1])
def test_more_blocks_than_an_upload_may_have_is_413_before_the_list_is_read(size):
    # The list is not even there: a size that needs too many blocks is enough (#17).
    with pytest.raises(AppError) as caught:
        parse_upload_plan({**PLAN, "size": size, "block_size": 64 * 1024, "blocks": None}, MIB)
    assert (caught.value.status, caught.value.code) == (413, "too_many_blocks")


def test_the_largest_upload_is_accepted():
    blocks = [H[1]] * MAX_BLOCKS
    size = MAX_BLOCKS * 64 * 1024
    plan = parse_upload_plan({**PLAN, "size": size, "block_size": 64 * 1024, "blocks": blocks}, MIB)
    assert len(plan.blocks) == MAX_BLOCKS
