"""Photos of every mode Pillow returns are read as what their values mean (issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bigprior.errors import BIGPriorError
from bigprior.photos import decode, read_photo

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)
GRAY16 = np.linspace(0, 65535, 12 * 20).round().astype(np.uint16).reshape(12, 20)


def roundtrip(image: Image.Image, tmp_path: Path, suffix: str = ".png", **save) -> np.ndarray:
    path = tmp_path / f"photo{suffix}"
    image.save(path, **save)
    photo = read_photo(path)
    assert photo.pixels.dtype == np.float32 and 0 <= photo.pixels.min() and photo.pixels.max() <= 1
    return photo.pixels


def test_rgb_and_l_are_divided_by_255(tmp_path):
    np.testing.assert_array_equal(roundtrip(Image.fromarray(RGB), tmp_path), (RGB / 255.0).astype(np.float32))
    gray = RGB[..., 0]
    np.testing.assert_array_equal(roundtrip(Image.fromarray(gray), tmp_path), (gray / 255.0).astype(np.float32))


def test_a_16_bit_png_is_rescaled_not_clipped(tmp_path):
    image = Image.fromarray(GRAY16)
    assert image.mode == "I;16"
    pixels = roundtrip(image, tmp_path)  # whatever mode Pillow reopens it as (I;16 or I)
    np.testing.assert_allclose(pixels, GRAY16 / 65535.0, atol=1e-7)
    assert pixels.ndim == 2 and abs(float(pixels.mean()) - 0.5) < 0.01  # not clipped to white


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I"])
def test_16_bit_modes(mode):
    if mode == "I":
        image = Image.fromarray(GRAY16.astype(np.int32))
    else:
        dtype = ">u2" if mode == "I;16B" else "<u2"
        image = Image.frombytes(mode, (20, 12), GRAY16.astype(dtype).tobytes())
    assert image.mode == mode
    np.testing.assert_allclose(decode(image, Path("p")).pixels, GRAY16 / 65535.0, atol=1e-7)


def test_float_images():
    values = RNG.random((12, 20)).astype(np.float32)
    np.testing.assert_array_equal(decode(Image.fromarray(values, "F"), Path("p")).pixels, values)
    photo = decode(Image.fromarray(values * 255, "F"), Path("p"))
    np.testing.assert_allclose(photo.pixels, values, atol=1e-6)
    assert "read as 0..255" in photo.notes[0]
    for bad, message in ((values - 0.5, r"mode F values -0\.4"), (np.full((4, 4), np.nan, np.float32), "non-finite")):
        with pytest.raises(BIGPriorError, match=message):
            decode(Image.fromarray(bad, "F"), Path("p"))
    with pytest.raises(BIGPriorError, match="--input p: mode I values"):
        decode(Image.fromarray(np.full((4, 4), 70000, np.int32)), Path("p"))


def test_bilevel_palette_and_colour_spaces(tmp_path):
    bits = RNG.integers(0, 2, (12, 20)).astype(bool)
    np.testing.assert_array_equal(roundtrip(Image.fromarray(bits), tmp_path), bits.astype(np.float32))
    palette = Image.fromarray(RGB).quantize(16)
    assert palette.mode == "P"
    np.testing.assert_array_equal(roundtrip(palette, tmp_path), np.asarray(palette.convert("RGB")) / np.float32(255))
    cmyk = Image.fromarray(RGB).convert("CMYK")
    assert np.abs(roundtrip(cmyk, tmp_path, ".jpg", quality=100) * 255 - RGB).mean() < 6
    assert np.abs(decode(cmyk, Path("p")).pixels * 255 - RGB).max() < 1.01
    ycbcr = Image.fromarray(RGB).convert("YCbCr")
    assert np.abs(decode(ycbcr, Path("p")).pixels * 255 - RGB).mean() < 2


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "P"])
def test_transparency_is_flattened_onto_white(mode, tmp_path):
    rgba = np.dstack([RGB, np.full((12, 20), 255, np.uint8)])
    rgba[:6, :, 3] = 0  # the top half transparent
    image = Image.fromarray(rgba, "RGBA")
    if mode == "LA":
        image = image.convert("LA")
    elif mode in ("PA", "P"):
        image = image.convert("P") if mode == "P" else image.convert("PA")
        if mode == "P":  # a palette with one transparent colour
            image.info["transparency"] = int(np.asarray(image)[0, 0])
    photo = decode(image, Path("p"))
    assert "transparency is flattened onto white" in photo.notes[0]
    assert photo.pixels.ndim == (2 if mode == "LA" else 3)
    assert photo.pixels[:6].min() == 1.0  # transparent -> white
    if mode == "RGBA":
        np.testing.assert_array_equal(photo.pixels[6:], RGB[6:] / np.float32(255))


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(RGB)  # 20 wide, 12 high
    exif = image.getexif()
    exif[0x0112] = 6  # rotated: a viewer turns it 90 degrees clockwise
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif)
    photo = read_photo(path)
    assert photo.size == (12, 20) and "EXIF orientation (6)" in photo.notes[0]
    np.testing.assert_array_equal(photo.pixels, np.rot90(RGB, k=-1) / np.float32(255))  # turned clockwise


def test_unreadable_files_name_the_flag(tmp_path):
    with pytest.raises(BIGPriorError, match="--input .*missing.png: file not found"):
        read_photo(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(BIGPriorError, match="bad.png: not a readable image"):
        read_photo(tmp_path / "bad.png")
