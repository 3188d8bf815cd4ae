"""What each Seedream model family accepts, per ``shared/reference/seedream-api.md`` §3-§5.

A model is named by a Model ID (``seedream-4-0-250828``, with a ``doubao-`` prefix on
Volcengine and ``dola-`` for the 5.0 pro/flash previews) or by an inference Endpoint ID
(``ep-...``) that hides the model. Unknown names and Endpoint IDs get ``GENERIC``, the
union of what any family accepts, so a new model version is not blocked here; the
upstream still has the last word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

TIERS_ALL = frozenset({"1K", "2K", "3K", "4K"})
# Formats as the lowercase subtype of the data URI (``data:image/<fmt>;base64,``).
FORMATS_4X = frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"})
FORMATS_3X = frozenset({"jpeg", "png"})
MAX_GROUP_TOTAL = 15  # reference images + generated images, per request


@dataclass(frozen=True)
class ModelRules:
    """Limits of one model family; ``None`` ranges mean "form not accepted"."""

    family: str
    min_images: int
    max_images: int
    image_formats: frozenset[str]
    image_aspect: tuple[float, float]  # w/h of each reference image
    size_tiers: frozenset[str]  # "2K", ...
    size_words: frozenset[str]  # literal values such as "adaptive"
    size_pixels: tuple[int, int] | None  # total pixels of a "WxH" size
    size_aspect: tuple[float, float] | None  # w/h of a "WxH" size
    takes_seed: bool  # seed and guidance_scale
    takes_group: bool  # sequential_image_generation / max_images, and stream


SEEDREAM_3_T2I = ModelRules(
    family="seedream-3.0-t2i",
    min_images=0,
    max_images=0,
    image_formats=frozenset(),
    image_aspect=(1 / 3, 3),
    size_tiers=frozenset(),
    size_words=frozenset(),
    size_pixels=(512 * 512, 2048 * 2048),
    size_aspect=None,  # no ratio limit documented for 3.0
    takes_seed=True,
    takes_group=False,
)
SEEDEDIT_3 = ModelRules(
    family="seededit-3.0-i2i",
    min_images=1,
    max_images=1,
    image_formats=FORMATS_3X,
    image_aspect=(1 / 3, 3),
    size_tiers=frozenset(),
    size_words=frozenset({"adaptive"}),
    size_pixels=None,
    size_aspect=None,
    takes_seed=True,
    takes_group=False,
)
SEEDREAM_4_0 = ModelRules(
    family="seedream-4.0",
    min_images=0,
    max_images=14,
    image_formats=FORMATS_4X,
    image_aspect=(1 / 16, 16),
    size_tiers=frozenset({"1K", "2K", "4K"}),
    size_words=frozenset(),
    size_pixels=(1280 * 720, 4096 * 4096),
    size_aspect=(1 / 16, 16),
    takes_seed=False,
    takes_group=True,
)
SEEDREAM_4_5 = replace(
    SEEDREAM_4_0,
    family="seedream-4.5",
    size_tiers=frozenset({"2K", "4K"}),
    size_pixels=(2560 * 1440, 4096 * 4096),
)
# heic/heif are accepted upstream too, but Pillow cannot sniff them without a plugin.
SEEDREAM_5_0 = replace(
    SEEDREAM_4_5, family="seedream-5.0", size_tiers=frozenset({"2K", "3K", "4K"})
)
GENERIC = ModelRules(
    family="generic",
    min_images=0,
    max_images=14,
    image_formats=FORMATS_4X,
    image_aspect=(1 / 16, 16),
    size_tiers=TIERS_ALL,
    size_words=frozenset({"adaptive"}),
    size_pixels=(512 * 512, 4096 * 4096),
    size_aspect=(1 / 16, 16),
    takes_seed=True,
    takes_group=True,
)

# Longest prefixes first: "seedream-3-0-t2i" must not fall into a shorter match.
_PREFIXES: tuple[tuple[str, ModelRules], ...] = (
    ("seedream-3-0-t2i", SEEDREAM_3_T2I),
    ("seededit-3-0-i2i", SEEDEDIT_3),
    ("seedream-4-0", SEEDREAM_4_0),
    ("seedream-4-5", SEEDREAM_4_5),
    ("seedream-5-0", SEEDREAM_5_0),
)


def rules_for(model: str) -> ModelRules:
    """Return the rules of the family ``model`` belongs to (``GENERIC`` if unknown)."""
    name = model.strip().lower()
    for vendor in ("doubao-", "dola-"):
        name = name.removeprefix(vendor)
    for prefix, rules in _PREFIXES:
        if name.startswith(prefix):
            return rules
    return GENERIC
