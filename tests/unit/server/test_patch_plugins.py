"""A worker's gevent patch finds the same plugins, from one reading of the metadata."""

from __future__ import annotations

from importlib import metadata

import pytest

from app.server.worker import entry_points_read_once


def test_entry_points_are_read_once_and_select_as_before(monkeypatch: pytest.MonkeyPatch):
    real = metadata.entry_points
    expected = {(e.name, e.value) for e in real(group="console_scripts")}
    assert ("mdbx", "app.client.launch:main") in expected  # a group that is not empty
    readings = []

    def counted():  # what entry_points() reads every distribution's metadata through
        readings.append(1)
        return real_distributions()

    real_distributions = metadata.distributions
    monkeypatch.setattr(metadata, "distributions", counted)
    with entry_points_read_once():
        for _ in range(25):  # as often as gevent's patch_all looks its plugins up
            found = metadata.entry_points(group="console_scripts")
            assert {(e.name, e.value) for e in found} == expected
        assert not list(metadata.entry_points(group="gevent.plugins.no.such.event"))
    assert len(readings) == 1
    assert metadata.entry_points is real  # put back, even for what runs later
