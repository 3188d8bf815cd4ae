"""What the service puts in a zip download (``walk``): names relative to the selection's
parent, folders (empty ones too), overlapping and clashing selections, bounds."""

from __future__ import annotations

import io

import pytest

from app.errors import AppError
from app.userfiles import selection as selection_module


def code(call) -> str:
    with pytest.raises(AppError) as caught:
        call()
    return caught.value.code


@pytest.fixture
def tree(service):
    service.add_user("zed", "pw-zed")
    user = service.authenticate(service.login("zed", "pw-zed").token)
    for path, data in {
        "/docs/a.txt": b"alpha",
        "/docs/sub/b.txt": b"beta",
        "/x/f.txt": b"from x",
        "/y/f.txt": b"from y",
        "/café et thé/ü 1.txt": b"unicode",
        "/back\\slash.txt": b"windows",
    }.items():
        service.put(user, path, io.BytesIO(data), len(data))
    service.mkdir(user, "/docs/empty")
    return service, user


def contents(selection) -> dict[str, bytes | None]:
    return {
        item.name: None
        if item.content is None
        else b"".join(item.content.read(0, item.content.size))
        for item in selection.items
    }


def test_a_folder_brings_its_tree_named_from_its_parent(tree):
    service, user = tree
    chosen = service.walk(user, ["/docs/"])
    assert chosen.title == "docs" and chosen.count == 1
    assert contents(chosen) == {
        "docs": None,
        "docs/a.txt": b"alpha",
        "docs/empty": None,
        "docs/sub": None,
        "docs/sub/b.txt": b"beta",
    }
    inner = service.walk(user, ["/docs/sub"])
    assert contents(inner) == {"sub": None, "sub/b.txt": b"beta"}


def test_several_paths_clash_and_overlap(tree):
    service, user = tree
    chosen = service.walk(user, ["/x/f.txt", "/y/f.txt", "/docs", "/docs/a.txt", "/docs"])
    assert chosen.title is None and chosen.count == 3
    names = contents(chosen)
    assert names["f.txt"] == b"from x" and names["f (2).txt"] == b"from y"
    assert [name for name in names if name.endswith("a.txt")] == ["docs/a.txt"]
    one_file = service.walk(user, ["/x/f.txt"])
    assert one_file.title is None and contents(one_file) == {"f.txt": b"from x"}


def test_the_root_is_everything_at_the_top_level(tree):
    service, user = tree
    chosen = service.walk(user, ["/", "/docs"])
    assert chosen.title == "zed-files" and chosen.count == 1
    names = contents(chosen)
    assert names["café et thé/ü 1.txt"] == b"unicode" and names["docs/sub/b.txt"] == b"beta"
    assert names["back_slash.txt"] == b"windows"  # no backslash for Windows tools to split
    assert not [name for name in names if name.startswith("/") or ".." in name.split("/")]


def test_bad_selections_are_refused(tree, monkeypatch):
    service, user = tree
    assert code(lambda: service.walk(user, [])) == "missing_field"
    assert code(lambda: service.walk(user, ["/nope"])) == "path_not_found"
    assert code(lambda: service.walk(user, ["/docs/../x"])) == "invalid_path"
    monkeypatch.setattr(selection_module, "MAX_ENTRIES", 3)
    assert code(lambda: service.walk(user, ["/docs"])) == "selection_too_large"
    monkeypatch.setattr(selection_module, "MAX_PATHS", 1)
    assert code(lambda: service.walk(user, ["/x/f.txt", "/y/f.txt"])) == "selection_too_large"


def test_another_users_paths_are_not_found(tree, alice):
    service, _ = tree
    assert code(lambda: service.walk(alice, ["/docs"])) == "path_not_found"
