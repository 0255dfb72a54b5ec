"""`bigprior prepare-lsun <lmdb dir> --out data/lsun/<category> --count 300`: the paper's LSUN images.

The official LSUN release is an LMDB database per category and split whose keys are image ids and
whose values are encoded images (WebP). The paper exported them (the LSUN authors' `data.py export`),
then resized every image to 256x256 with PIL's bicubic filter and saved it as `<key>.png`
(`data/lsun/code/webptopng.py`); image i of an experiment is the i-th file in sorted name order.
This does both steps in one pass, for the first `--count` keys in the database's (sorted) key order.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .progress import progress_bar
from . import imageio
from .errors import BIGPriorError

PAPER_SIZE = 256


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior prepare-lsun", description=__doc__.split("\n\n")[0])
    parser.add_argument("lmdb", help="an LSUN LMDB folder (holding data.mdb), e.g. bedroom_val_lmdb")
    parser.add_argument("--out", required=True, help="output folder, e.g. data/lsun/bedroom")
    parser.add_argument("--count", type=int, default=300, help="number of images (the first keys; the paper: 300)")
    parser.add_argument("--size", type=int, default=PAPER_SIZE, help="side of the square output images")
    return parser


def lmdb_records(path: Path, count: int) -> Iterator[tuple[str, bytes]]:
    """The first `count` (key, encoded image) pairs of an LMDB database, in key order."""
    try:
        import lmdb  # optional dependency (pip install lmdb), needed only here
    except ImportError:
        raise BIGPriorError("prepare-lsun needs the lmdb package: pip install lmdb") from None
    if not (path / "data.mdb").is_file():
        raise BIGPriorError(f"{path}: not an LMDB folder (no data.mdb)")
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, max_readers=1)
    except lmdb.Error as exc:
        raise BIGPriorError(f"{path / 'data.mdb'}: not a readable LMDB database ({exc.__class__.__name__})") from exc
    try:
        check_complete(env, path / "data.mdb")
        with env.begin(write=False) as txn:
            for n, (key, value) in enumerate(txn.cursor()):
                if n == count:
                    break
                yield key.decode("ascii", errors="replace"), bytes(value)
    finally:
        env.close()


def check_complete(env: object, data: Path) -> None:
    """Refuse a data.mdb shorter than the pages its header says it uses (a truncated copy or download):
    LMDB maps the file into memory, and reading past its end kills the process (SIGBUS)."""
    needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]  # type: ignore[attr-defined]
    size = data.stat().st_size
    if size < needed:
        raise BIGPriorError(f"{data}: truncated LMDB database ({size} bytes, its header says {needed})")


def paper_image(encoded: bytes, size: int, source: str) -> np.ndarray:
    """Decode, convert to RGB and bicubic-resize to size x size (as the paper's webptopng.py)."""
    try:
        image = Image.open(io.BytesIO(encoded))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise BIGPriorError(f"{source}: not a decodable image ({exc.__class__.__name__})") from exc
    return np.asarray(image.convert("RGB").resize((size, size), Image.BICUBIC))


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.count < 1 or args.size < 1:
        raise BIGPriorError(f"--count and --size must be positive, got {args.count} and {args.size}")
    source, out = Path(args.lmdb), Path(args.out)
    imageio.check_output_folder(out, "--out")
    images, skipped = decoded_images(source, out, args.count, args.size)
    for target, image in progress_bar(images, desc=out.name, unit="image"):
        imageio.write_png(target, image)
    if len(images) + skipped < args.count:
        print(f"note: {source} holds only {len(images) + skipped} images (asked for {args.count})")
    print(f"{out}: wrote {len(images)} images, {skipped} already there ({args.size}x{args.size} RGB PNG)")


def decoded_images(source: Path, out: Path, count: int, size: int) -> tuple[list[tuple[Path, np.ndarray]], int]:
    """Every image still to write (its target and pixels), all decoded before the first is written so a
    bad record leaves no partial export; and the number already there."""
    images, skipped = [], 0
    for key, encoded in progress_bar(lmdb_records(source, count), total=count, desc=f"reading {source.name}", unit="image"):
        if "/" in key or key.startswith("."):
            raise BIGPriorError(f"{source}: key {key!r} cannot be a file name")
        target = out / f"{key}.png"
        if target.is_file():
            skipped += 1
            continue
        images.append((target, paper_image(encoded, size, f"{source} key {key}")))
    return images, skipped
