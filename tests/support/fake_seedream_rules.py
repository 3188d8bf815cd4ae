"""The request rules of the fake Seedream API (``shared/reference/seedream-api.md`` §3-§5, §10).

Written out here on purpose, not imported from ``app.seedream``: a fake that shared the
client's tables would agree with the client's bugs.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True)
class Family:
    images: tuple[int, int]  # min, max reference images
    formats: frozenset[str]
    tiers: frozenset[str]
    words: frozenset[str]
    pixels: tuple[int, int] | None
    seeded: bool  # takes seed and guidance_scale
    grouped: bool  # takes sequential_image_generation and stream (4.x/5.x)
    default: tuple[int, int]


_ALL = frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"})
_T2I = Family(
    (0, 0), frozenset(), frozenset(), frozenset(), (512**2, 2048**2), True, False, (1024, 1024)
)
_EDIT = Family(
    (1, 1),
    frozenset({"jpeg", "png"}),
    frozenset(),
    frozenset({"adaptive"}),
    None,
    True,
    False,
    (1024, 1024),
)
_V40 = Family(
    (0, 14),
    _ALL,
    frozenset({"1K", "2K", "4K"}),
    frozenset(),
    (921_600, 4096**2),
    False,
    True,
    (2048, 2048),
)
_V45 = Family(
    (0, 14),
    _ALL,
    frozenset({"2K", "4K"}),
    frozenset(),
    (3_686_400, 4096**2),
    False,
    True,
    (2048, 2048),
)
_V50 = Family(
    (0, 14),
    _ALL,
    frozenset({"2K", "3K", "4K"}),
    frozenset(),
    (3_686_400, 4096**2),
    False,
    True,
    (2048, 2048),
)
MODELS: dict[str, Family] = {
    "doubao-seedream-3-0-t2i-250415": _T2I,
    "seedream-3-0-t2i-250415": _T2I,
    "doubao-seededit-3-0-i2i-250628": _EDIT,
    "seededit-3-0-i2i-250628": _EDIT,
    "doubao-seedream-4-0-250828": _V40,
    "seedream-4-0-250828": _V40,
    "doubao-seedream-4-5-251128": _V45,
    "seedream-4-5-251128": _V45,
    "doubao-seedream-5-0-260128": _V50,
    "seedream-5-0-260128": _V50,
    "seedream-5-0-lite-260128": _V50,
}
ENDPOINT_MODEL = "seedream-4-0-250828"  # what an "ep-..." Endpoint ID stands for here
_DATA_URI = re.compile(r"data:image/([a-z]+);base64,(.*)", re.DOTALL)
_PIL_NAMES = {
    "jpeg": {"JPEG", "MPO"},
    "png": {"PNG"},
    "webp": {"WEBP"},
    "bmp": {"BMP"},
    "tiff": {"TIFF"},
    "gif": {"GIF"},
}
ERROR_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    429: "TooManyRequests",
    500: "InternalServerError",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


def invalid(param: str, why: str) -> ApiError:
    msg = f"The parameter `{param}` specified in the request is not valid: {why}."
    return ApiError(400, "InvalidParameter", msg, param)


def check_model(body: dict[str, Any]) -> tuple[str, Family]:
    for name in ("model", "prompt"):
        if name not in body or body[name] in ("", None):
            raise ApiError(
                400,
                "MissingParameter",
                "The request failed because it is missing one or multiple required parameters.",
                name,
            )
        if not isinstance(body[name], str):
            raise invalid(name, "must be a string")
    model = body["model"]
    if model.startswith("ep-"):
        return ENDPOINT_MODEL, MODELS[ENDPOINT_MODEL]
    if model not in MODELS:
        raise ApiError(
            404,
            "InvalidEndpointOrModel.NotFound",
            f"The model or endpoint {model} does not exist or you do not have access to it.",
        )
    return model, MODELS[model]


def check_fields(body: dict[str, Any], family: Family) -> list[str]:
    """Validate every known field for the model family; return the reference images."""
    image = body.get("image")
    images = [] if image is None else [image] if isinstance(image, str) else image
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise invalid("image", "must be a string or an array of strings")
    if family.images == (1, 1) and not isinstance(image, str):
        raise invalid("image", "this model takes exactly one image, as a string")
    if not family.images[0] <= len(images) <= family.images[1]:
        raise invalid("image", f"this model takes {family.images[0]}..{family.images[1]} images")
    for entry in images:
        _check_image(entry, family)
    size = body.get("size")
    if size is not None:
        _check_size(size, family)
    for name, kind in (
        ("seed", "seeded"),
        ("guidance_scale", "seeded"),
        ("sequential_image_generation", "grouped"),
        ("sequential_image_generation_options", "grouped"),
        ("stream", "grouped"),
    ):
        if name in body and not getattr(family, kind):
            raise invalid(name, "not supported by this model")
    seed = body.get("seed", -1)
    if type(seed) is not int or not -1 <= seed <= 2**31 - 1:
        raise invalid("seed", "must be an integer in [-1, 2147483647]")
    scale = body.get("guidance_scale", 5.0)
    if type(scale) not in (int, float) or not 1 <= scale <= 10:
        raise invalid("guidance_scale", "must be a number in [1, 10]")
    for name in ("watermark", "stream"):
        if name in body and type(body[name]) is not bool:
            raise invalid(name, "must be a boolean")
    if body.get("response_format", "url") not in ("url", "b64_json"):
        raise invalid("response_format", "must be url or b64_json")
    if body.get("sequential_image_generation", "disabled") not in ("auto", "disabled"):
        raise invalid("sequential_image_generation", "must be auto or disabled")
    options = body.get("sequential_image_generation_options", {})
    wanted = options.get("max_images", 15) if isinstance(options, dict) else None
    if type(wanted) is not int or not 1 <= wanted <= 15:
        raise invalid("sequential_image_generation_options.max_images", "must be in [1, 15]")
    if body.get("sequential_image_generation") == "auto" and wanted + len(images) > 15:
        raise invalid(
            "sequential_image_generation_options.max_images",
            "reference images + generated images must be at most 15",
        )
    if "output_format" in body and (
        family not in (_V50,) or body["output_format"] not in ("png", "jpeg")
    ):
        raise invalid("output_format", "not supported")
    return images


def _check_image(entry: str, family: Family) -> None:
    if entry == "":
        raise ApiError(400, "InvalidImageURL.EmptyURL", "Empty base64 image url.", "image")
    if entry.startswith(("http://", "https://")):
        return  # a public URL: the real API would fetch it; the fake trusts it
    match = _DATA_URI.fullmatch(entry)
    bad = ApiError(400, "InvalidImageURL.InvalidFormat", "Invalid base64 image url.", "image")
    if match is None or match[1] not in family.formats:
        raise bad
    try:
        data = base64.b64decode(match[2], validate=True)
        with Image.open(io.BytesIO(data)) as im:
            fmt, width, height = im.format, im.width, im.height
    except (binascii.Error, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise bad from exc
    if fmt not in _PIL_NAMES[match[1]]:
        raise bad
    low = 1 / 3 if family is _EDIT else 1 / 16
    if len(data) > 10 * 1024 * 1024 or min(width, height) <= 14 or width * height > 6000**2:
        raise invalid("image", f"image {width}x{height}, {len(data)} bytes is out of limits")
    if not low <= width / height <= 1 / low:
        raise invalid("image", "image aspect ratio out of range")


def _check_size(size: Any, family: Family) -> None:
    if not isinstance(size, str):
        raise invalid("size", "must be a string")
    if size in family.words or size in family.tiers:
        return
    match = re.fullmatch(r"(\d+)x(\d+)", size)
    if match is None or family.pixels is None:
        raise invalid("size", f"{size} is not accepted by this model")
    width, height = int(match[1]), int(match[2])
    if width * height < family.pixels[0]:
        raise invalid("size", f"image size must be at least {family.pixels[0]} pixels")
    if width * height > family.pixels[1]:
        raise invalid("size", f"image size must be at most {family.pixels[1]} pixels")
    if family.grouped and not 1 / 16 <= width / height <= 16:
        raise invalid("size", "aspect ratio must be within [1/16, 16]")


def nominal_size(size: str | None, family: Family) -> tuple[int, int]:
    """The size the real API would report; the fake's pixels are tiny to stay fast."""
    if size and size.endswith("K"):
        side = int(size[:-1]) * 1024
        return side, side
    if size and "x" in size:
        width, height = size.split("x")
        return int(width), int(height)
    return family.default
