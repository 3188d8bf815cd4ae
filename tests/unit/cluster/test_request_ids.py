"""Request ids: a client's plain token is kept, anything else replaced by an id unique
across processes (a forked worker makes its own)."""

from __future__ import annotations

import os

import pytest

from app.cluster import request_ids


@pytest.mark.parametrize("sent", ["trace-42", "0f" * 16, "a:b@c.d_e", "x" * 128])
def test_a_plain_token_is_kept(sent):
    assert request_ids.accept_or_make(sent) == sent


@pytest.mark.parametrize("sent", [None, "", "two words", "x" * 129, "a\nb", "é", "a;b"])
def test_anything_else_gets_a_new_id(sent):
    made = request_ids.accept_or_make(sent)
    assert made != sent and made.isalnum()


def test_ids_differ_within_a_process_and_across_a_fork():
    made = {request_ids.accept_or_make(None) for _ in range(1000)}
    assert len(made) == 1000
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports one id it made, then leaves at once
        os.write(write, request_ids.accept_or_make(None).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 200).decode()
    os.close(read)
    mine = request_ids.accept_or_make(None)
    assert from_child[:12] != mine[:12], (from_child, mine)  # another process prefix
