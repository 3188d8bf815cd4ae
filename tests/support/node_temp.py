"""What a node's ``tmp/`` should hold once no upload is in flight: nothing but the sealed
names that blobs linked into place keep until the next batch's sync (on a filesystem
without a journal: ``app.storage.blobstore``)."""

from __future__ import annotations

import os
from pathlib import Path

from app.storage.blobstore import SEALED_PREFIX


def stray_temp_files(data_dir: Path) -> list[Path]:
    """The files in ``data_dir/tmp`` that are not a kept sealed name of a blob in place."""
    strays = []
    for path in sorted((data_dir / "tmp").iterdir()):
        if path.name.startswith(SEALED_PREFIX):
            digest = path.name[len(SEALED_PREFIX) :].split("-", 1)[0]
            blob = data_dir / "blobs" / digest[:2] / digest[2:4] / digest
            if blob.exists() and os.path.samefile(blob, path):
                continue
        strays.append(path)
    return strays
