from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.config import ConfigError, load_config


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MDBX_CONF_DIR", str(tmp_path))
    return tmp_path


def test_defaults(conf: Path):
    node = load_config("node", environ={})
    assert node["PORT"] == 8001 and node["NODE_ID"] == "8001"
    assert node["PUBLIC_URL"] == "http://127.0.0.1:8001"
    assert node["MAX_UPLOAD_SIZE"] == 10 * 1024 * 1024
    assert load_config("master", environ={})["PORT"] == 9000


def test_the_masters_public_url_defaults_to_its_address_as_a_nodes_does(conf: Path):
    assert load_config("master", environ={})["PUBLIC_URL"] == "http://127.0.0.1:9000"
    wildcard = {"MDBX_HOST": "0.0.0.0", "MDBX_CLUSTER_SECRET": "s" * 16}
    fqdn = f"http://{socket.getfqdn()}:9000"
    assert load_config("master", environ=wildcard)["PUBLIC_URL"] == fqdn
    given = load_config("master", environ={"MDBX_PUBLIC_URL": "https://files.example.com/"})
    assert given["PUBLIC_URL"] == "https://files.example.com"


def test_precedence_defaults_toml_env_overrides(conf: Path):
    (conf / "node.toml").write_text('PORT = 8100\nDATA_DIR = "from-toml"\nNODE_ID = "toml"\n')
    env = {"MDBX_DATA_DIR": "from-env", "MDBX_NODE_ID": "8005"}
    config = load_config("node", {"NODE_ID": "override"}, environ=env)
    assert config["PORT"] == 8100
    assert config["DATA_DIR"] == "from-env"
    assert config["NODE_ID"] == "override"
    # An env value is parsed by the type of its default: "8005" stays a string id.
    assert load_config("node", environ=env)["NODE_ID"] == "8005"


def test_env_values_are_typed(conf: Path):
    env = {"MDBX_FSYNC": "off", "MDBX_READ_TIMEOUT": "2.5", "MDBX_WORKERS": "3"}
    config = load_config("node", environ=env)
    assert config["FSYNC"] is False and config["READ_TIMEOUT"] == 2.5 and config["WORKERS"] == 3


def test_a_setting_of_another_role_in_the_environment_is_ignored(conf: Path):
    assert "FSYNC" not in load_config("master", environ={"MDBX_FSYNC": "0"})


@pytest.mark.parametrize(
    ("toml", "env", "overrides", "fragment"),
    [
        ("", {"MDBX_NOPE": "1"}, None, "MDBX_NOPE"),
        ("nope = 1\n", {}, None, "'nope'"),
        ("", {"MDBX_WORKERS": "many"}, None, "MDBX_WORKERS"),
        ('PORT = "x"\n', {}, None, "PORT"),
        ("", {}, {"WORKERS": 0}, "WORKERS"),
        ("", {}, {"READ_TIMEOUT": -1.0}, "READ_TIMEOUT"),
        ("", {}, {"FSYNC": "yes"}, "FSYNC"),
    ],
)
def test_bad_settings_fail_at_startup_naming_key_and_source(conf, toml, env, overrides, fragment):
    (conf / "node.toml").write_text(toml)
    with pytest.raises(ConfigError, match=fragment):
        load_config("node", overrides, environ=env)


def test_unknown_role(conf: Path):
    with pytest.raises(ConfigError, match="unknown role"):
        load_config("janitor", environ={})


def test_shipped_conf_files_parse():
    for role in ("master", "node"):
        assert load_config(role, environ={})["LOG_LEVEL"] == "info"


@pytest.mark.parametrize("method", ["plain", "md5", "pbkdf2:sha1:1000", "scrypt:1", ""])
def test_a_password_hash_werkzeug_makes_unsafely_or_not_at_all_is_refused(conf, method):
    with pytest.raises(ConfigError, match="PASSWORD_HASH"):
        load_config("master", environ={"MDBX_PASSWORD_HASH": method})


@pytest.mark.parametrize("method", ["scrypt", "scrypt:32768:8:1", "pbkdf2:sha256:600000"])
def test_the_password_hashes_a_master_takes(conf, method):
    assert load_config("master", environ={"MDBX_PASSWORD_HASH": method})["PASSWORD_HASH"] == method
