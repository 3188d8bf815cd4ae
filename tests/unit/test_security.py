from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.addresses import is_loopback
from app.config import ConfigError, load_config
from app.errors import Forbidden, Unauthorized
from app.security import (
    CLUSTER_HEADER,
    READ,
    WRITE,
    UrlSigner,
    authorize_blob_request,
    blob_token,
    check_blob_token,
    cluster_headers,
    is_upload_receipt,
    sign_url,
    upload_receipt,
)

SECRET = "s" * 32
DIGEST = "ab" * 32
OTHER = "cd" * 32


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MDBX_CONF_DIR", str(tmp_path))
    return tmp_path


def test_a_token_opens_its_operation_on_its_blob():
    token = blob_token(SECRET, WRITE, DIGEST, 60)
    assert check_blob_token(SECRET, token, WRITE, DIGEST)
    assert check_blob_token(SECRET, token, WRITE, DIGEST.upper())  # hashes are case-insensitive


@pytest.mark.parametrize(
    ("secret", "op", "digest"),
    [(SECRET, READ, DIGEST), (SECRET, WRITE, OTHER), ("t" * 32, WRITE, DIGEST)],
)
def test_a_token_opens_nothing_else(secret, op, digest):
    token = blob_token(SECRET, WRITE, DIGEST, 60)
    assert not check_blob_token(secret, token, op, digest)


def test_a_token_expires():
    now = time.time()
    token = blob_token(SECRET, READ, DIGEST, 60, now=now)
    assert check_blob_token(SECRET, token, READ, DIGEST, now=now + 59)
    assert not check_blob_token(SECRET, token, READ, DIGEST, now=now + 61)
    assert not check_blob_token(SECRET, blob_token(SECRET, READ, DIGEST, -1), READ, DIGEST)


@pytest.mark.parametrize("garbled", ["", "x", "abc.def", "e30.AAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_garbled_tokens_are_refused(garbled):
    assert not check_blob_token(SECRET, garbled, READ, DIGEST)


def test_a_tampered_token_is_refused():
    token = blob_token(SECRET, READ, DIGEST, 60)
    payload, signature = token.rsplit(".", 1)
    # Not the last character: its low bits are base64 padding, which decoding ignores.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not check_blob_token(SECRET, f"{payload}.{flipped}", READ, DIGEST)


def test_a_token_fixes_the_chain_and_kind():
    params = {"kind": "block", "chain": "http://127.0.0.1:8002", "name": "any"}
    token = blob_token(SECRET, WRITE, DIGEST, 60, params)
    assert check_blob_token(SECRET, token, WRITE, DIGEST, {**params, "name": "other"})
    assert not check_blob_token(SECRET, token, WRITE, DIGEST, {**params, "chain": "http://evil"})
    assert not check_blob_token(SECRET, token, WRITE, DIGEST, {**params, "kind": "file"})
    assert not check_blob_token(SECRET, token, WRITE, DIGEST, {"kind": "block"})


def test_sign_url_appends_a_token_that_fits_the_url():
    url = f"http://127.0.0.1:8001/upload?hash={DIGEST}&kind=block&chain=http%3A%2F%2Fn2%3A8002"
    signed = sign_url(url, SECRET, WRITE, DIGEST, 60)
    assert signed.startswith(url + "&token=")
    query = {k: v[0] for k, v in parse_qs(urlsplit(signed).query).items()}
    assert query["chain"] == "http://n2:8002"
    assert check_blob_token(SECRET, query["token"], WRITE, DIGEST, query)
    assert sign_url("http://n1/retrieve", SECRET, READ, DIGEST, 60).startswith(
        "http://n1/retrieve?token="
    )


def test_open_mode_signs_nothing():
    signer = UrlSigner("", 60, 60)
    url = f"http://127.0.0.1:8001/retrieve?hash={DIGEST}"
    assert signer.read_url(url, DIGEST) == url and signer.write_url(url, DIGEST) == url
    assert signer.read_token(DIGEST) is None
    assert cluster_headers("") == {}
    assert cluster_headers(SECRET) == {CLUSTER_HEADER: SECRET}
    with pytest.raises(ValueError):
        blob_token("", READ, DIGEST, 60)


def test_secured_signer_uses_its_ttls():
    signer = UrlSigner(SECRET, 60, 600)
    read = parse_qs(urlsplit(signer.read_url(f"http://n/retrieve?hash={DIGEST}", DIGEST)).query)
    token = read["token"][0]
    assert check_blob_token(SECRET, token, READ, DIGEST, now=time.time() + 55)
    assert not check_blob_token(SECRET, token, READ, DIGEST, now=time.time() + 65)
    assert check_blob_token(SECRET, signer.read_token(DIGEST) or "", READ, DIGEST)


def _authorize(**kwargs):
    request = {"presented": None, "token": None, "op": READ, "digest": DIGEST, "params": {}}
    authorize_blob_request(SECRET, **{**request, **kwargs})


def test_authorize_blob_request_codes():
    _authorize(presented=SECRET)
    _authorize(op=None, presented=SECRET)  # the header opens cluster-only endpoints
    _authorize(token=blob_token(SECRET, READ, DIGEST, 60))
    with pytest.raises(Unauthorized) as nothing:
        _authorize()
    assert nothing.value.code == "missing_credentials"
    assert "WWW-Authenticate" in nothing.value.headers
    cases = [
        ({"presented": "wrong" * 4}, "forbidden"),
        ({"token": blob_token(SECRET, WRITE, DIGEST, 60)}, "invalid_token"),
        ({"token": blob_token(SECRET, READ, DIGEST, 60), "digest": None}, "invalid_token"),
        ({"token": blob_token(SECRET, READ, DIGEST, 60), "op": None}, "forbidden"),
    ]
    for kwargs, code in cases:
        with pytest.raises(Forbidden) as refused:
            _authorize(**kwargs)
        assert refused.value.code == code, kwargs


@pytest.mark.parametrize("role", ["master", "node"])
def test_a_non_loopback_bind_needs_a_cluster_secret(conf, role):
    with pytest.raises(ConfigError, match="MDBX_CLUSTER_SECRET"):
        load_config(role, environ={"MDBX_HOST": "0.0.0.0"})
    secured = load_config(role, environ={"MDBX_HOST": "0.0.0.0", "MDBX_CLUSTER_SECRET": SECRET})
    assert secured["CLUSTER_SECRET"] == SECRET
    assert load_config(role, environ={"MDBX_HOST": "127.0.0.1"})["CLUSTER_SECRET"] == ""


@pytest.mark.parametrize("secret", ["short", "with spaces in the secret", "é" * 20])
def test_a_weak_or_unsendable_secret_is_refused(conf, secret):
    with pytest.raises(ConfigError, match="CLUSTER_SECRET"):
        load_config("node", {"CLUSTER_SECRET": secret}, environ={})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("", False),
        ("files.example.com", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_wildcard_node_is_reached_by_its_fqdn(conf):
    env = {"MDBX_CLUSTER_SECRET": SECRET, "MDBX_PORT": "8005"}
    for host in ("0.0.0.0", "::"):
        config = load_config("node", environ={**env, "MDBX_HOST": host})
        assert config["PUBLIC_URL"] == f"http://{socket.getfqdn()}:8005"
    v6 = load_config("node", environ={**env, "MDBX_HOST": "::1"})
    assert v6["PUBLIC_URL"] == "http://[::1]:8005"
    given = load_config("node", environ={**env, "MDBX_HOST": "::", "MDBX_PUBLIC_URL": "http://n1/"})
    assert given["PUBLIC_URL"] == "http://n1"


def test_a_token_fixes_the_privacy_and_the_upload_of_a_write():
    params = {"kind": "block", "private": "1", "upload": "u1"}
    token = blob_token(SECRET, WRITE, DIGEST, 60, params)
    assert check_blob_token(SECRET, token, WRITE, DIGEST, params)
    for changed in ({"private": "0"}, {"upload": "u2"}, {"upload": ""}):
        assert not check_blob_token(SECRET, token, WRITE, DIGEST, {**params, **changed})


def test_an_upload_receipt_is_for_its_upload_blob_and_size_under_its_key():
    receipt = upload_receipt(SECRET, "u1", DIGEST, 4096)
    assert is_upload_receipt(SECRET, receipt, "u1", DIGEST, 4096)
    assert is_upload_receipt(SECRET, receipt, "u1", DIGEST.upper(), 4096)
    for key, upload, digest, size in (
        ("t" * 32, "u1", DIGEST, 4096),
        (SECRET, "u2", DIGEST, 4096),
        (SECRET, "u1", OTHER, 4096),
        (SECRET, "u1", DIGEST, 4095),
    ):
        assert not is_upload_receipt(key, receipt, upload, digest, size)
    assert not is_upload_receipt(SECRET, None, "u1", DIGEST, 4096)
    assert not is_upload_receipt("", receipt, "u1", DIGEST, 4096)
    with pytest.raises(ValueError):
        upload_receipt("", "u1", DIGEST, 1)
