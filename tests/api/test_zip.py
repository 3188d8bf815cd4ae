"""GET and POST /api/zip through the Flask test client, over a real node: the archive
opens with Python's zipfile (and ``unzip -t`` where installed), bytes and names as
stored, folders kept, names that never climb out."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import time
import zipfile

import pytest
from sqlalchemy import update

from app.metadata.account_schema import fs_entries
from tests.support.user_master import error, put_file, user_master

FILES = {
    "/work/report.pdf": os.urandom(150_000),  # three blocks of the test master
    "/work/notes/ünïcode name.txt": "é".encode() * 100,
    "/work/notes/with spaces.md": b"# hi\n",
    "/work/empty.bin": b"",
    "/other/report.pdf": b"another report",
}


@pytest.fixture
def api(tmp_path, dead_url):
    with user_master(tmp_path, dead_url) as (_, client):
        for path, data in FILES.items():
            put_file(client, path, data)
        assert client.post("/api/mkdir", json={"path": "/work/nothing here"}).status_code == 200
        yield client


def opened(reply) -> zipfile.ZipFile:
    assert reply.status_code == 200, reply.data[:300]
    assert reply.mimetype == "application/zip"
    assert int(reply.headers["Content-Length"]) == len(reply.data)
    archive = zipfile.ZipFile(io.BytesIO(reply.data))
    assert archive.testzip() is None  # every CRC checks
    return archive


def test_a_folder_is_its_tree_under_its_name(api, tmp_path):
    reply = api.get("/api/zip?path=/work")
    assert reply.headers["Content-Disposition"].startswith('attachment; filename="work.zip"')
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    archive = opened(reply)
    assert sorted(archive.namelist()) == sorted(
        [
            "work/",
            "work/empty.bin",
            "work/nothing here/",
            "work/notes/",
            "work/notes/with spaces.md",
            "work/notes/ünïcode name.txt",
            "work/report.pdf",
        ]
    )
    for path, data in FILES.items():
        if path.startswith("/work/"):
            assert archive.read(path[1:]) == data
    assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    if shutil.which("unzip"):
        (tmp_path / "work.zip").write_bytes(reply.data)
        tested = subprocess.run(
            ["unzip", "-t", str(tmp_path / "work.zip")], capture_output=True, text=True, timeout=60
        )
        assert tested.returncode == 0 and "No errors detected" in tested.stdout, tested.stdout
        listing = subprocess.run(
            ["unzip", "-Z1", str(tmp_path / "work.zip")], capture_output=True, timeout=60
        )
        assert "work/notes/ünïcode name.txt".encode() in listing.stdout.splitlines()


def test_a_selection_is_named_by_its_count_and_clashes_are_renamed(api):
    reply = api.get("/api/zip?path=/work/report.pdf&path=/other/report.pdf&path=/work/notes")
    assert 'filename="mdbx-3-items.zip"' in reply.headers["Content-Disposition"]
    archive = opened(reply)
    assert archive.read("report.pdf") == FILES["/work/report.pdf"]
    assert archive.read("report (2).pdf") == FILES["/other/report.pdf"]
    assert archive.read("notes/with spaces.md") == b"# hi\n"


def test_post_takes_a_json_list_in_a_form_field(api):
    paths = ["/work/notes/with spaces.md", "/work/empty.bin"]
    reply = api.post("/api/zip", data={"paths": json.dumps(paths)})
    archive = opened(reply)
    assert sorted(archive.namelist()) == ["empty.bin", "with spaces.md"]
    assert 'filename="mdbx-2-items.zip"' in reply.headers["Content-Disposition"]


def test_names_never_climb_out_of_the_archive(api, tmp_path):
    put_file(api, "/evil\\..\\..\\x.txt", b"backslashes")
    archive = opened(api.get("/api/zip?path=/"))
    for name in archive.namelist():
        assert not name.startswith("/") and "\\" not in name
        assert ".." not in name.split("/"), name
    assert archive.read("evil_.._.._x.txt") == b"backslashes"
    target = tmp_path / "out"
    archive.extractall(target)
    extracted = {p.relative_to(target).as_posix() for p in target.rglob("*")}
    assert "work/notes/ünïcode name.txt" in extracted
    assert all((target / name).resolve().is_relative_to(target.resolve()) for name in extracted)
    # A '..' segment is refused before anything is looked up: it cannot be a stored name.
    assert error(api.get("/api/zip?path=/work/../other")) == (400, "invalid_path")


def test_bad_requests_are_clear_4xx(api):
    assert error(api.get("/api/zip")) == (400, "missing_field")
    assert error(api.get("/api/zip?path=/nope")) == (404, "path_not_found")
    assert error(api.post("/api/zip", data={})) == (400, "missing_field")
    for bad in ("not json", '"/work"', "[1, 2]", '{"a": 1}'):
        assert error(api.post("/api/zip", data={"paths": bad})) == (400, "invalid_field")
    assert error(api.post("/api/zip", data={"paths": "[]"})) == (400, "missing_field")
    anonymous = api.get("/api/zip?path=/work", headers={"Authorization": ""})
    assert error(anonymous) == (401, "missing_credentials")


def test_entries_carry_their_modified_time_not_the_download_time(tmp_path, dead_url):
    # Two known times in the past, set on the entries as an older upload would have left
    # them; DOS times count in 2-second steps.
    file_time, folder_time = 1_600_000_000.0, 1_500_000_000.0
    with user_master(tmp_path, dead_url) as (app, client):
        put_file(client, "/old/a.txt", b"aaa")
        engine = app.extensions["mdbx.master"].store.engine
        with engine.begin() as conn:
            for path, mtime in (("/old/a.txt", file_time), ("/old", folder_time)):
                conn.execute(
                    update(fs_entries).where(fs_entries.c.path == path).values(mtime=mtime)
                )
        reply = client.get("/api/zip?path=/old")
        archive = opened(reply)
        expected = {
            "old/": time.localtime(folder_time)[:6],
            "old/a.txt": time.localtime(file_time)[:6],
        }
        for info in archive.infolist():
            wanted = (*expected[info.filename][:5], expected[info.filename][5] // 2 * 2)
            assert info.date_time == wanted, info.filename  # the central directory
            local = reply.data[info.header_offset : info.header_offset + 30]
            assert local[:4] == b"PK\x03\x04"
            dos_time, dos_date = struct.unpack("<HH", local[10:14])
            assert (dos_date >> 9) + 1980 == wanted[0] and dos_date & 0x1F == wanted[2]
            assert dos_time >> 11 == wanted[3] and (dos_time & 0x1F) * 2 == wanted[5]
        assert archive.read("old/a.txt") == b"aaa"
