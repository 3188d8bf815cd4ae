"""Query-string values, checked: a bad one is a 400 naming its parameter."""

from __future__ import annotations

from flask import request

from app.errors import InvalidField


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int) -> int:
    """The integer in ``?name=``, ``default`` when absent; 400 invalid_field when it is no
    integer or lies outside [minimum, maximum]."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 20:
        raise InvalidField(name, f"'{name}' must be a whole number")
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidField(name, f"'{name}' must be between {minimum} and {maximum}")
    return value


def choice_arg(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` from ``?name=``, ``default`` when absent; 400 otherwise."""
    value = request.args.get(name) or default
    if value not in choices:
        raise InvalidField(name, f"'{name}' must be one of {', '.join(choices)}")
    return value
