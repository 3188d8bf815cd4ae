"""The per-user API (/api/...), served by the master: a front end of ``app.userfiles``
(share links, /s/<token>: ``app.shares``)."""
