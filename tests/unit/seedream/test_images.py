"""Reference-image and parameter checks, with real images made by Pillow in memory."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from app.errors import InvalidField
from app.seedream.images import (
    MAX_IMAGE_BYTES,
    sniff_image,
    validate_generation_params,
    validate_reference_image,
)

V40 = "seedream-4-0-250828"
V45 = "doubao-seedream-4-5-251128"
V50 = "seedream-5-0-260128"
T2I = "seedream-3-0-t2i-250415"
EDIT = "seededit-3-0-i2i-250628"


def make_image(fmt: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white" if mode == "1" else (200, 30, 90)).save(out, format=fmt)
    return out.getvalue()


def invalid(data: bytes, *, model: str | None = None) -> InvalidField:
    with pytest.raises(InvalidField) as info:
        validate_reference_image(data, "image1", model=model)
    assert info.value.details == {"field": "image1"}
    return info.value


@pytest.mark.parametrize(
    ("pil_format", "uri_format"),
    [
        ("PNG", "png"),
        ("JPEG", "jpeg"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
        ("TIFF", "tiff"),
        ("GIF", "gif"),
    ],  # fmt: skip
)
def test_accepted_formats_become_lowercase_data_uris(pil_format, uri_format):
    data = make_image(pil_format)

    ref = validate_reference_image(data, "image1")

    prefix = f"data:image/{uri_format};base64,"
    assert (ref.format, ref.width, ref.height) == (uri_format, 64, 48)
    assert ref.data_uri.startswith(prefix)
    assert base64.b64decode(ref.data_uri.removeprefix(prefix)) == data


def test_reference_image_repr_leaves_out_the_image():
    ref = validate_reference_image(make_image(), "image1")
    assert "base64" not in repr(ref) and "png" in repr(ref)


def test_format_is_sniffed_from_content_not_trusted():
    # A JPEG is a JPEG whatever name it came with; text is not an image.
    assert validate_reference_image(make_image("JPEG"), "image1").format == "jpeg"
    assert invalid(b"GIF89a but not really an image").code == "invalid_image"
    assert invalid(b"hello, world").code == "invalid_image"
    assert invalid(b"").code == "invalid_image"


def test_format_outside_the_accepted_list_is_refused():
    assert invalid(make_image("ICO", (32, 32))).code == "invalid_image"
    assert invalid(make_image("PPM")).code == "invalid_image"


@pytest.mark.parametrize("pil_format", ["GIF", "WEBP", "BMP", "TIFF"])
def test_seededit_takes_only_jpeg_and_png(pil_format):
    assert invalid(make_image(pil_format), model=EDIT).code == "unsupported_image_format"
    assert validate_reference_image(make_image("JPEG"), "image1", model=EDIT).format == "jpeg"


def test_text_to_image_model_takes_no_reference_image():
    assert invalid(make_image(), model=T2I).code == "images_not_supported"


@pytest.mark.parametrize(
    "size",
    [(10, 10), (14, 200), (200, 14), (20, 400), (400, 20)],
    ids=["10x10", "side-14", "height-14", "ratio-1-20", "ratio-20-1"],
)
def test_small_sides_and_extreme_ratios_are_refused(size):
    assert invalid(make_image(size=size)).code == "image_dimensions"


def test_limits_are_inclusive():
    assert validate_reference_image(make_image(size=(15, 15)), "i").width == 15
    assert validate_reference_image(make_image(size=(16 * 15, 15)), "i").width == 240


def test_seededit_ratio_limit_is_one_to_three():
    tall = make_image(size=(20, 80))
    assert validate_reference_image(tall, "image1").height == 80
    assert invalid(tall, model=EDIT).code == "image_dimensions"


def test_image_over_10_mb_is_refused_before_decoding():
    data = make_image("BMP", (1900, 1900))  # 10.8 MB of real BMP
    assert len(data) > MAX_IMAGE_BYTES
    assert invalid(data).code == "image_too_large"


def test_more_than_6000x6000_pixels_is_refused():
    assert invalid(make_image(size=(6001, 6000), mode="1")).code == "image_dimensions"
    assert validate_reference_image(make_image(size=(9000, 4000), mode="1"), "i").width == 9000


@pytest.mark.parametrize("side", [10_000, 14_000], ids=["bomb-warning", "bomb-error"])
def test_decompression_bombs_are_invalid(side):
    # 100M pixels makes Pillow warn (an error under pytest), 196M makes it refuse.
    assert invalid(make_image(size=(side, side), mode="1")).code == "image_dimensions"


def test_corrupt_png_is_invalid():
    data = bytearray(make_image())
    assert validate_reference_image(bytes(data), "image1").format == "png"
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF  # flip a byte of compressed pixels: the chunk CRC no longer matches
    assert invalid(bytes(data)).code == "invalid_image"


def test_sniff_image_reads_generated_outputs():
    assert sniff_image(make_image("JPEG", (30, 20))) == ("jpeg", 30, 20)
    assert sniff_image(b"not an image") is None


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (V40, {"size": "2K", "max_images": 3, "image_count": 2, "watermark": False}),
        (V40, {"size": "1600x600", "stream": True}),
        (V40, {"size": "8000x500", "image_count": 14, "max_images": 1}),
        (V45, {"size": "4K"}),
        (V45, {"size": "3750x1250", "max_images": 15}),
        (V50, {"size": "3K"}),
        (T2I, {"size": "1024x1024", "seed": 42, "guidance_scale": 2.5}),
        (T2I, {"seed": -1, "guidance_scale": 10}),
        (EDIT, {"size": "adaptive", "seed": 2**31 - 1, "guidance_scale": 5.5, "image_count": 1}),
        ("ep-20260125201054-pfrb4", {"size": "2K", "max_images": 2, "seed": 1}),
    ],
)
def test_valid_params_pass(model, params):
    validate_generation_params(model, **params)  # raises on any invalid field


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        ("", {}, "model"),
        (V40, {"seed": 1}, "seed"),
        (V45, {"guidance_scale": 3.0}, "guidance_scale"),
        (T2I, {"max_images": 2}, "max_images"),
        (EDIT, {"stream": True, "image_count": 1}, "stream"),
        (T2I, {"image_count": 1}, "image"),
        (EDIT, {"image_count": 0}, "image"),
        (EDIT, {"image_count": 2}, "image"),
        (V40, {"image_count": 15}, "image"),
        (V40, {"max_images": 0}, "max_images"),
        (V40, {"max_images": 16}, "max_images"),
        (V40, {"max_images": 14, "image_count": 2}, "max_images"),
        (V45, {"size": "1K"}, "size"),
        (V45, {"size": "1500x1500"}, "size"),
        (V40, {"size": "800x800"}, "size"),
        (V40, {"size": "8500x500"}, "size"),
        (V40, {"size": "2048X2048"}, "size"),
        (V40, {"size": "adaptive"}, "size"),
        (T2I, {"size": "2K"}, "size"),
        (T2I, {"size": "256x256"}, "size"),
        (EDIT, {"size": "1024x1024", "image_count": 1}, "size"),
        (T2I, {"seed": -2}, "seed"),
        (T2I, {"seed": 2**31}, "seed"),
        (T2I, {"seed": True}, "seed"),
        (T2I, {"guidance_scale": 0.5}, "guidance_scale"),
        (T2I, {"guidance_scale": 11}, "guidance_scale"),
        (T2I, {"guidance_scale": float("nan")}, "guidance_scale"),
        (V40, {"watermark": "yes"}, "watermark"),
    ],
)
def test_invalid_params_name_the_field(model, params, field):
    with pytest.raises(InvalidField) as info:
        validate_generation_params(model, **params)
    assert info.value.details == {"field": field}
    assert info.value.status == 400
