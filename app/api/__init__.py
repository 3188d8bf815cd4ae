"""The per-user API (/api/...) and share links (/s/<token>), served by the master: a
front end of ``app.userfiles``."""
