"""Which photos a `bigprior restore` takes, in which order, under which output names, with which masks.

`--input` takes files and folders: a folder means its image files (by suffix, hidden files left out) in
sorted order, and with `--recursive` those of its subfolders too (sorted by path inside the folder); the
photos keep the order of the command line. A photo's position in that list is its index (its random
streams: the degradation simulated with `--degrade True`, the inversion's initial codes), so a rerun of the
same command restores each photo the same way. Output names are the file names without suffix, made unique
in that order with _2, _3... Files inside the output folder are never taken as input (a rerun of
`--input photos --out photos/restored --recursive` does not restore its own outputs).

`--mask` is one mask for every photo, or a folder of masks matched by file name without suffix
(`holes/p.png` for `photos/p.jpg`; with `--recursive`, at the photo's relative path): a photo without
its mask is an error before any work.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BIGPriorError
from .imageio import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class PhotoEntry:
    """One photo of a run: its file, position (index), output name, and its own mask from a mask folder."""

    path: Path
    index: int
    name: str
    mask: Path | None = None
    relative: Path | None = None  # inside the --input folder it came from (None: given as a file)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and folder.resolve() in path.resolve().parents


def folder_images(folder: Path, recursive: bool, skip: Path | None = None) -> list[Path]:
    """The image files of a folder (and, `recursive`, of its subfolders), sorted by their path inside it;
    none inside `skip` (the output folder) or in a hidden folder."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    found = [p for p in candidates if _is_image(p) and not _inside(p, skip)
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def list_photos(inputs: Sequence[str], recursive: bool = False, out: Path | None = None) -> list[tuple[Path, Path | None]]:
    """(photo, its path inside its --input folder or None) for every --input, in order. A file that does
    not exist, or a folder without images, is an error naming it."""
    photos: list[tuple[Path, Path | None]] = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = folder_images(given, recursive, out)
            if not found:
                more = "" if recursive else " (add --recursive for its subfolders)"
                raise BIGPriorError(f"--input {given}: no image files in the folder{more}")
            photos += [(path, path.relative_to(given)) for path in found]
        elif given.exists():
            photos.append((given, None))
        else:
            raise BIGPriorError(f"--input {given}: file not found")
    return photos


def output_names(paths: Sequence[Path]) -> list[str]:
    """Each photo's output name: its file name without suffix, made unique with _2, _3... (and said so)."""
    names: list[str] = []
    for path in paths:
        name, k = path.stem, 2
        while name in names:
            name, k = f"{path.stem}_{k}", k + 1
        if name != path.stem:
            print(f"warning: {path}: its outputs are named {name}_* ({path.stem}_* belong to "
                  f"{paths[names.index(path.stem)]})", file=sys.stderr)
        names.append(name)
    return names


def mask_of(folder: Path, relative: Path) -> Path:
    """The mask of the photo at `relative` in a mask folder: the one image file with its name without suffix."""
    stem = folder / relative.parent / relative.stem
    found = sorted(p for p in stem.parent.glob(f"{stem.name}.*") if _is_image(p)) if stem.parent.is_dir() else []
    if len(found) != 1:
        what = "no mask" if not found else f"{len(found)} masks ({', '.join(p.name for p in found)})"
        raise BIGPriorError(f"--mask {folder}: {what} for the photo {relative} (expected {stem}.png or another image "
                            "suffix)")
    return found[0]


def photo_set(inputs: Sequence[str], recursive: bool = False, out: Path | None = None,
              mask_folder: Path | None = None) -> list[PhotoEntry]:
    """Every photo of a run: file, index, unique output name and, with a mask folder, its mask (all found
    before any work: a missing one is an error naming it)."""
    photos = list_photos(inputs, recursive, out)
    names = output_names([path for path, _ in photos])
    entries = []
    for index, ((path, relative), name) in enumerate(zip(photos, names)):
        mask = mask_of(mask_folder, relative or Path(path.name)) if mask_folder is not None else None
        entries.append(PhotoEntry(path, index, name, mask, relative))
    return entries
