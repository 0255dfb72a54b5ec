"""Issue 23's part of the GPU check: `bigprior restore` on a folder of photos, as a user runs it on the GPU,
and its throughput in photos per second (each photo's seconds from the run's summary.csv: its share of its
batch's inversion, its own fusion, scores and files; the command's wall time, start-up included, beside it).
The photos are made here (smooth random scenes, about a megapixel each), so the part needs no data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from .runner import Context, Section, output_lines, run_one

FULL = (12, 1152, 864)  # photos, width, height: 1 MP each, one and a half batches of the default 8
SMOKE = (4, 48, 36)


def make_photos(folder: Path, count: int, width: int, height: int) -> Path:
    """`count` smooth random photos (a coarse random image enlarged, plus grain), PNG."""
    rng = np.random.default_rng(23)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
        pixels = np.clip(np.asarray(coarse, np.int16) + rng.integers(-8, 9, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{k:02d}.png", compress_level=1)
    return folder


def read_summary(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def part_restore_folder(ctx: Context, limit: float) -> Section:
    """`bigprior restore --task denoise --degrade True` on a folder, on the GPU (smoke: toy photos on the CPU)."""
    count, width, height = SMOKE if ctx.smoke else FULL
    photos = make_photos(ctx.work / "restore" / "photos", count, width, height)
    out = ctx.work / "restore" / "out"
    command = [ctx.python, "code/restore.py", "--task", "denoise", "--input", str(photos), "--out", str(out),
               "--degrade", "True", "--device", ctx.device, *(["--iterations", "2"] if ctx.smoke else [])]
    finished = run_one(ctx, "restore_folder", command, limit)
    rows = [row for row in read_summary(out / "summary.csv") if row["status"] == "restored"]
    section = Section(f"Restore a folder: {count} photos of {width}x{height}, denoise, --degrade True, default batch")
    if rows:
        seconds = sum(float(row["seconds"]) for row in rows)
        rate = len(rows) / seconds
        section.numbers["restore.photos_per_second"] = rate
        section.lines = ["| photos restored | photo seconds (summary.csv) | photos per second | command wall, s (start-up included) |",
                         "| --- | --- | --- | --- |",
                         f"| {len(rows)} of {count} | {seconds:.1f} | {rate:.2f} | {finished.seconds:.1f} |"]
        section.summary = f"{rate:.2f} photos/s ({len(rows)} photos of {width}x{height})"
    section.lines += output_lines(finished, lambda line: line.startswith("restored "))
    if finished.ok and len(rows) != count:
        section.status = f"exit code 0 but {len(rows)} of {count} photos restored"
    section.add_failures({"restore": finished})
    return section
