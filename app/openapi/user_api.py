"""The per-user API, ``/api/``, in OpenAPI (``app.api.routes``, rendered by
``app.api.answers``): accounts, a user's files and folders, versions, trash, shares,
thumbnails, zips, the admin's users, and Seedream into a folder."""

from __future__ import annotations

from typing import Any

from app.openapi.components import (
    ADMIN,
    BINARY,
    BOOLEAN,
    CLIENT,
    COUNT,
    ENTRY,
    HASH,
    INTEGER,
    JSON_BODY,
    NULLABLE_HASH,
    NUMBER,
    OPEN,
    PASSWORD,
    STRING,
    USER,
    USER_PATH,
    USER_PATH_PARAM,
    USERNAME,
    Operation,
    Schema,
    answer,
    array,
    bytes_request,
    json_request,
    obj,
    operation,
    param,
)
from app.openapi.master import GENERATE_ANSWER, GENERATE_FAILS, GENERATE_FORM

# Who calls /api/ with no token, a wrong one, a disabled user's; or a cookie without CSRF.
AUTH = (401, 403)
# Every view under /api/ that names a path may find nothing there or a path it refuses.
PATH_FAILS = (*CLIENT, *AUTH, 404)
CHANGE_FAILS = (*JSON_BODY, *AUTH, 404, 409)
PATH_QUERY = param("query", "path", USER_PATH)
BYTES = {"*/*": BINARY}

QUOTA = {**COUNT, "type": ["integer", "null"]}
ACCOUNT = obj(
    {
        "name": STRING,
        "admin": BOOLEAN,
        "disabled": BOOLEAN,
        "quota_bytes": {"type": ["integer", "null"]},
        "used_bytes": INTEGER,
    }
)
SHARE_FIELDS: dict[str, Schema] = {
    "id": STRING,
    "path": STRING,
    "hash": NULLABLE_HASH,
    "size": INTEGER,
    "created_at": NUMBER,
    "expires_at": {"type": ["number", "null"]},
    "password": BOOLEAN,
}
SHARE = obj(SHARE_FIELDS)
NEW_SHARE = obj({"token": STRING, "url": STRING, **SHARE_FIELDS})
VERSION = obj({"version": INTEGER, "hash": NULLABLE_HASH, "size": INTEGER, "mtime": NUMBER})
TRASH_ITEM = obj(
    {
        "trash_id": STRING,
        "path": STRING,
        "is_dir": BOOLEAN,
        "size": INTEGER,
        "items": INTEGER,
        "deleted_at": NUMBER,
    }
)
SESSION = obj(
    {"id": STRING, "kind": STRING, "created_at": NUMBER, "expires_at": NUMBER, "current": BOOLEAN},
    {"label": STRING},
)
CREDENTIALS = obj({"username": USERNAME, "password": PASSWORD})
PATH_BODY = obj({"path": USER_PATH})
FROM_TO = obj({"from": USER_PATH, "to": USER_PATH})
REVOKED = obj({"revoked": BOOLEAN})
PURGED = obj({"purged": INTEGER})
FILE_PATH = param("path", "path", USER_PATH_PARAM)


def simple(
    operation_id: str,
    summary: str,
    schema: Schema,
    fails: tuple[int, ...] = PATH_FAILS,
    **details: Any,
) -> Operation:
    """A user's call answered 200 with ``schema``."""
    return operation(operation_id, summary, answer(200, schema), fails, security=USER, **details)


def zip_answer() -> dict[str, Schema]:
    return answer(200, media={"application/zip": BINARY})


PATHS: dict[str, dict[str, Operation]] = {
    "/api/login": {
        "post": operation(
            "login",
            "A bearer token for a user's name and password",
            answer(200, obj({"token": STRING, "username": STRING})),
            (*JSON_BODY, 401, 403, 429),
            security=OPEN,
            body=json_request(CREDENTIALS),
        )
    },
    "/api/logout": {"post": simple("logout", "Revoke the token sent", REVOKED, (*CLIENT, *AUTH))},
    "/api/account": {
        "get": simple("account", "The caller's account and usage", ACCOUNT, (*CLIENT, *AUTH))
    },
    "/api/account/sessions": {
        "get": simple(
            "sessions",
            "The caller's sessions (tokens and web logins)",
            obj({"sessions": array(SESSION)}),
            (*CLIENT, *AUTH),
        )
    },
    "/api/account/sessions/{session_id}": {
        "delete": simple(
            "revokeSession",
            "End one of the caller's sessions",
            REVOKED,
            parameters=[param("path", "session_id")],
        )
    },
    "/api/account/password": {
        "post": simple(
            "changePassword",
            "Change the caller's password (other sessions end)",
            obj({"changed": BOOLEAN}),
            (*JSON_BODY, *AUTH, 429),
            body=json_request(obj({"old": PASSWORD, "new": PASSWORD})),
        )
    },
    "/api/files/{path}": {
        "put": simple(
            "putUserFile",
            "Store the body as the file at path (a new version if it exists)",
            obj({"path": STRING, "size": INTEGER, "hash": HASH, "version": INTEGER}),
            (*CHANGE_FAILS, 411, 502, 503, 504, 507),
            parameters=[FILE_PATH],
            body=bytes_request(),
        ),
        "get": operation(
            "getUserFile",
            "The file's bytes, or one of its versions",
            {**answer(200, media=BYTES), **answer(206, media=BYTES), **answer(304)},
            (*PATH_FAILS, 416, 502, 503, 504),
            security=USER,
            parameters=[
                FILE_PATH,
                param("query", "version", {"type": "integer", "minimum": 1}),
                param("header", "Range"),
                param("header", "If-None-Match"),
            ],
        ),
        "delete": simple(
            "deleteUserFile",
            "Move the file or folder to the trash",
            obj({"path": STRING, "trash_id": STRING}),
            (*PATH_FAILS, 409),
            parameters=[FILE_PATH],
        ),
    },
    "/api/blockmap/{path}": {
        "get": simple(
            "userFileBlocks",
            "Signed node URLs of each block of the file (or version), to read in parallel",
            obj(
                {
                    "name": STRING,
                    "size": INTEGER,
                    "hash": HASH,
                    "blocks": array(
                        obj(
                            {
                                "hash": HASH,
                                "offset": INTEGER,
                                "size": INTEGER,
                                "urls": array(STRING),
                            }
                        )
                    ),
                }
            ),
            (*PATH_FAILS, 503),
            parameters=[FILE_PATH, param("query", "version", {"type": "integer", "minimum": 1})],
        )
    },
    "/api/zip": {
        "get": operation(
            "zipPaths",
            "A zip of the files and folders named by each path",
            zip_answer(),
            (*PATH_FAILS, 413, 502, 503, 504),
            security=USER,
            parameters=[param("query", "path", array(USER_PATH))],
        ),
        "post": operation(
            "zipForm",
            "A zip of a selection too long for a URL (form field paths: a JSON list)",
            zip_answer(),
            (*PATH_FAILS, 413, 502, 503, 504),
            security=USER,
            body={
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "properties": {"paths": STRING}}
                    }
                },
            },
        ),
    },
    "/api/list": {
        "get": simple(
            "listFolder",
            "A page of a folder's entries",
            obj({"path": STRING, "entries": array(ENTRY), "total": INTEGER, "offset": INTEGER}),
            parameters=[
                PATH_QUERY,
                param("query", "offset", {"type": "integer", "minimum": 0}),
                param("query", "limit", {"type": "integer", "minimum": 0, "maximum": 1000}),
                param("query", "sort", {"enum": ["name", "size", "mtime"]}),
                param("query", "order", {"enum": ["asc", "desc"]}),
            ],
        )
    },
    "/api/search": {
        "get": simple(
            "search",
            "The caller's entries whose name holds q",
            obj({"query": STRING, "entries": array(ENTRY)}),
            (*CLIENT, *AUTH),
            parameters=[
                param("query", "q"),
                param("query", "limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            ],
        )
    },
    "/api/stat": {
        "get": simple("stat", "One entry", ENTRY, parameters=[PATH_QUERY]),
    },
    "/api/mkdir": {
        "post": simple(
            "mkdir",
            "Make a folder (and its parents)",
            ENTRY,
            CHANGE_FAILS,
            body=json_request(PATH_BODY),
        )
    },
    "/api/move": {
        "post": simple(
            "move", "Move or rename an entry", ENTRY, CHANGE_FAILS, body=json_request(FROM_TO)
        )
    },
    "/api/copy": {
        "post": simple(
            "copy",
            "Copy an entry (no bytes move)",
            ENTRY,
            (*CHANGE_FAILS, 507),
            body=json_request(FROM_TO),
        )
    },
    "/api/versions": {
        "get": simple(
            "versions",
            "A file's versions, newest first",
            obj({"versions": array(VERSION)}),
            (*PATH_FAILS, 409),  # a folder: is_a_directory
            parameters=[PATH_QUERY],
        )
    },
    "/api/restore": {
        "post": simple(
            "restore",
            "Restore a trash entry (trash_id) or a version (path and version)",
            ENTRY,
            (*CHANGE_FAILS, 507),
            body=json_request(obj({}, {"trash_id": STRING, "path": STRING, "version": INTEGER})),
        )
    },
    "/api/trash": {
        "get": simple(
            "trash", "The caller's trash", obj({"trash": array(TRASH_ITEM)}), (*CLIENT, *AUTH)
        ),
        "delete": simple("emptyTrash", "Purge the whole trash", PURGED, (*CLIENT, *AUTH)),
    },
    "/api/trash/{trash_id}": {
        "delete": simple(
            "purgeTrashEntry",
            "Purge one trash entry",
            PURGED,
            parameters=[param("path", "trash_id")],
        )
    },
    "/api/shares": {
        "post": simple(
            "createShare",
            "A share link to a file (a lifetime and a password optional)",
            NEW_SHARE,
            (*CHANGE_FAILS, 429),
            body=json_request(
                obj(
                    {"path": USER_PATH},
                    {"expires_in": {**COUNT, "type": ["integer", "null"]}, "password": PASSWORD},
                )
            ),
        ),
        "get": simple(
            "listShares", "The caller's links", obj({"shares": array(SHARE)}), (*CLIENT, *AUTH)
        ),
    },
    "/api/shares/{token}": {
        "delete": simple(
            "revokeShare", "Revoke a link", REVOKED, parameters=[param("path", "token")]
        )
    },
    "/api/thumbnail": {
        "get": operation(
            "thumbnail",
            "A thumbnail of an image of the caller's (JPEG or PNG)",
            answer(200, media={"image/jpeg": BINARY, "image/png": BINARY}),
            (*PATH_FAILS, 413, 415, 422, 502, 503, 504),
            security=USER,
            parameters=[PATH_QUERY, param("query", "size", INTEGER)],
        )
    },
    "/api/admin/users": {
        "post": operation(
            "addUser",
            "Add a user",
            answer(200, ACCOUNT),
            (*JSON_BODY, *AUTH, 409),
            security=ADMIN,
            body=json_request(
                obj(
                    {"username": USERNAME, "password": PASSWORD},
                    {"admin": BOOLEAN, "quota_bytes": QUOTA},
                )
            ),
        ),
        "get": operation(
            "listUsers",
            "Every user with usage",
            answer(200, obj({"users": array(ACCOUNT)})),
            (*CLIENT, *AUTH),
            security=ADMIN,
        ),
    },
    "/api/admin/users/{name}": {
        "patch": operation(
            "changeUser",
            "Disable or enable a user, set a quota, set a password",
            answer(200, ACCOUNT),
            (*CHANGE_FAILS,),
            security=ADMIN,
            parameters=[param("path", "name", USERNAME)],
            body=json_request(
                obj(
                    {},
                    {
                        "disabled": BOOLEAN,
                        "quota_bytes": QUOTA,
                        "password": PASSWORD,
                    },
                )
            ),
        )
    },
    "/api/generate": {
        "post": operation(
            "generateIntoFolder",
            "Seedream's generate, the images stored in a folder of the caller's files",
            GENERATE_ANSWER,
            (*GENERATE_FAILS, 404, 409),
            security=USER,
            body=GENERATE_FORM,
        )
    },
}
