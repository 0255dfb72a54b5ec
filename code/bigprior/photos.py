"""Reading a user's photo, whatever Pillow opens it as, into a float image in [0, 1].

Every mode is mapped by what its values mean, not by Pillow's default conversion (which clips a 16-bit
image to white): 8-bit modes are divided by 255, 16-bit ones (I;16, I;16B, I;16L, and I holding a
16-bit PNG) by 65535, float images (F) are taken as they are when in [0, 1] and divided by 255 when in
[0, 255]. Bilevel (1) and grayscale (L, I, F) photos stay grayscale; palette, CMYK, YCbCr, LAB and HSV
photos become RGB; transparency (RGBA, LA, PA, a palette with a transparent colour) is flattened onto
white. The EXIF orientation is applied, so the photo is upright as a viewer shows it. Everything done
to a photo beyond decoding is returned as a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import imageio
from .errors import BIGPriorError

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
GRAY_MODES = ("1", "L", "I", "F", *SIXTEEN_BIT_MODES)
TRANSPARENT_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
EIGHT_BIT, SIXTEEN_BIT = 255.0, 65535.0
EXIF_ORIENTATION = 0x0112


@dataclass
class Photo:
    """A decoded photo: HxW (grayscale) or HxWx3 float32 in [0, 1]."""

    path: Path
    pixels: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def is_gray(self) -> bool:
        return self.pixels.ndim == 2


def _flatten(image: Image.Image) -> Image.Image:
    """Composite a transparent image onto white: L for gray ones (LA), RGB otherwise."""
    gray = image.mode in ("LA", "La")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(background, rgba)
    return flat.convert("L") if gray else flat.convert("RGB")


def _gray_values(image: Image.Image, path: Path) -> tuple[np.ndarray, str | None]:
    """The values of a one-channel image scaled to [0, 1], and a note when the scale had to be guessed."""
    if image.mode == "1":
        return np.asarray(image.convert("L"), dtype=np.float32) / EIGHT_BIT, None
    if image.mode == "L":
        return np.asarray(image, dtype=np.float32) / EIGHT_BIT, None
    values = np.asarray(image).astype(np.float64)
    if not np.isfinite(values).all():
        raise BIGPriorError(f"--input {path}: the image holds non-finite values (mode {image.mode})")
    low, high = float(values.min()), float(values.max())
    if image.mode in SIXTEEN_BIT_MODES or (image.mode == "I" and 0 <= low and high <= SIXTEEN_BIT):
        return (values / SIXTEEN_BIT).astype(np.float32), None
    if image.mode == "F" and 0 <= low and high <= 1:
        return values.astype(np.float32), None
    if image.mode == "F" and 0 <= low and high <= EIGHT_BIT:
        return (values / EIGHT_BIT).astype(np.float32), f"{path}: float image with values up to {high:g}, read as 0..255"
    raise BIGPriorError(f"--input {path}: mode {image.mode} values {low:g}..{high:g} are not a photo's "
                        "(expected 0..65535 integers or 0..1 floats)")


def decode(image: Image.Image, path: Path) -> Photo:
    """An opened image as a Photo (see the module's rules)."""
    notes = []
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
        notes.append(f"{path}: turned upright as its EXIF orientation ({orientation}) says")
    if image.mode in TRANSPARENT_MODES or (image.mode == "P" and "transparency" in image.info):
        notes.append(f"{path}: {image.mode} image, its transparency is flattened onto white")
        image = _flatten(image)
    if image.mode in GRAY_MODES:
        pixels, note = _gray_values(image, path)
        notes += [note] if note else []
    else:
        pixels = imageio.float_from_uint8(np.asarray(image.convert("RGB"), dtype=np.uint8))
    return Photo(path, np.ascontiguousarray(pixels, dtype=np.float32), notes)


def read_rgb8(path: str | Path, flag: str = "") -> np.ndarray:
    """An image of any mode as the HxWx3 uint8 RGB a viewer shows (by the rules above; grey replicated),
    for stages that take RGB images (the inversion's targets, GAN training data). 8-bit RGB comes back
    unchanged."""
    path = Path(path)
    photo = decode(imageio.open_image(path, flag), path)
    pixels = np.repeat(photo.pixels[:, :, None], 3, axis=2) if photo.is_gray else photo.pixels
    return imageio.uint8_from_float(pixels)


@dataclass(frozen=True)
class PhotoHeader:
    """What a photo's header says: its upright size and whether it decodes to grayscale."""

    path: Path
    size: tuple[int, int]  # (width, height), after the EXIF orientation
    is_gray: bool


def probe_photo(path: str | Path) -> PhotoHeader:
    """A photo's header, read without decoding its pixels (errors name the file after --input): enough to
    check a run before any model is loaded, and to plan batches."""
    path = Path(path)
    if not path.is_file():
        raise BIGPriorError(f"--input {path}: file not found")
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):  # a quarter turn
                width, height = height, width
            gray = image.mode in GRAY_MODES or image.mode in ("LA", "La")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BIGPriorError(f"--input {path}: not a readable image ({exc.__class__.__name__})") from exc
    return PhotoHeader(path, (width, height), gray)


def read_photo(path: str | Path) -> Photo:
    """Open, decode and check one photo (errors name the file after --input)."""
    path = Path(path)
    return decode(imageio.open_image(path, "--input "), path)
