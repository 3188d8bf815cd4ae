"""The OpenAPI links of each role's document: what an answer lets a client call next
(a file stored, then read, shared, deleted; an upload begun, then looked at, committed
or aborted). schemathesis follows them in its stateful run (tests/e2e/test_openapi_fuzz.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STORED_PATH = "$request.path.path"  # the file PUT /api/files/{path} stored


@dataclass(frozen=True)
class Link:
    """From the 200 answer of ``source``, call ``target`` with these values."""

    source: str
    name: str
    target: str
    parameters: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] | None = None

    def spelled(self) -> dict[str, Any]:
        link: dict[str, Any] = {"operationId": self.target}
        if self.parameters:
            link["parameters"] = self.parameters
        if self.body is not None:
            link["requestBody"] = self.body
        return link


def _catalogue_reads(source: str) -> tuple[Link, ...]:
    """The reads and the delete of a file just stored in the global catalogue."""
    digest = "$response.body#/hash"
    return (
        Link(source, "GetFile", "getFile", {"hash": digest}),
        Link(source, "Download", "download", {"hash": digest}),
        Link(source, "FileBlocks", "fileBlocks", {"file_hash": digest}),
        Link(source, "DeleteFile", "deleteFile", {"file_hash": digest}),
    )


UPLOAD_ID = {"upload_id": "$response.body#/upload_id"}
SHARE_TOKEN = {"token": "$response.body#/token"}
TRASH_ID = "$response.body#/trash_id"

ROLE_LINKS: dict[str, tuple[Link, ...]] = {
    "master": (
        Link("putUserFile", "GetFile", "getUserFile", {"path": STORED_PATH}),
        Link("putUserFile", "Stat", "stat", {"path": "$response.body#/path"}),
        Link("putUserFile", "Versions", "versions", {"path": "$response.body#/path"}),
        Link("putUserFile", "Thumbnail", "thumbnail", {"path": "$response.body#/path"}),
        Link("putUserFile", "Share", "createShare", body={"path": "$response.body#/path"}),
        Link("putUserFile", "DeleteFile", "deleteUserFile", {"path": STORED_PATH}),
        Link("createShare", "OpenShare", "openShare", SHARE_TOKEN),
        Link("createShare", "RevokeShare", "revokeShare", SHARE_TOKEN),
        Link("deleteUserFile", "Restore", "restore", body={"trash_id": TRASH_ID}),
        Link("deleteUserFile", "Purge", "purgeTrashEntry", {"trash_id": TRASH_ID}),
        *_catalogue_reads("uploadRawNamed"),
        *_catalogue_reads("uploadRaw"),
        Link("beginUpload", "Status", "uploadStatus", UPLOAD_ID),
        Link("beginUpload", "Commit", "commitUpload", UPLOAD_ID),
        Link("beginUpload", "Abort", "abortUpload", UPLOAD_ID),
    ),
    "node": (
        Link("uploadRaw", "Retrieve", "retrieve", {"hash": "$response.body#/hash"}),
        Link("uploadRaw", "DeleteBlob", "deleteBlob", {"digest": "$response.body#/hash"}),
    ),
}


def add_links(role: str, paths: dict[str, dict[str, Any]]) -> None:
    """Put ``role``'s links under the 200 answers of their source operations."""
    operations = {op["operationId"]: op for item in paths.values() for op in item.values()}
    for link in ROLE_LINKS[role]:
        if link.target not in operations:
            raise ValueError(f"link {link.name} of {link.source} names no operation {link.target}")
        answer = operations[link.source]["responses"]["200"]
        answer.setdefault("links", {})[link.name] = link.spelled()
