"""The fault suite of #20. Scenarios marked ``soak`` (slower: each takes 30-70 s on two
cores) run only with ``MDBX_SOAK=1`` (``make soak`` sets it; tests/conftest.py skips them
otherwise); ``make test`` runs the others."""
