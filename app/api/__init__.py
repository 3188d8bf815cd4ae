"""The per-user API (/api/...) and share links (/s/<token>): accounts, folders, versions,
trash and shares, served by the master."""
