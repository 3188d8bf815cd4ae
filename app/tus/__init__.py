"""Resumable uploads (tus 1.0, /api/tus/), served by the master: a front end of
``app.userfiles``."""
