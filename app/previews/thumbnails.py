"""Thumbnails of raster images (Pillow): a box of one of ``SIZES`` pixels, upright, aspect
ratio kept, encoded as WebP.

WebP rather than JPEG: it keeps transparency (a PNG icon or a screenshot with an alpha
channel stays transparent instead of turning black), it is a quarter to a third smaller
at the same quality, and every browser the web app supports decodes it.

Only the decoders of ``OPEN_FORMATS`` ever parse a user's bytes: fewer parsers, less
attack surface (no EPS, which would run Ghostscript). SVG is never rasterized (Pillow
has no SVG decoder, and the name is refused before any byte is read): a preview must
not be the way a script or an external reference in a user's file reaches a browser.
"""

from __future__ import annotations

import io
import mimetypes

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import InvalidField, PayloadTooLarge, UnsupportedMediaType

# The boxes a thumbnail fits in (pixels on its longest side): icons, the grid, a preview.
SIZES = (64, 256, 1024)
MIMETYPE = "image/webp"
FILE_SUFFIX = "webp"
QUALITY = 80
# MPO (phones' multi-picture JPEGs) has no opener of its own: the JPEG plugin returns it.
OPEN_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
# Names of these types are not images worth decoding (or must never be: SVG).
_NOT_RASTER = ("image/svg+xml",)


class NotAnImage(UnsupportedMediaType):
    code = "not_an_image"


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"


def valid_size(raw: str | None) -> int:
    """The thumbnail size asked for: one of ``SIZES`` (256 when absent); 400 invalid_field."""
    if raw is None or raw == "":
        return 256
    if raw.isdigit() and int(raw) in SIZES:
        return int(raw)
    choices = ", ".join(str(size) for size in SIZES)
    raise InvalidField("size", f"'size' must be one of {choices}")


def check_name(name: str) -> None:
    """Refuse, before reading its bytes, a file whose name says it is no raster image:
    415 not_an_image (an unknown extension is decoded to find out)."""
    guessed = mimetypes.guess_type(name, strict=False)[0]
    if guessed is not None and (guessed in _NOT_RASTER or not guessed.startswith("image/")):
        raise NotAnImage(f"{name} is not an image ({guessed})")


def render_thumbnail(source: bytes, size: int, *, max_pixels: int) -> bytes:
    """Decode ``source`` (its first frame), turn it upright (EXIF orientation), shrink it
    into a ``size`` box (never enlarged) and encode it as WebP.

    415 not_an_image for bytes no allowed decoder reads, 413 image_too_large for more
    than ``max_pixels`` pixels (checked from the header, before the pixels are decoded).
    """
    try:
        with Image.open(io.BytesIO(source), formats=OPEN_FORMATS) as image:
            if image.width * image.height > max_pixels:
                raise ImageTooLarge(
                    f"the image is {image.width}x{image.height} pixels; "
                    f"thumbnails are made of images up to {max_pixels} pixels"
                )
            # JPEG decodes at 1/2, 1/4 or 1/8 scale on request: a 48 MP photo costs
            # a sixth of the memory and time. The box is doubled so that the final
            # resampling still has pixels to average.
            image.draft("RGB", (size * 2, size * 2))
            upright = ImageOps.exif_transpose(image)
            upright = _displayable(upright)
            upright.thumbnail((size, size), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            upright.save(out, "WEBP", quality=QUALITY, method=4)
            return out.getvalue()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit (89M pixels; a warning, an error where warnings are errors).
        raise ImageTooLarge(f"the image has too many pixels ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise NotAnImage("the content is not a JPEG, PNG, GIF, WebP, BMP or TIFF image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # A header that parsed over pixel data that does not (truncated, corrupt).
        raise NotAnImage(f"the image cannot be decoded ({exc})") from exc


def _displayable(image: Image.Image) -> Image.Image:
    """The image in a mode WebP encodes: RGBA when it has transparency, else RGB
    (palette, grey, 16-bit and CMYK images are converted)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    wanted = "RGBA" if has_alpha else "RGB"
    if image.mode == wanted:
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit greyscale: scale to 8 bits, as convert("L") would clip to white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    return image.convert(wanted)
