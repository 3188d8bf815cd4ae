"""The one ``MetaData`` every table of the master is in, and the sizes their columns share.

The tables are defined by domain in ``catalogue_schema``, ``upload_schema``,
``recovery_schema`` and ``account_schema``; ``app.metadata.schema`` imports them all, so
that what creates or migrates the master's database (``engine.ensure_schema``) takes
``master_metadata`` from there, never from here: a table whose module nobody imported
would be missing, and a foreign key into it unresolved.
"""

from __future__ import annotations

from sqlalchemy import MetaData

HASH_LENGTH = 128
NAME_LENGTH = 1024
# In UTF-8 bytes: PostgreSQL's b-tree keys must stay under ~2.7 kB.
PATH_LENGTH = 1024

master_metadata = MetaData()
