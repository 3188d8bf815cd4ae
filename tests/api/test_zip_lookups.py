"""A zip of many small files through the master: its database round trips do not grow
with the files (the paths named, and their contents, each looked up together), and the
archive holds every file's bytes in the order named."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import event

from tests.support.user_master import put_file, user_master

FILES = 60


def test_a_zip_of_many_named_files_looks_them_up_together(tmp_path, dead_url):
    with user_master(tmp_path, dead_url) as (app, client):
        paths = [f"/many/f{n:03d}.txt" for n in range(FILES)]
        for path in paths:
            put_file(client, path, f"bytes of {path}".encode() * 40)
        engine = app.extensions["mdbx.master"].store.engine
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_rest):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            reply = client.post("/api/zip", data={"paths": json.dumps(paths)})
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert reply.status_code == 200, reply.data[:300]
        archive = zipfile.ZipFile(io.BytesIO(reply.data))
        assert archive.namelist() == [path.rsplit("/", 1)[1] for path in paths]
        for path in paths:
            assert archive.read(path.rsplit("/", 1)[1]) == f"bytes of {path}".encode() * 40
        # One (or two) a file before: the entry at each path, then its content's record.
        assert len(statements) < FILES // 4, statements
