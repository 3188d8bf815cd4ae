"""The ``mdbx`` command line: ``root.main`` is the group; one module per command group."""
