"""The account change feed (/api/tree, /api/changes) and the batch write of small files
(/api/batch), served by the master: a front end of ``app.userfiles`` for sync clients."""
