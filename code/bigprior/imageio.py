"""Reading and writing the image, array and text files of the pipeline.

Every reader checks what it reads and raises `BIGPriorError` naming the file; every writer writes a
temporary file in the target folder and renames it, so a finished file is never seen half-written,
and a failed or interrupted write (full disk, Ctrl-C) leaves neither a partial file nor a temporary one.
Conversions are named after what they convert, and follow the paper's release bit for bit:
`float_from_uint8` is cv2/torchvision's `/255` and `uint8_from_float` is torchvision's `save_image`
rounding; `uint8_from_float_truncated` is `to_pil_image`'s truncation, which the release used for
the observation images it wrote (grayscale input, masked input).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import BIGPriorError

T = TypeVar("T")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff")


# ---------------------------------------------------------------------------------------------
# atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, else delete it (on any
    exception, KeyboardInterrupt included). An operating-system error while writing (a full disk, no
    permission) becomes a BIGPriorError naming `path`.

    The temporary file is created by the writer, so it gets the usual permissions (umask)."""
    path = Path(path)
    tmp_path = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        raise BIGPriorError(f"{path}: could not be written ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # none made (a file blocks the folder)
            tmp_path.unlink()


def check_output_folder(folder: str | os.PathLike, flag: str, subject: str | None = None) -> None:
    """Refuse, before any work, an output folder that cannot be made or written: a regular file where
    it or a folder above it goes, or its nearest existing folder not writable (nothing is created here).
    Errors start with `subject` (default: the flag and the folder)."""
    folder = Path(folder)
    subject = subject or f"{flag} {folder}".strip()
    for existing in (folder, *folder.absolute().parents):
        if existing.exists():
            if not existing.is_dir():
                raise BIGPriorError(f"{subject}: {existing} is a file, not a folder")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise BIGPriorError(f"{subject}: {existing} is not writable")
            return


def check_output_file(path: str | os.PathLike, flag: str = "") -> None:
    """Refuse, before any work, an output file whose folder cannot be made or written (see above)."""
    path = Path(path)
    check_output_folder(path.parent, flag, f"{flag} {path}".strip())


FAST_PNG = {"compress_level": 1, "compress_type": zlib.Z_RLE}  # `write_png(..., fast=True)`


def write_png(path: str | os.PathLike, image: np.ndarray, fast: bool = False) -> None:
    """Write an HxW (grayscale) or HxWx3 (RGB) uint8 array as PNG, atomically. `fast`: zlib level 1 with its
    run-length strategy instead of Pillow's level 6, for large images: lossless as every PNG, only the file
    size changes (measured on 12-megapixel outputs: 1.1 to 3 times faster; noisy photos' files as small,
    smooth ones' up to 10% larger)."""
    if image.dtype != np.uint8:
        raise TypeError(f"write_png expects uint8, got {image.dtype}")
    options = FAST_PNG if fast else {}
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", **options)


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write standard JSON: a non-finite float (NaN, +-inf: a diverged run, the PSNR of identical
    images) is written as null, as JavaScript's JSON.stringify does, instead of Python's bare `NaN`
    and `Infinity`, which standard parsers refuse."""
    write_text(path, json.dumps(finite_or_null(obj), indent=indent, allow_nan=False))


def finite_or_null(obj: Any) -> Any:
    """`obj` with every non-finite float inside dicts, lists and tuples replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_or_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(value) for value in obj]
    return obj


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    """torch.save, atomically and reproducibly (the same object always gives the same bytes).

    torch.save names the archive's root folder after the file it writes to, so saving straight to
    the temporary file would put its random name into the file; saved to memory the folder is `archive`."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Atomically write `path` with a function that writes to the path it is given (e.g. savefig)."""
    with atomic_path(path) as tmp:
        writer(tmp)


# ---------------------------------------------------------------------------------------------
# reading


def open_image(path: Path, flag: str = "") -> Image.Image:
    """Open and decode an image file; errors name the file (after `flag`, e.g. "--input ")."""
    if not path.is_file():
        raise BIGPriorError(f"{flag}{path}: file not found")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise BIGPriorError(f"{flag}{path}: not a readable image ({exc.__class__.__name__})") from exc
    return image


def read_rgb(path: str | os.PathLike, allow_conversion: bool = False) -> np.ndarray:
    """Read an RGB image as HxWx3 uint8. Other modes are an error unless `allow_conversion`."""
    path = Path(path)
    image = open_image(path)
    if image.mode != "RGB":
        if not allow_conversion:
            raise BIGPriorError(f"{path}: expected an RGB image, got mode {image.mode} ({len(image.getbands())} channels)")
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit grayscale image as HxW uint8 (mode L)."""
    path = Path(path)
    image = open_image(path)
    if image.mode != "L":
        raise BIGPriorError(f"{path}: expected an 8-bit grayscale image, got mode {image.mode}")
    return np.asarray(image, dtype=np.uint8)


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise BIGPriorError(f"{path}: file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise BIGPriorError(f"{path}: not a readable .npy array ({exc})") from exc


def _check_finite(path: Path, array: np.ndarray) -> np.ndarray:
    if not np.isfinite(array).all():
        raise BIGPriorError(f"{path}: holds {int((~np.isfinite(array)).sum())} NaN or infinite values (expected finite numbers)")
    return array


def read_npy_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """Read an HxWxC float array saved with np.save (the denoising inputs)."""
    path = Path(path)
    array = _load_npy(path)
    if array.ndim != 3 or array.shape[2] != channels or not np.issubdtype(array.dtype, np.floating):
        raise BIGPriorError(f"{path}: expected a float HxWx{channels} array, got {array.dtype} {array.shape}")
    return _check_finite(path, array)


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """Read a finite numeric array saved with np.save (no pickles)."""
    path = Path(path)
    array = _load_npy(path)
    if not np.issubdtype(array.dtype, np.number):
        raise BIGPriorError(f"{path}: expected numbers, got {array.dtype}")
    return _check_finite(path, array)


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise BIGPriorError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BIGPriorError(f"{path}: not valid JSON ({exc})") from exc


def read_options(path: str | os.PathLike, cls: type[T], required: str = "experiment", strict: bool = False) -> T:
    """A dataclass from a JSON object file (e.g. OURargs.txt): unknown keys are ignored (files of the
    paper's code or of older versions) or, if `strict`, refused; missing ones take the defaults,
    `required` must be there."""
    data = read_json(path)
    if not isinstance(data, dict) or required not in data:
        raise BIGPriorError(f"{path}: expected a JSON object with an {required!r} field")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if strict and unknown:
        raise BIGPriorError(f"{path}: unknown option {unknown[0]!r}")
    return cls(**{k: v for k, v in data.items() if k in known})


def list_images(folder: str | os.PathLike, flag: str = "") -> list[Path]:
    """Image files of a folder in sorted file-name order (index i = position); a missing folder is an
    error that names it (after `flag`, e.g. "--data ")."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BIGPriorError(f"{flag}{folder}: folder not found")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


# ---------------------------------------------------------------------------------------------
# conversions


_FLOAT_OF_UINT8 = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)  # every value float_from_uint8 gives


def float_from_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1] (divided in float64 first, as the release's cv2 loader did): looked up in a
    table of those 256 values, the same numbers without a float64 copy of the image."""
    return _FLOAT_OF_UINT8[image]


ROW_BLOCK = 256  # rows per block of `by_rows`


def by_rows(function: Callable[..., np.ndarray], *arrays: np.ndarray, rows: int = ROW_BLOCK) -> np.ndarray:
    """`function(*arrays)` for a function that works row by row (elementwise, per pixel), computed a block
    of rows at a time: the same values, with temporaries of a block's size instead of the image's (a
    12-megapixel photo's float32 temporaries are 144 MB each)."""
    height = arrays[0].shape[0]
    if height <= rows:
        return function(*arrays)
    first = function(*(array[:rows] for array in arrays))
    out = np.empty((height, *first.shape[1:]), first.dtype)
    out[:rows] = first
    for top in range(rows, height, rows):
        out[top : top + rows] = function(*(array[top : top + rows] for array in arrays))
    return out


def uint8_from_float(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """[0, 1] float -> uint8 by rounding and clamping (torchvision `save_image`); arrays a block of rows at a time."""
    if isinstance(image, torch.Tensor):
        return image.detach().float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
    return by_rows(lambda block: np.clip(np.asarray(block, dtype=np.float32) * 255 + 0.5, 0, 255).astype(np.uint8),
                   np.asarray(image))


def uint8_from_float_truncated(image: torch.Tensor) -> np.ndarray:
    """[0, 1] float -> uint8 by truncation (torchvision `to_pil_image`, as the release saved inputs)."""
    return image.detach().float().clamp(0, 1).mul(255).to(torch.uint8).cpu().numpy()


def image_grid(images: torch.Tensor, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """(N, C, H, W) images in [0, 1] -> one HxWxC uint8 image, rows of `columns` (default: a square)."""
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = torch.zeros(channels, rows * (height + gap) - gap, columns * (width + gap) - gap)
    for i, image in enumerate(images.detach().float().cpu()):
        top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
        grid[:, top:top + height, left:left + width] = image
    return uint8_from_float(grid.permute(1, 2, 0))


def hwc_to_chw(image: np.ndarray) -> torch.Tensor:
    """HxW or HxWxC array -> CxHxW float32 tensor."""
    if image.ndim == 2:
        image = image[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def chw_to_hwc(tensor: torch.Tensor) -> np.ndarray:
    """CxHxW tensor -> HxWxC (or HxW for one channel) numpy array."""
    array = tensor.detach().cpu().numpy().transpose(1, 2, 0)
    return array[:, :, 0] if array.shape[2] == 1 else array
