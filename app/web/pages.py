"""What the web app's pages are, and who may see each: one table, read by the views
and by the navigation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    path: str
    view: str  # the JavaScript module under static/js/views/ that draws it
    title: str
    admin: bool = False
    # False: reached from another page (the versions of a file), not from the menu.
    nav: bool = True


PAGES = (
    Page("/", "files", "Files"),
    Page("/trash", "trash", "Trash"),
    Page("/versions", "versions", "Versions", nav=False),
    Page("/shares", "shares", "Shared links"),
    Page("/generate", "generate", "Generate"),
    Page("/account", "account", "Account"),
    Page("/admin", "cluster", "Cluster", admin=True),
    Page("/admin/users", "users", "Users", admin=True),
)

# The page a login leads to when it was asked for none (or for one off this site).
HOME = "/"


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return HOME
    return target
