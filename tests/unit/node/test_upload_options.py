"""The one parser of /upload's query, used by the Flask view and the overlay."""

from __future__ import annotations

import pytest

from app.errors import InvalidField, InvalidHash
from app.node.uploads import UploadOptions, parse_upload_options

DIGEST = "ab" * 32


def test_an_empty_query_asks_for_a_public_registered_replicated_file():
    assert parse_upload_options({}) == UploadOptions(
        expected=None, name="", kind="file", replicate=True, chain=(), register=True
    )


def test_every_option_is_read_as_the_reference_spells_it():
    options = parse_upload_options(
        {
            "hash": DIGEST.upper(),
            "name": "notes.txt",
            "kind": "block",
            "replicate": "false",
            "chain": "http://a:1,,http://b:2",
            "register": "0",
            "private": "true",
        }
    )
    assert options == UploadOptions(
        expected=DIGEST,
        name="notes.txt",
        kind="block",
        replicate=False,
        chain=("http://a:1", "http://b:2"),
        register=False,
        private=True,
    )


def test_a_blank_hash_is_none_and_other_spellings_keep_the_defaults():
    options = parse_upload_options({"hash": "", "replicate": "no", "private": "yes"})
    assert (options.expected, options.replicate, options.private) == (None, True, False)


@pytest.mark.parametrize(
    "args, error", [({"kind": "other"}, InvalidField), ({"hash": "xyz"}, InvalidHash)]
)
def test_a_bad_kind_or_hash_is_refused(args, error):
    with pytest.raises(error):
        parse_upload_options(args)
