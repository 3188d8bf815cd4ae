"""Read the ``/seedream/generate`` form into typed fields; every refusal names its field.

Only syntax is checked here (types, sizes, unknown or conflicting fields); what a model
accepts is ``images.validate_generation_params``'s job, and the images themselves
are checked by ``images.validate_reference_image``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import Request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import InvalidField, MissingField, PayloadTooLarge, UnsupportedMediaType
from app.master.validation import parse_file_key
from app.seedream.images import MAX_IMAGE_BYTES

# The API recommends at most 600 English words; far beyond that is a pasted mistake.
MAX_PROMPT_CHARS = 4000
# Two 10 MB reference images, the text fields and the multipart framing.
MAX_FORM_BYTES = 2 * MAX_IMAGE_BYTES + 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_FORM_PARTS = 32
REFERENCES = (("image1", "image1_hash"), ("image2", "image2_hash"))
FILE_FIELDS = frozenset(name for name, _ in REFERENCES)
TEXT_FIELDS = frozenset(
    {"prompt", "model", "size", "watermark", "seed", "guidance_scale", "max_images", "stream"}
    | {hash_field for _, hash_field in REFERENCES}
)
_BOOLS = {"true": True, "1": True, "yes": True, "on": True}
_BOOLS |= {"false": False, "0": False, "no": False, "off": False}


@dataclass(frozen=True)
class GenerateForm:
    """The text fields (first value of each) and uploaded files of one request."""

    fields: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class GenerationFields:
    """The parsed fields; ``None`` means "not sent" (model: use the configured one)."""

    prompt: str
    model: str | None
    size: str | None
    seed: int | None
    guidance_scale: float | None
    watermark: bool
    max_images: int | None
    stream: bool
    # (field, uploaded bytes or the key of a stored file), image1 before image2.
    references: list[tuple[str, bytes | str]] = field(repr=False)


def read_form(request: Request) -> GenerateForm:
    """Parse the multipart (or urlencoded) body within this endpoint's size limits."""
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMediaType(
            "send the fields as multipart/form-data (curl -F 'prompt=...' -F image1=@PATH)"
        )
    # Set on this request only: the master's other views keep Flask's defaults.
    request.max_content_length = MAX_FORM_BYTES
    request.max_form_memory_size = MAX_FIELD_BYTES
    request.max_form_parts = MAX_FORM_PARTS
    try:
        fields = {name: request.form[name] for name in request.form}
        files = {name: _read_upload(name, request.files.getlist(name)) for name in request.files}
    except RequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"the form exceeds {MAX_FORM_BYTES} bytes, a text field 64 KiB, "
            f"or {MAX_FORM_PARTS} parts; reference images are at most 10 MB each"
        ) from exc
    return GenerateForm(fields, {name: data for name, data in files.items() if data is not None})


def _read_upload(name: str, parts: list[FileStorage]) -> bytes | None:
    if len(parts) > 1:
        raise InvalidField(name, f"send one file in '{name}'", code="too_many_files")
    data = parts[0].read()
    # A browser sends an empty, nameless part for a file input left blank.
    return None if not data and not parts[0].filename else data


def parse_fields(form: GenerateForm) -> GenerationFields:
    """Type every field; raise 400 ``missing_field``/``invalid_field``/... naming it."""
    _reject_unknown(form)
    fields = form.fields
    return GenerationFields(
        prompt=_parse_prompt(fields.get("prompt")),
        model=_text(fields, "model"),
        size=_text(fields, "size"),
        seed=_parse_int(fields, "seed"),
        guidance_scale=_parse_float(fields, "guidance_scale"),
        watermark=_parse_bool(fields, "watermark", default=False),
        max_images=_parse_int(fields, "max_images"),
        stream=_parse_bool(fields, "stream", default=False),
        references=_references(form),
    )


def _reject_unknown(form: GenerateForm) -> None:
    # A typo such as "max_image" would otherwise be dropped and still cost quota.
    as_text = sorted(FILE_FIELDS & set(form.fields))
    if as_text:
        name = as_text[0]
        raise InvalidField(name, f"'{name}' must be a file part (curl -F {name}=@PATH)")
    unknown = sorted((set(form.fields) - TEXT_FIELDS) | (set(form.files) - FILE_FIELDS))
    if unknown:
        known = ", ".join(sorted(TEXT_FIELDS | FILE_FIELDS))
        raise InvalidField(
            unknown[0], f"unknown field '{unknown[0]}'; known: {known}", code="unknown_field"
        )


def _references(form: GenerateForm) -> list[tuple[str, bytes | str]]:
    references: list[tuple[str, bytes | str]] = []
    for file_field, hash_field in REFERENCES:
        upload = form.files.get(file_field)
        key = _text(form.fields, hash_field)
        if upload is not None and key is not None:
            raise InvalidField(hash_field, f"send '{file_field}' or '{hash_field}', not both")
        if upload is not None:
            references.append((file_field, upload))
        elif key is not None:
            references.append((hash_field, parse_file_key(key, hash_field)))
    return references


def _text(fields: Mapping[str, str], name: str) -> str | None:
    # An empty field (a blank HTML input) counts as not sent.
    value = fields.get(name, "").strip()
    return value or None


def _parse_prompt(value: str | None) -> str:
    prompt = (value or "").strip()
    if not prompt:
        raise MissingField("prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidField(
            "prompt",
            f"the prompt is {len(prompt)} characters; at most {MAX_PROMPT_CHARS}",
            code="prompt_too_long",
        )
    return prompt


def _parse_int(fields: Mapping[str, str], name: str) -> int | None:
    raw = _text(fields, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidField(name, f"'{name}' must be an integer") from None


def _parse_float(fields: Mapping[str, str], name: str) -> float | None:
    raw = _text(fields, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidField(name, f"'{name}' must be a number") from None


def _parse_bool(fields: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = _text(fields, name)
    if raw is None:
        return default
    if raw.lower() not in _BOOLS:
        raise InvalidField(name, f"'{name}' must be true or false")
    return _BOOLS[raw.lower()]
