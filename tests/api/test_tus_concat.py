"""tus concatenation (partial uploads sent side by side, then one final upload naming
them) and the room open uploads hold in the quota, through the Flask test client onto a
real node served on loopback."""

from __future__ import annotations

import hashlib
import os

from tests.api.test_tus import (  # noqa: F401 (fixtures)
    BLOCK,
    CLUSTER,
    MIB,
    alice,
    create,
    error,
    head,
    login,
    master,
    master_app,
    metadata,
    node,
    overrides,
    patch,
    read_back,
    send,
)


def partial(client, headers, length: int, **extra) -> str:
    reply = client.post(
        "/api/tus/",
        headers={**headers, "Upload-Length": str(length), "Upload-Concat": "partial"},
        **extra,
    )
    assert reply.status_code == 201, reply.json
    return reply.headers["Location"]


def final(client, headers, urls: list[str], path: str = "/whole.bin"):
    return client.post(
        "/api/tus/",
        headers={
            **headers,
            "Upload-Concat": "final;" + " ".join(urls),
            "Upload-Metadata": metadata(path=path),
        },
    )


def test_concatenation_is_advertised(master):  # noqa: F811
    answer = master.options("/api/tus/")
    assert "concatenation" in answer.headers["Tus-Extension"].split(",")
    assert answer.headers["Mdbx-Block-Size"] == str(BLOCK)  # where partials may be cut


def test_partials_sent_apart_make_one_file_of_the_same_blocks(master, alice, master_app):  # noqa: F811
    data = os.urandom(5 * BLOCK + 321)
    bounds = [(0, 2 * BLOCK), (2 * BLOCK, 4 * BLOCK), (4 * BLOCK, len(data))]
    urls = [partial(master, alice, stop - start) for start, stop in bounds]
    for url, (start, stop) in reversed(list(zip(urls, bounds, strict=True))):  # any order
        send(master, alice, url, data[start:stop], 8 * MIB)
        state = head(master, alice, url)
        assert state.headers["Upload-Offset"] == str(stop - start)
        assert state.headers["Upload-Concat"] == "partial"
    # A finished partial is no file of its own.
    assert master.get("/api/list", query_string={"path": "/"}, headers=alice).json["entries"] == []
    # Absolute URLs, as tus-js-client sends them.
    done = final(master, alice, ["http://localhost" + url for url in urls])
    assert done.status_code == 201, done.json
    assert done.headers["Upload-Offset"] == str(len(data))
    assert head(master, alice, done.headers["Location"]).headers["Upload-Offset"] == str(len(data))
    assert read_back(master, alice, "/whole.bin") == data
    digest = hashlib.sha256(data).hexdigest()
    stat = master.get("/api/stat", query_string={"path": "/whole.bin"}, headers=alice).json
    assert stat["hash"] == digest
    record = master_app.extensions["mdbx.master"].store.get(digest)
    assert [b.size for b in record.blocks] == [BLOCK] * 5 + [321]
    for url in urls:  # the partials are used up
        assert head(master, alice, url).status_code == 404


def test_a_final_of_a_first_partial_this_worker_did_not_hash(master, alice, master_app):  # noqa: F811
    data = os.urandom(BLOCK + 10)
    first, second = partial(master, alice, BLOCK), partial(master, alice, 10)
    send(master, alice, second, data[BLOCK:], 8 * MIB)
    send(master, alice, first, data[:BLOCK], 8 * MIB)
    # As if another worker had taken the first partial's bytes: every block read back.
    master_app.extensions["mdbx.resumable"]._content._hashes.clear()
    assert final(master, alice, [first, second]).status_code == 201
    assert read_back(master, alice, "/whole.bin") == data


def test_bad_final_lists_are_400_and_keep_the_partials(master, alice):  # noqa: F811
    done, other = partial(master, alice, BLOCK), partial(master, alice, 5)
    send(master, alice, done, os.urandom(BLOCK), 8 * MIB)
    send(master, alice, other, b"12345", 8 * MIB)
    unfinished = partial(master, alice, 10)
    patch(master, alice, unfinished, 0, b"12345")
    unaligned = partial(master, alice, 7)
    send(master, alice, unaligned, b"1234567", 8 * MIB)
    plain = create(master, alice, 3, "/plain.bin")
    cases = {
        "final;": (400, "invalid_header"),
        "final;/elsewhere/x": (400, "invalid_header"),
        "both": (400, "invalid_header"),
        f"final;{done} {done}": (400, "invalid_concat"),
        f"final;{done} {unfinished}": (400, "partial_unfinished"),
        f"final;{unaligned} {other}": (400, "partial_unaligned"),
        f"final;{done} {plain}": (400, "not_partial"),
        f"final;{done} /api/tus/{'0' * 32}": (404, "upload_not_found"),
    }
    for header, expected in cases.items():
        reply = master.post(
            "/api/tus/",
            headers={**alice, "Upload-Concat": header, "Upload-Metadata": metadata(path="/x")},
        )
        assert error(reply) == expected, header
    with_length = master.post(
        "/api/tus/",
        headers={**alice, "Upload-Concat": f"final;{done}", "Upload-Length": str(BLOCK)},
    )
    assert error(with_length) == (400, "bad_request")
    assert error(final(master, alice, [done], path="/")) == (400, "invalid_path")
    for url in (done, other, unfinished, unaligned):
        assert head(master, alice, url).status_code == 200
    assert final(master, alice, [done, other]).status_code == 201


def test_another_users_partial_is_404(master, alice):  # noqa: F811
    url = partial(master, alice, 3)
    send(master, alice, url, b"abc", 8 * MIB)
    bob = login(master, "bob")
    assert error(final(master, bob, [url])) == (404, "upload_not_found")
    assert head(master, alice, url).headers["Upload-Offset"] == "3"


def test_open_uploads_hold_their_room_in_the_quota(master, alice):  # noqa: F811
    quota = {"quota_bytes": 1000}
    assert master.patch("/api/admin/users/alice", json=quota, headers=CLUSTER).status_code == 200
    first = create(master, alice, 600, "/first.bin")
    refused = master.post(
        "/api/tus/",
        headers={**alice, "Upload-Length": "401", "Upload-Metadata": metadata(path="/b.bin")},
    )
    assert error(refused) == (507, "quota_exceeded")
    assert refused.json["error"]["message"]
    held = master.post(
        "/api/tus/",
        headers={**alice, "Upload-Length": "401", "Upload-Concat": "partial"},
    )
    assert error(held) == (507, "quota_exceeded")
    # A final upload takes over its partials' room: it fits.
    part = partial(master, alice, 400)
    send(master, alice, part, os.urandom(400), 8 * MIB)
    assert final(master, alice, [part], path="/second.bin").status_code == 201
    # Ended uploads give their room back.
    assert master.delete(first, headers=alice).status_code == 204
    assert create(master, alice, 600, "/third.bin")
