"""Pack the paper data that `benchmarks/gpu_check.sh` needs into the project, losslessly, and unpack it there.

`../shared` does not travel to the GPU machine, and what does travel (the working tree plus the carried
folders) is limited to 64 MiB. The col_bedroom experiment (GT, input and mGANoutput of images 0..299,
~68 MB as PNG) fits as lossless WebP (~44 MiB). Every image is decoded again right after encoding and
compared with the PNG's pixels; the manifest records each image's mode and a SHA-256 of its pixels,
which unpacking checks.

    python -m gpu_check.pack_data pack                     # ../shared/... -> cache/gpu_data (ignored by git)
    python -m gpu_check.pack_data unpack --to DIR          # cache/gpu_data -> DIR/col_bedroom/{GT,input,mGANoutput}/*.png
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
from collections.abc import Callable, Iterable
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))

from bigprior import imageio  # noqa: E402

EXPERIMENT = "col_bedroom"
FOLDERS = ("GT", "input", "mGANoutput")
SOURCE = ROOT.parent / "shared" / "bigprior-paper" / "inter_data" / EXPERIMENT
DATA = ROOT / "cache" / "gpu_data"
MANIFEST = "manifest.json"
CARRY_LIMIT_MIB = 56  # the device carries 64 MiB with the working tree (~7 MiB): keep the data under this
WEBP = {"lossless": True, "quality": 50, "method": 4}  # method 6 saves 1% at 30x the time


def pixel_digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def pack_one(job: tuple[Path, Path]) -> tuple[str, str, str, int]:
    """PNG -> lossless WebP, checked by decoding; returns (name, mode, pixel digest, bytes written)."""
    source, target = job
    image = Image.open(source)
    if image.mode not in ("L", "RGB"):
        raise SystemExit(f"{source}: mode {image.mode}, expected L or RGB")
    pixels = np.asarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", **WEBP)
    if not np.array_equal(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(image.mode)), pixels):
        raise SystemExit(f"{source}: the WebP copy does not decode to the same pixels")
    imageio.write_with(target, lambda path: path.write_bytes(buffer.getvalue()))
    return source.stem, image.mode, pixel_digest(pixels), len(buffer.getvalue())


def unpack_one(job: tuple[Path, Path, str, str]) -> None:
    """WebP -> PNG, with the pixels checked against the manifest's digest."""
    source, target, mode, digest = job
    pixels = np.asarray(Image.open(source).convert(mode))
    if pixel_digest(pixels) != digest:
        raise SystemExit(f"{source}: pixels differ from the packed image (digest mismatch)")
    imageio.write_png(target, pixels)


def run_jobs(function: Callable, jobs: Iterable, workers: int) -> list:
    jobs = list(jobs)
    if workers <= 1:
        return [function(job) for job in jobs]
    with Pool(workers) as pool:
        return pool.map(function, jobs, chunksize=8)


def pack(source: Path, dest: Path, workers: int, count: int | None = None) -> int:
    """Pack images 0..count-1 (all when None) of every folder; returns the bytes written."""
    manifest: dict = {"experiment": EXPERIMENT, "folders": {}}
    shutil.rmtree(dest / EXPERIMENT, ignore_errors=True)  # no stale images of an earlier, larger pack
    total = 0
    for folder in FOLDERS:
        files = sorted((source / folder).glob("*.png"), key=lambda p: int(p.stem))[:count]
        if not files:
            raise SystemExit(f"{source / folder}: no PNG images (pass --source <...>/inter_data/{EXPERIMENT})")
        results = run_jobs(pack_one, [(f, dest / EXPERIMENT / folder / f"{f.stem}.webp") for f in files], workers)
        modes = {mode for _, mode, _, _ in results}
        if len(modes) != 1:
            raise SystemExit(f"{source / folder}: images of several modes {sorted(modes)}")
        manifest["folders"][folder] = {"mode": modes.pop(), "files": {name: digest for name, _, digest, _ in results}}
        total += sum(size for *_, size in results)
    imageio.write_json(dest / MANIFEST, manifest)
    return total


def unpack(data: Path, target: Path, workers: int) -> int:
    """Unpack into target/<experiment>/<folder>/<i>.png; returns the number of images."""
    manifest_path = data / MANIFEST
    if not manifest_path.is_file():
        raise SystemExit(f"{manifest_path}: not found (run `python -m gpu_check.pack_data pack` first)")
    manifest = imageio.read_json(manifest_path)
    jobs = [(data / manifest["experiment"] / folder / f"{name}.webp", target / manifest["experiment"] / folder / f"{name}.png",
             entry["mode"], digest)
            for folder, entry in manifest["folders"].items() for name, digest in entry["files"].items()]
    run_jobs(unpack_one, jobs, workers)
    return len(jobs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="PNG experiment folder -> lossless WebP + manifest")
    p.add_argument("--source", type=Path, default=SOURCE, help=f"the experiment folder (default {SOURCE})")
    p.add_argument("--dest", type=Path, default=DATA)
    p.add_argument("--count", type=int, default=None, help="only images 0..count-1 of each folder")
    u = sub.add_parser("unpack", help="WebP + manifest -> PNG experiment folder, pixels checked")
    u.add_argument("--data", type=Path, default=DATA)
    u.add_argument("--to", type=Path, required=True, help="folder that receives <experiment>/<folder>/<i>.png")
    for command in (p, u):
        command.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "pack":
        size = pack(args.source, args.dest, args.workers, args.count)
        mib = size / 2**20
        print(f"{args.dest}: {mib:.1f} MiB of lossless WebP (carry limit for this data: {CARRY_LIMIT_MIB} MiB)")
        if mib > CARRY_LIMIT_MIB:
            raise SystemExit(f"{args.dest}: {mib:.1f} MiB does not fit the device's carry limit; pack fewer images (--count)")
    else:
        print(f"{args.to}: {unpack(args.data, args.to, args.workers)} images unpacked and checked")


if __name__ == "__main__":
    main()
