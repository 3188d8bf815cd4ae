"""Clients of Mini-Dropbox (no Flask): the ``mdbx`` command line."""
