"""WSGI entry points, one module per role: ``gunicorn wsgi.master:app``."""
