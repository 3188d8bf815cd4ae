"""How ``mdbx put`` maps local paths onto a user's tree, share lifetimes, and what an
account command says without a login (click's CliRunner, no cluster)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from app.client.cli.root import main
from app.client.cli.sharing import parse_lifetime
from app.client.cli.tree import plan_tree


def test_a_file_and_a_folder_land_under_the_remote_folder(tmp_path):
    (tmp_path / "one.txt").write_text("1")
    album = tmp_path / "album"
    (album / "2024").mkdir(parents=True)
    (album / "empty").mkdir()
    (album / "b.jpg").write_text("b")
    (album / "2024" / "a.jpg").write_text("a")
    folders, uploads = plan_tree([tmp_path / "one.txt", album], "/backup/")
    assert folders == ["/backup", "/backup/album", "/backup/album/2024", "/backup/album/empty"]
    assert [remote for _, remote in uploads] == [
        "/backup/one.txt",
        "/backup/album/b.jpg",
        "/backup/album/2024/a.jpg",
    ]
    assert uploads[2][0] == album / "2024" / "a.jpg"


def test_the_top_of_the_tree_needs_no_folder(tmp_path):
    (tmp_path / "one.txt").write_text("1")
    folders, uploads = plan_tree([tmp_path / "one.txt"], "/")
    assert folders == [] and [remote for _, remote in uploads] == ["/one.txt"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 604_800), ("12h", 43_200), ("30m", 1_800), ("90s", 90), ("45", 45), ("1w", 604_800)],
)
def test_lifetimes(text, seconds):
    assert parse_lifetime(text) == seconds


@pytest.mark.parametrize("text", ["soon", "7 days", "-1d", "d", ""])
def test_bad_lifetimes_are_usage_errors(text):
    with pytest.raises(click.BadParameter):
        parse_lifetime(text)


def test_an_account_command_without_a_login_exits_2(tmp_path, dead_url):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "MDBX_TOKEN": ""}
    result = CliRunner().invoke(main, ["--master", dead_url, "quota"], env=env)
    assert result.exit_code == 2
    assert "not logged in" in result.stderr and "mdbx login" in result.stderr
