"""A user's files, whatever the front end: accounts, folders and files, versions, trash,
share links and quotas (``interface.py`` names what the service offers)."""
