"""Configuration: built-in defaults < conf/<role>.toml < environment MDBX_* < overrides.

Pure Python (no Flask) so that ``mdbx serve`` can read gunicorn settings from the same
source as the app. Every key is upper case, spelled in TOML exactly like its environment
variable minus the ``MDBX_`` prefix; an unknown key is a startup error, not a silent drop.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.addresses import default_public_url, is_loopback

ENV_PREFIX = "MDBX_"
MIB = 1024 * 1024
MIN_BLOCK_SIZE = 64 * 1024
# Blocks travel to nodes as single requests, which nodes cap at 10 MiB by default.
MAX_BLOCK_SIZE = 10 * MIB
# A PATCH of a resumable upload is streamed into blocks as it arrives (memory stays a few
# blocks whatever its size); past this a lost connection would waste too much.
MAX_UPLOAD_CHUNK_BYTES = 1024 * MIB
# A shorter cluster secret is guessable offline from any signed URL.
MIN_SECRET_LENGTH = 16

COMMON_DEFAULTS: dict[str, Any] = {
    "HOST": "127.0.0.1",
    "PORT": 0,
    "DATA_DIR": "data",
    "LOG_LEVEL": "info",
    # "json": one JSON object a line, with each request's id (app/server/json_logs.py).
    "LOG_FORMAT": "text",
    # gunicorn (see app/server/application.py): gevent workers per process and their limits. A
    # connection costs a worker a greenlet and a descriptor (10-25 KiB when idle), so
    # thousands of idle or slow clients do not fill its pool; `mdbx serve` raises the
    # open file limit to match (app/server/limits.py).
    "WORKERS": 2,
    "WORKER_CONNECTIONS": 10_000,
    # Per-socket-operation inactivity limits while reading a request body and writing a
    # response (the Go reference's ReadTimeout/WriteTimeout; a body read stalled past it
    # is answered 408), the keep-alive idle limit, and the time a request head has to
    # arrive whole: from the accept for a connection's first, from its first byte for a
    # later one (nginx's client_header_timeout). 0 means no limit.
    "READ_TIMEOUT": 15.0,
    "WRITE_TIMEOUT": 15.0,
    "IDLE_TIMEOUT": 60,
    "HEADER_TIMEOUT": 10.0,
    # Connections one client address may hold open at once, per worker; more are closed
    # at accept, unanswered. 0 (the default) means no cap: behind a proxy every client
    # has the proxy's address.
    "MAX_CONNECTIONS_PER_ADDRESS": 0,
    "GRACEFUL_TIMEOUT": 5,
    # Start background tasks (registration retry, inventory sync); tests of views turn it off.
    "BACKGROUND_TASKS": True,
    # One line per request on stdout (gunicorn's access log; the fast path's lines go out
    # together, every 32 KiB or second, as nginx's buffered access_log). Off on nodes by
    # default: at thousands of small reads a second it took 13% of a worker's time.
    "ACCESS_LOG": True,
    # The same for every role of a cluster. Empty means open mode, allowed only on
    # loopback; there is no built-in secret, ever.
    "CLUSTER_SECRET": "",
}

ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "master": {
        "PORT": 9000,
        "DATA_DIR": "data/master",
        # SQLAlchemy URL; empty means SQLite at DATA_DIR/metadata.db.
        "METADATA_URL": "",
        "HOT_INDEX_SIZE": 100_000,
        # Copies of each file (R); uploads answer once WRITE_QUORUM of them are durable
        # (0 means all R).
        "REPLICATION": 2,
        "WRITE_QUORUM": 0,
        # Seconds without a heartbeat after which a node counts as down.
        "NODE_TIMEOUT": 15.0,
        # Seconds between the master's probes of each node's /health, and how long one
        # may take: a node that beats but does not answer is "unresponsive", left out of
        # placement and reads until it answers again. 0 turns the probes off.
        "NODE_PROBE_INTERVAL": 2.0,
        "NODE_PROBE_TIMEOUT": 3.0,
        # Seconds a node stays down before its copies are rebuilt on other nodes.
        "REPAIR_GRACE": 300.0,
        # Seconds between repair passes, and the copy/trim operations one pass may start.
        "REPAIR_INTERVAL": 5.0,
        "REPAIR_BATCH": 200,
        # Large files are stored as blocks of this many bytes (at most the nodes'
        # MAX_UPLOAD_SIZE); a file that fits in one block is one blob.
        "BLOCK_SIZE": 4 * MIB,
        # Seconds a block upload (POST /uploads) or a resumable one (/api/tus/) may stay
        # open before it expires (a resumable one: after its last PATCH).
        "UPLOAD_TTL": 86_400.0,
        # The most a resumable upload's PATCH (/api/tus/<id>) may carry; the web client
        # sends chunks of this size. Two blocks: each PATCH then ends on a block boundary
        # (4 MiB-aligned blocks dedup with every other upload) and writes its two blocks
        # to the nodes in parallel, and a chunk lost to a broken connection costs 8 MiB.
        # A reverse proxy in front must take bodies this large (nginx's default
        # client_max_body_size is 1 MiB: raise it to at least this).
        "UPLOAD_CHUNK_BYTES": 8 * MIB,
        # Block uploads (POST /uploads) one client may hold open at once, and the blocks
        # they may list together: each block is a row of the metadata database until the
        # upload is committed, aborted or expires. 0 means no limit.
        "MAX_OPEN_UPLOADS": 64,
        "MAX_OPEN_UPLOAD_BLOCKS": 200_000,
        # Seconds a blob no file or upload refers to is kept before it is deleted.
        "GC_GRACE": 3_600.0,
        # Snapshots of the user trees onto the nodes (README, "Backup and recovery"):
        # seconds between them (taken only when something changed; 0: on demand only),
        # how many are kept, and the largest one taken or restored (held in memory
        # meanwhile; one larger than BLOCK_SIZE is stored as blocks).
        # A master started on an empty database waits at most RECOVERY_WAIT seconds for
        # every live node's inventory before it restores the latest snapshot.
        "SNAPSHOT_INTERVAL": 300.0,
        "SNAPSHOT_KEEP": 5,
        "SNAPSHOT_MAX_BYTES": 1024 * MIB,
        "RECOVERY_WAIT": 30.0,
        # Per-user API: logins per client address and per username, and share-link
        # password guesses per address and per link (Flask-Limiter syntax),
        # where the counters live ("memory://" counts per worker; "redis://host:6379"
        # shares them), and how long trash entries and old versions are kept (seconds).
        "LOGIN_RATE_LIMIT": "10 per minute",
        "RATE_LIMIT_STORAGE": "memory://",
        "TRASH_RETENTION": 30 * 86_400.0,
        "VERSION_RETENTION": 30 * 86_400.0,
        # The account change feed (/api/changes) keeps each user's changes this many
        # seconds, and at most this many of them (0: no limit); a client whose cursor is
        # older lists its tree again (410 cursor_expired).
        "FEED_RETENTION": 30 * 86_400.0,
        "FEED_MAX_CHANGES": 200_000,
        # Thumbnails (GET /api/thumbnail): the bytes kept under DATA_DIR/thumbnails (the
        # least recently used go first; 0 keeps none), the largest source in bytes and
        # in pixels (413 image_too_large beyond: a decompression bomb stops at its
        # header), and the seconds a browser may reuse one without asking.
        "THUMBNAIL_CACHE_BYTES": 256 * MIB,
        "THUMBNAIL_MAX_SOURCE_BYTES": 64 * MIB,
        "THUMBNAIL_MAX_PIXELS": 50_000_000,
        "THUMBNAIL_MAX_AGE": 300,
        # Seconds a web app login lasts (its session cookie and the token behind it).
        "SESSION_LIFETIME": 14 * 86_400.0,
        # How new passwords (accounts, share links) are hashed: werkzeug's method string,
        # scrypt (dictionary-resistant, ~0.1 s of CPU a hash) or pbkdf2:sha256[:N]. A
        # cheaper method is for test suites only (the master warns at start); hashes
        # made under another method still check, each by its own.
        "PASSWORD_HASH": "scrypt",
        # How clients reach this master: share links (/s/<token>) are built on it, never
        # on a request's Host header. Empty means http://HOST:PORT, or http://<this
        # machine's FQDN>:PORT when HOST is a wildcard (0.0.0.0, ::), as for nodes.
        "PUBLIC_URL": "",
        # Seconds the node URLs the master signs in secured mode stay valid: reads
        # (/download redirects, block maps) and block writes of an upload plan (a client
        # whose URLs expired asks GET /uploads/<id> for fresh ones).
        "READ_URL_TTL": 3_600.0,
        "WRITE_URL_TTL": 900.0,
        # Seedream image generation (#3). The key has no default, ever: empty means the
        # endpoint answers 503. The un-prefixed variables of ENV_ALIASES also set these.
        "SEEDREAM_API_KEY": "",
        "SEEDREAM_BASE_URL": "https://ark.ap-southeast.bytepluses.com/api/v3",
        "SEEDREAM_MODEL": "seedream-4-0-250828",
        # Seconds to wait for one generation answer; retries of 429/5xx/timeouts after it.
        "SEEDREAM_TIMEOUT": 120.0,
        "SEEDREAM_RETRIES": 2,
    },
    "node": {
        "PORT": 8001,
        # One worker: a node's uploads then share one group commit (twice the batch, half
        # the syncs and master registrations) and its reads one set of caches. Measured
        # with the master and two nodes on 2 cores (BENCHMARKS.md, session 8 of #7).
        # Raise it where a node has cores to spare for many small reads.
        "WORKERS": 1,
        "DATA_DIR": "data/node",
        "READ_TIMEOUT": 30.0,
        "WRITE_TIMEOUT": 30.0,
        "IDLE_TIMEOUT": 120,
        # Empty NODE_ID means the port number, as the reference names replicas ("8001").
        "NODE_ID": "",
        # Empty PUBLIC_URL means http://HOST:PORT, or http://<this machine's FQDN>:PORT
        # when HOST is a wildcard (0.0.0.0, ::).
        "PUBLIC_URL": "",
        "MASTER": "http://127.0.0.1:9000",
        "ACCESS_LOG": False,
        "MAX_UPLOAD_SIZE": 10 * MIB,
        # Refuse writes that would leave less free disk than this (507).
        "MIN_FREE_BYTES": 64 * MIB,
        "EXISTENCE_CACHE_SIZE": 65_536,
        "FSYNC": True,
        # Concurrent uploads are made durable together with one syncfs (Linux) rather
        # than an fsync per file and directory; turn off on a filesystem shared with other
        # busy writers, whose dirty data every syncfs would flush too.
        "SYNCFS": True,
        # Seconds a batch of uploads waits for more to join it, when the previous batch
        # was shared (see app/primitives/group_commit.py); never for an upload alone.
        "GROUP_COMMIT_DELAY": 0.003,
        "SYNC_INTERVAL": 2.0,
        "INVENTORY_BATCH": 1000,
        # Background re-hashing of every blob: bytes per second (0 = unlimited), and the
        # pause between passes.
        "SCRUB_BYTES_PER_SECOND": 10 * MIB,
        "SCRUB_INTERVAL": 3600.0,
    },
}

ROLES = tuple(ROLE_DEFAULTS)

# Un-prefixed variables that Seedream/Ark tools already use (ARK_API_KEY is what the
# vendor's samples read). They rank above conf/<role>.toml and below MDBX_<KEY>; the
# first non-empty name of each tuple wins.
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "SEEDREAM_API_KEY": ("SEEDREAM_API_KEY", "ARK_API_KEY"),
    "SEEDREAM_BASE_URL": ("SEEDREAM_BASE_URL",),
    "SEEDREAM_MODEL": ("SEEDREAM_MODEL",),
}


class ConfigError(Exception):
    """A configuration key or value is invalid; the message names the key and its source."""


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str


def role_defaults(role: str) -> dict[str, Any]:
    """Return the built-in defaults of ``role``."""
    if role not in ROLE_DEFAULTS:
        raise ConfigError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return {**COMMON_DEFAULTS, **ROLE_DEFAULTS[role]}


def conf_dir() -> Path | None:
    """Return the folder of config files: MDBX_CONF_DIR, else the source tree's conf/.

    An installed wheel has no conf/ (a site-packages/conf would be another distribution's):
    None then, which means built-in defaults.
    """
    configured = os.environ.get(f"{ENV_PREFIX}CONF_DIR")
    if configured:
        return Path(configured)
    root = Path(__file__).resolve().parent.parent
    return root / "conf" if (root / "pyproject.toml").is_file() else None


def conf_file(name: str) -> Path | None:
    """Return the config file ``name`` (node.toml, gunicorn.py) if there is one."""
    folder = conf_dir()
    path = folder / name if folder else None
    return path if path and path.is_file() else None


def load_config(
    role: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Resolve the configuration of ``role`` from every source and validate it."""
    defaults = role_defaults(role)
    settings = {key: Setting(value, "default") for key, value in defaults.items()}
    toml_path = conf_file(f"{role}.toml")
    if toml_path:
        with toml_path.open("rb") as fh:
            _merge(settings, tomllib.load(fh), str(toml_path), defaults)
    env = os.environ if environ is None else environ
    for key, names in ENV_ALIASES.items():
        name = next((name for name in names if env.get(name)), None)
        if key in defaults and name is not None:
            settings[key] = Setting(env[name], f"environment {name}")
    _merge(settings, _from_environ(env, defaults), "environment", defaults)
    if overrides:
        _merge(settings, dict(overrides), "overrides", defaults)
    return validate_config(role, settings)


def _known_keys() -> set[str]:
    keys = set(COMMON_DEFAULTS)
    for extra in ROLE_DEFAULTS.values():
        keys |= set(extra)
    return keys | {"CONF_DIR"}


def _from_environ(environ: Mapping[str, str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Pick MDBX_* variables for this role.

    Flask's ``from_prefixed_env`` JSON-decodes every value, which turns NODE_ID=8001 into an
    int and loses "1e3"-like strings; values here are parsed by the type of their default.
    A variable of another role is ignored; one no role knows is an error.
    """
    known = _known_keys()
    picked: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :]
        if key not in known:
            raise ConfigError(f"unknown setting {name} in the environment")
        if key in defaults:
            picked[key] = _parse_env_value(key, raw, defaults[key])
    return picked


def _parse_env_value(key: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{key}={raw!r} (environment) is not a valid {type(default).__name__}"
        ) from None
    return raw


def _merge(
    settings: dict[str, Setting],
    values: Mapping[str, Any],
    source: str,
    defaults: Mapping[str, Any],
) -> None:
    for key, value in values.items():
        if key not in defaults:
            raise ConfigError(f"unknown setting {key!r} in {source}")
        settings[key] = Setting(value, source)


# The password hashes werkzeug makes that a master takes (PASSWORD_HASH).
PASSWORD_HASH_RE = re.compile(r"scrypt(:\d+:\d+:\d+)?|pbkdf2:sha256(:\d+)?")


def validate_config(role: str, settings: Mapping[str, Setting]) -> dict[str, Any]:
    """Check every value against the type of its default and the few ranges that matter."""
    defaults = role_defaults(role)
    resolved: dict[str, Any] = {}
    for key, setting in settings.items():
        expected = type(defaults[key])
        value = setting.value
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise ConfigError(f"{key}={value!r} ({setting.source}) must be a {expected.__name__}")
        if expected in (int, float) and value < 0:
            raise ConfigError(f"{key}={value!r} ({setting.source}) must not be negative")
        resolved[key] = value
    for key in ("WORKERS", "WORKER_CONNECTIONS", "SNAPSHOT_KEEP"):
        if key in resolved and resolved[key] < 1:
            raise ConfigError(f"{key} ({settings[key].source}) must be at least 1")
    if resolved["LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT ({settings['LOG_FORMAT'].source}) must be text or json")
    if not 0 <= resolved["PORT"] <= 65535:
        raise ConfigError(f"PORT ({settings['PORT'].source}) must be a TCP port")
    _validate_binding(resolved, settings)
    resolved["PUBLIC_URL"] = (
        resolved["PUBLIC_URL"] or default_public_url(resolved["HOST"], resolved["PORT"])
    ).rstrip("/")
    if role == "node":
        if resolved["MAX_UPLOAD_SIZE"] < 1:
            raise ConfigError(
                f"MAX_UPLOAD_SIZE ({settings['MAX_UPLOAD_SIZE'].source}) must be positive"
            )
        resolved["NODE_ID"] = resolved["NODE_ID"] or str(resolved["PORT"])
        resolved["MASTER"] = resolved["MASTER"].rstrip("/")
    if role == "master":
        if not PASSWORD_HASH_RE.fullmatch(resolved["PASSWORD_HASH"]):
            raise ConfigError(
                f"PASSWORD_HASH ({settings['PASSWORD_HASH'].source}) must be scrypt[:N:R:P] "
                "or pbkdf2:sha256[:ITERATIONS]"
            )
        if not MIN_BLOCK_SIZE <= resolved["BLOCK_SIZE"] <= MAX_BLOCK_SIZE:
            raise ConfigError(
                f"BLOCK_SIZE ({settings['BLOCK_SIZE'].source}) must be between "
                f"{MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE} bytes"
            )
        if not MIN_BLOCK_SIZE <= resolved["UPLOAD_CHUNK_BYTES"] <= MAX_UPLOAD_CHUNK_BYTES:
            raise ConfigError(
                f"UPLOAD_CHUNK_BYTES ({settings['UPLOAD_CHUNK_BYTES'].source}) must be between "
                f"{MIN_BLOCK_SIZE} and {MAX_UPLOAD_CHUNK_BYTES} bytes"
            )
        for key in ("READ_URL_TTL", "WRITE_URL_TTL", "NODE_PROBE_TIMEOUT", "UPLOAD_TTL"):
            if resolved[key] <= 0:
                raise ConfigError(f"{key} ({settings[key].source}) must be > 0")
        _validate_seedream(resolved, settings)
    return resolved


def _validate_binding(resolved: dict[str, Any], settings: Mapping[str, Setting]) -> None:
    # Open mode trusts whoever can connect; that is only this machine on loopback.
    secret = resolved["CLUSTER_SECRET"]
    source = settings["CLUSTER_SECRET"].source
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"CLUSTER_SECRET ({source}) must be at least {MIN_SECRET_LENGTH} characters"
        )
    # It travels in an HTTP header, which cannot carry other characters intact.
    if secret and not (secret.isascii() and secret.isprintable() and " " not in secret):
        raise ConfigError(f"CLUSTER_SECRET ({source}) must be printable ASCII without spaces")
    if not secret and not is_loopback(resolved["HOST"]):
        raise ConfigError(
            f"HOST={resolved['HOST']} ({settings['HOST'].source}) is not a loopback address: "
            f"set {ENV_PREFIX}CLUSTER_SECRET (the same for every role, at least "
            f"{MIN_SECRET_LENGTH} characters) to run the secured cluster mode, or bind 127.0.0.1"
        )


def _validate_seedream(resolved: dict[str, Any], settings: Mapping[str, Setting]) -> None:
    # Messages name the key and its source, never the API key's value.
    if not resolved["SEEDREAM_BASE_URL"].startswith(("http://", "https://")):
        source = settings["SEEDREAM_BASE_URL"].source
        raise ConfigError(f"SEEDREAM_BASE_URL ({source}) must be an http(s) URL")
    resolved["SEEDREAM_BASE_URL"] = resolved["SEEDREAM_BASE_URL"].rstrip("/")
    if not resolved["SEEDREAM_MODEL"].strip():
        raise ConfigError(f"SEEDREAM_MODEL ({settings['SEEDREAM_MODEL'].source}) is empty")
    if resolved["SEEDREAM_TIMEOUT"] <= 0:
        raise ConfigError(f"SEEDREAM_TIMEOUT ({settings['SEEDREAM_TIMEOUT'].source}) must be > 0")
    resolved["SEEDREAM_API_KEY"] = resolved["SEEDREAM_API_KEY"].strip()
