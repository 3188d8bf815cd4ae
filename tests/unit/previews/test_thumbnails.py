"""Thumbnails from real image bytes made with Pillow: orientation, aspect ratio,
transparency, first frames, and what is refused (non-images, SVG, bombs)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from app.errors import InvalidField
from app.previews.thumbnails import (
    ImageTooLarge,
    NotAnImage,
    check_name,
    render_thumbnail,
    valid_size,
)

MAX_PIXELS = 50_000_000


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    image.load()
    return image


def test_a_landscape_photo_keeps_its_aspect_ratio_and_is_never_enlarged():
    photo = encoded(Image.new("RGB", (400, 200), "red"), "JPEG")
    thumb = decoded(render_thumbnail(photo, 64, max_pixels=MAX_PIXELS))
    assert thumb.size == (64, 32) and thumb.mode == "RGB"
    small = encoded(Image.new("RGB", (40, 20), "red"), "PNG")
    assert decoded(render_thumbnail(small, 256, max_pixels=MAX_PIXELS)).size == (40, 20)


def test_exif_orientation_turns_the_thumbnail_upright():
    # Left half red, right half blue, stored sideways: orientation 6 means "rotate 90
    # clockwise to show", so the upright image is tall with red on top.
    image = Image.new("RGB", (200, 100), "blue")
    image.paste("red", (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    thumb = decoded(render_thumbnail(encoded(image, "JPEG", exif=exif), 64, max_pixels=MAX_PIXELS))
    assert thumb.size == (32, 64)
    top, bottom = thumb.getpixel((16, 8)), thumb.getpixel((16, 56))
    assert top[0] > 200 and top[2] < 60, top  # red
    assert bottom[2] > 200 and bottom[0] < 60, bottom  # blue


def test_transparency_is_kept():
    icon = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    icon.paste((0, 255, 0, 255), (25, 25, 75, 75))
    thumb = decoded(render_thumbnail(encoded(icon, "PNG"), 64, max_pixels=MAX_PIXELS))
    assert thumb.mode == "RGBA"
    assert thumb.getpixel((0, 0))[3] == 0 and thumb.getpixel((32, 32))[3] == 255


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP", "TIFF", "PNG"])
def test_each_raster_format_gives_a_thumbnail(fmt):
    image = Image.new("RGB", (300, 150), (10, 20, 200))
    thumb = decoded(render_thumbnail(encoded(image, fmt), 64, max_pixels=MAX_PIXELS))
    assert thumb.size == (64, 32)


def test_an_animated_gif_shows_its_first_frame():
    frames = [Image.new("RGB", (80, 80), color) for color in ("red", "blue", "green")]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    pixel = decoded(render_thumbnail(gif, 64, max_pixels=MAX_PIXELS)).getpixel((32, 32))
    assert pixel[0] > 200 and pixel[2] < 60, pixel


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    grey = Image.new("I;16", (50, 50), 32768)  # half of 16 bits
    value = decoded(render_thumbnail(encoded(grey, "PNG"), 64, max_pixels=MAX_PIXELS)).getpixel(
        (25, 25)
    )
    assert 110 < value[0] < 145, value


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is text\n",
        b"",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS: never parsed
        encoded(Image.new("RGB", (300, 300), "red"), "JPEG")[:300],  # cut short
    ],
    ids=["text", "empty", "svg", "eps", "truncated-jpeg"],
)
def test_what_no_allowed_decoder_reads_is_not_an_image(data):
    with pytest.raises(NotAnImage) as raised:
        render_thumbnail(data, 64, max_pixels=MAX_PIXELS)
    assert raised.value.status == 415 and raised.value.code == "not_an_image"


def test_too_many_pixels_is_refused_from_the_header():
    with pytest.raises(ImageTooLarge) as raised:
        render_thumbnail(encoded(Image.new("RGB", (100, 100)), "PNG"), 64, max_pixels=9_999)
    assert raised.value.status == 413 and raised.value.code == "image_too_large"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` over a few bytes of pixels: what
    a decompression bomb looks like before it is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [10_000, 100_000])  # ours, then Pillow's own limit
def test_a_decompression_bomb_is_refused_before_decoding(side):
    with pytest.raises(ImageTooLarge):
        render_thumbnail(_png_header_only(side, side), 64, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("name", ["a.svg", "notes.txt", "page.html", "movie.mp4", "doc.pdf"])
def test_names_of_other_types_are_refused_before_reading(name):
    with pytest.raises(NotAnImage):
        check_name(name)


@pytest.mark.parametrize("name", ["a.jpg", "b.PNG", "c.webp", "d.tiff", "no-extension"])
def test_image_names_and_unknown_ones_are_decoded_to_find_out(name):
    check_name(name)


def test_sizes_come_from_a_fixed_set():
    assert valid_size(None) == 256 and valid_size("64") == 64 and valid_size("1024") == 1024
    for bad in ("100", "-64", "abc", "64.0", "99999999999999999999"):
        with pytest.raises(InvalidField):
            valid_size(bad)
