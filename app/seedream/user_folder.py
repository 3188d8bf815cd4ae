"""Generation into a user's own files (``POST /api/generate``): the reference images come
from the user's tree by path, and each result is stored in a folder of it through the
user-files service, so its quota counts them and they stay private.

The results never enter the global catalogue: a generated image is the user's content
like any upload, reached by its path or a share link, not by its hash.
"""

from __future__ import annotations

import io
import time
from typing import Any
from urllib.parse import quote

from app.errors import InvalidField
from app.metadata.entries import ROOT
from app.seedream.form import GenerateForm
from app.seedream.images import MAX_IMAGE_BYTES
from app.seedream.payloads import GeneratedImage
from app.seedream.service import ImageSink
from app.userfiles.interface import User, UserFiles
from app.userfiles.paths import normalize_path

FOLDER_FIELD = "folder"
# image1_path / image2_path: a file of the user's tree, sent as image1 / image2.
PATH_FIELDS = (("image1", "image1_path"), ("image2", "image2_path"))


def take_user_fields(form: GenerateForm, files: UserFiles, user: User) -> tuple[GenerateForm, str]:
    """Split the form: the folder to store into, and the rest of it for
    ``SeedreamService.prepare``, with each ``imageN_path`` read from the user's files as
    the upload ``imageN``. Raises 400/404 naming the field."""
    fields = dict(form.fields)
    uploads = dict(form.files)
    folder = normalize_path(fields.pop(FOLDER_FIELD, "").strip() or None, FOLDER_FIELD)
    for file_field, path_field in PATH_FIELDS:
        raw = fields.pop(path_field, "").strip()
        if not raw:
            continue
        if file_field in uploads:
            raise InvalidField(path_field, f"send '{file_field}' or '{path_field}', not both")
        uploads[file_field] = _read_reference(
            files, user, normalize_path(raw, path_field), path_field
        )
    return GenerateForm(fields, uploads), folder


def _read_reference(files: UserFiles, user: User, path: str, field: str) -> bytes:
    download = files.download(user, path)
    if download.size > MAX_IMAGE_BYTES:
        raise InvalidField(
            field,
            f"{path} is {download.size} bytes; a reference image is at most 10 MB",
            code="image_too_large",
        )
    return b"".join(download.read(0, download.size))


def folder_sink(files: UserFiles, user: User, folder: str) -> ImageSink:
    """Make the folder (and its parents) if missing, then store each image at
    ``<folder>/<name>`` of the user's files; answer its path, its URL under /api/files,
    its size as WxH and in bytes. Call it once the generation is checked: a refused one
    leaves no folder behind."""
    if folder != ROOT:
        files.mkdir(user, folder)
    # A second of the clock in the names: the same prompt twice makes new files, not
    # versions of the first ones.
    stamp = time.strftime("%Y%m%d-%H%M%S")

    def store(image: GeneratedImage, name: str) -> dict[str, Any]:
        assert image.data is not None
        stem, _, extension = name.rpartition(".")
        path = f"{folder.rstrip('/')}/{stem}-{stamp}.{extension}"
        entry = files.put(user, path, io.BytesIO(image.data), len(image.data))
        return {
            "name": entry.name,
            "path": entry.path,
            "url": "/api/files" + quote(entry.path),
            "size": image.size,
            "bytes": entry.size,
            "hash": entry.hash,
        }

    return store
