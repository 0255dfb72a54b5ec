"""One visitor of `bigprior app`: their photo, their restoration and their files, in a folder of their own.

No gradio here (the page is `server.py`), so the logic is tested without a browser. A restore runs the
functions `bigprior restore` runs (`task_degradation`, `check_photo`, `build_pipeline`, `restore_batch`,
`steering_from_args`, `write_restoration`) on flags parsed by restore's own parser (`restore_argv`), so
that the page's result is the CLI's bit for bit for the same photo, masks, models, seed and settings.
The drawn masks are written as the mask files the CLI reads; the archive holds every file restore writes
and the command line that writes them again.

The sliders re-blend the kept restoration (`Restoration.reblend`), never re-inverting; the page shows
images shrunk to `display_side` (the archive is at the photo's size).
"""

from __future__ import annotations

import re
import shlex
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from .. import imageio, restore
from ..degradations import read_mask
from ..demo import photo as demo_photo
from ..errors import BIGPriorError
from ..photo_set import PhotoEntry
from ..photos import probe_photo, read_rgb8
from ..pipeline import Progress
from ..restoration import Restoration, Steering, share_picture, steering_of
from ..writer import phi_heat, phi_overlay, thumbnail, write_restoration
from .models import Models

MAX_PIXELS = 16_000_000  # photos above this many pixels are refused (--max_pixels)
DISPLAY_SIDE = 1024  # the page shows images shrunk to fit this square
LIVE_SCORE_PIXELS = 2_000_000  # above it a re-blend shows mean phi only (PSNR/SSIM with the archive)
# the shown images' files: lossless WebP (its fastest method, ~4x quicker than Pillow's PNG) when they are the
# outputs' own pixels, JPEG for the previews of photos shrunk to display_side (the archive holds the PNGs)
EXACT_FORMAT = ("webp", {"format": "WEBP", "lossless": True, "method": 0, "quality": 0})
PREVIEW_FORMAT = ("jpg", {"format": "JPEG", "quality": 95})
KEPT_SHOWN = 4  # the shown images of this many latest views stay on disk (the page may still be loading them)
REGION_FLAGS = ("mask", "protect", "prior_region")  # restore's flags of the regions drawn on the photo (<name>_<flag>.png)


class SessionClosed(Exception):
    """The visitor closed the page: the run in flight stops at its next step."""


@dataclass(frozen=True)
class AppSettings:
    """What `bigprior app` was started with, the same for every visitor."""

    device: str = "auto"
    seed: int = 0
    iterations: int | None = None
    tile: int = 512
    weights_dir: str | None = None
    max_pixels: int = MAX_PIXELS
    display_side: int = DISPLAY_SIDE


@dataclass(frozen=True)
class RestoreRequest:
    """What a visitor asked for. `regions`: HxW bool masks drawn on the photo, by restore flag (mask:
    the holes, protect, prior_region); `generator`/`fusion_run`: a path the server offered, or None."""

    task: str
    degrade: bool = False
    generator: str | None = None
    fusion_run: str | None = None
    regions: dict[str, np.ndarray | None] = field(default_factory=dict)
    prior_strength: float = 1.0
    max_phi: float = 1.0


@dataclass
class View:
    """What the page shows of a restoration: uint8 images shrunk for display, and its scores as text."""

    restored: np.ndarray
    phi: np.ndarray
    overlay: np.ndarray
    shares: np.ndarray | None  # where each pixel comes from, for a multi-source fusion
    scores: str
    notes: list[str]
    exact: bool = True  # the images are the outputs' own pixels (not shrunk)


def safe_name(name: str) -> str:
    """A file name made of letters, digits, '.', '-' and '_' (the rest replaced), never hidden or empty."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".")
    return cleaned or "photo"


def restore_argv(request: RestoreRequest, settings: AppSettings, photo: Path, out: Path,
                 masks: dict[str, Path]) -> list[str]:
    """The `bigprior restore` flags of a request (parsed by restore's own parser: one flag vocabulary)."""
    argv = ["--task", request.task, "--input", str(photo), "--out", str(out), "--degrade", str(request.degrade),
            "--device", settings.device, "--seed", str(settings.seed), "--tile", str(settings.tile),
            "--prior_strength", repr(float(request.prior_strength)), "--max_phi", repr(float(request.max_phi))]
    if settings.iterations is not None:
        argv += ["--iterations", str(settings.iterations)]
    if settings.weights_dir:
        argv += ["--weights_dir", settings.weights_dir]
    if request.generator:
        argv += ["--gan_weights", request.generator]
    if request.fusion_run:
        argv += ["--fusion_run", request.fusion_run]
    for flag, path in masks.items():
        argv += [f"--{flag}", str(path)]
    return argv


def check_region(mask: np.ndarray | None, flag: str, size: tuple[int, int]) -> np.ndarray | None:
    """A drawn region as an HxW bool mask of the photo's `size` (width, height); None when nothing is drawn."""
    if mask is None:
        return None
    if mask.shape[:2] != (size[1], size[0]):
        raise BIGPriorError(f"the {flag.replace('_', ' ')} was drawn on a {mask.shape[1]}x{mask.shape[0]} canvas, off the "
                            f"{size[0]}x{size[1]} photo: draw it on the photo itself")
    return mask.astype(bool) if mask.any() else None


def scores_text(r: Restoration, full: bool, phi_mean: float | None = None) -> str:
    """A Markdown table of the scores (PSNR/SSIM... of the degraded input, each source and BIGPrior when
    the photo was degraded here) and the mean shares; `full=False`: mean phi only (a large photo's re-blend;
    `phi_mean` when the caller has it)."""
    if not full:
        phi_mean = float(r.phi.mean()) if phi_mean is None else phi_mean
        return f"mean phi {phi_mean:.3f} (PSNR and SSIM of this strength: make the archive)"
    scores = r.scores()
    lines = [f"mean phi {scores['phi_mean']:.3f}; shares: data {scores['data_share']:.2f}, classical "
             f"{scores['classical_share']:.2f}, generative {scores['generative_share']:.2f}"]
    labels = ["degraded", *(s.name for s in r.sources), "bigprior"]
    metrics = sorted({key.split("_", 1)[1] for key in scores if key.startswith("bigprior_")})
    if metrics:
        lines += ["", "| | " + " | ".join(m.upper() for m in metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(f"{scores.get(f'{label}_{m}', float('nan')):.4g}" for m in metrics) + " |"
                  for label in labels]
    return "\n".join(lines)


def channel_mean(image: np.ndarray) -> np.ndarray:
    """HxWxC -> HxW mean over the channels, added one channel at a time: numpy's mean over a last axis of
    3 is several times slower on a 12 MP map, for the same float32 sums ((a + b) + c) / 3."""
    total = image[..., 0].astype(np.float32)
    for c in range(1, image.shape[2]):
        total += image[..., c]
    return np.divide(total, image.shape[2], out=total)


def view_of(r: Restoration, side: int, full_scores: bool) -> View:
    """The shown images of a restoration: the written ones when the photo fits a side x side square,
    else previews shrunk to fit it."""
    fits = max(r.size) <= side
    phi_map = channel_mean(r.phi)
    scores = scores_text(r, full_scores, float(phi_map.mean()))
    restored = thumbnail(imageio.uint8_from_float(r.restored), side)
    heat = thumbnail(imageio.uint8_from_float(np.clip(phi_map, 0, 1, out=phi_map)), side)  # writer.phi_heat
    overlay = phi_overlay(r.restored if fits else imageio.float_from_uint8(restored), heat)
    shares = thumbnail(share_picture(r.kind_shares()), side) if len(r.sources) > 1 else None
    return View(restored, heat, overlay, shares, scores, list(r.notes), exact=fits)


class AppSession:
    """One visitor's photo and restoration, in `folder` (removed by `close`)."""

    def __init__(self, folder: Path, settings: AppSettings, models: Models) -> None:
        self.folder, self.settings, self.models = folder, settings, models
        folder.mkdir(parents=True)
        self.photo: Path | None = None
        self.base: Restoration | None = None  # as the networks made it
        self.shown: Restoration | None = None  # steered as the page says
        self.steering = Steering()
        self.request: RestoreRequest | None = None  # what made the restoration kept
        self.run_folder: Path | None = None
        self.run_photo: Path | None = None  # the photo it was made from (a new photo may have come since)
        self.archive: Path | None = None  # the zip of the restoration shown, when it is up to date
        self.closed = False
        self._told: set[str] = set()  # the notes of the kept restoration already shown
        self._shown: list[Path] = []  # the folders of the latest views' image files
        self._lock = threading.Lock()
        self._running = 0
        self._counter = 0

    # ---- the photo

    def take_upload(self, source: Path, label: str) -> np.ndarray:
        """Keep an uploaded file as the photo (checked: an image of at most max_pixels); returns it as shown."""
        label = safe_name(label or source.name)
        self._check_photo_file(source, label)
        return self._keep_photo(lambda path: shutil.copyfile(source, path), label)

    def take_demo(self, name: str) -> np.ndarray:
        """One of the demo's sample photos (scikit-image's) as the photo."""
        pixels = demo_photo(name)
        return self._keep_photo(lambda path: imageio.write_png(path, imageio.uint8_from_float(pixels)), f"{name}.png")

    def _check_photo_file(self, path: Path, label: str) -> None:
        try:
            header = probe_photo(path)
        except (BIGPriorError, Image.DecompressionBombError):
            raise BIGPriorError(f"{label}: not an image this app can read (PNG, JPEG, TIFF, WebP, BMP...), "
                                f"or one of more than {self.settings.max_pixels:,} pixels") from None
        width, height = header.size
        if width * height > self.settings.max_pixels:
            raise BIGPriorError(f"{label}: {width}x{height} is {width * height:,} pixels, more than this server's "
                                f"{self.settings.max_pixels:,} (--max_pixels); shrink the photo first")

    def _keep_photo(self, write: Callable[[Path], object], label: str) -> np.ndarray:
        with self._running_work():
            path = self._new_folder("photo") / label
            write(path)
            shown = read_rgb8(path, "--input ")
        with self._lock:
            self.photo, self.base, self.shown, self.archive = path, None, None, None
        return shown

    def _require_photo(self) -> Path:
        if self.photo is None:
            raise BIGPriorError("no photo yet: upload one or pick a sample photo")
        return self.photo

    # ---- restoring

    def restore(self, request: RestoreRequest, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, View, Path]:
        """Restore the photo as `bigprior restore` would with the request's flags; returns the shown input
        and prior, the view of the steered result and its archive."""
        photo = self._require_photo()
        request = replace(request, regions=self._checked_regions(request, photo),
                          generator=self.models.check(request.generator, "generator"),
                          fusion_run=self.models.check(request.fusion_run, "fusion run"))
        with self._running_work(), named_as(photo):
            run = self._new_folder("run")
            masks = write_regions(request.regions, photo.stem, run / "masks")
            args = restore.build_parser().parse_args(restore_argv(request, self.settings, photo, run / "out", masks))
            mask = read_mask(Path(args.mask)) if args.mask else None
            task, degradation = restore.task_degradation(args, mask)
            restore.check_photo(PhotoEntry(photo, 0, photo.stem), degradation, args.degrade)
            pipeline = restore.build_pipeline(args, task, degradation)
            _, restoration = next(restore.restore_batch(pipeline, degradation, args, [photo], [0], self._checked(progress)))
            steering = restore.steering_from_args(args, restoration.size)
            steered = restoration.reblend(steering)
            with self._lock:
                self.base, self.shown, self.steering, self.request, self.run_folder = restoration, steered, steering, request, run
                self.run_photo, self.archive, self._told = photo, None, set()
            side = self.settings.display_side
            shown_input = thumbnail(imageio.uint8_from_float(steered.observed()), side)
            view = self._untold(view_of(steered, side, True))
            return shown_input, thumbnail(steered.prior, side), view, self.make_archive()

    def _checked_regions(self, request: RestoreRequest, photo: Path) -> dict[str, np.ndarray | None]:
        """The drawn regions checked against the photo and the task (None: nothing drawn)."""
        size = probe_photo(photo).size
        unknown = set(request.regions) - set(REGION_FLAGS)
        if unknown:
            raise ValueError(f"unknown regions {sorted(unknown)}")
        regions = {flag: check_region(request.regions.get(flag), flag, size) for flag in REGION_FLAGS}
        if request.task == "inpaint" and regions["mask"] is None:
            raise BIGPriorError("inpainting needs the holes: draw them on the photo (the 'hole' layer) first")
        if request.task != "inpaint" and regions["mask"] is not None:
            raise BIGPriorError(f"holes are drawn for inpainting, not for the {request.task} task: erase them or pick inpaint")
        return regions

    def _checked(self, progress: Progress | None) -> Progress:
        """`progress`, after stopping the run (SessionClosed) when the visitor has gone."""
        def report(stage: str, done: int, total: int) -> None:
            if self.closed:
                raise SessionClosed("the page was closed")
            if progress is not None:
                progress(stage, done, total)
        return report

    # ---- steering

    def steer(self, prior_strength: float, max_phi: float,
              regions: dict[str, np.ndarray | None] | None = None) -> View:
        """Re-blend the kept restoration with a new strength and cap (`Restoration.reblend`, no network);
        `regions` (protect, prior_region) replace the drawn ones when given."""
        with self._lock:
            base, steering = self.base, self.steering
        if base is None:
            raise BIGPriorError("nothing to re-blend yet: restore the photo first")
        protect, prior = steering.protect, steering.prior_region
        if regions is not None:
            protect, prior = (check_region(regions.get(flag), flag, base.size) for flag in ("protect", "prior_region"))
        steering = steering_of(float(prior_strength), float(max_phi), protect, prior, base.size)
        steered = base.reblend(steering)
        with self._lock:
            if self.base is base:
                self.shown, self.steering, self.archive = steered, steering, None
        width, height = base.size
        return self._untold(view_of(steered, self.settings.display_side, width * height <= LIVE_SCORE_PIXELS))

    def _untold(self, view: View) -> View:
        """The view with only the notes not shown before for this restoration (a slider move repeats none)."""
        with self._lock:
            view.notes = [note for note in dict.fromkeys(view.notes) if note not in self._told]
            self._told.update(view.notes)
        return view

    # ---- files

    def shown_files(self, view: View) -> dict[str, Path | None]:
        """The view's images (restored, phi, overlay, shares) as files for the page to serve, written fast (a
        slider move's cost: EXACT_FORMAT, PREVIEW_FORMAT); the files of older views are removed."""
        suffix, options = EXACT_FORMAT if view.exact else PREVIEW_FORMAT
        with self._running_work():
            folder = self._new_folder("shown")
            files: dict[str, Path | None] = {}
            for kind in ("restored", "phi", "overlay", "shares"):
                image = getattr(view, kind)
                files[kind] = None if image is None else folder / f"{kind}.{suffix}"
                if image is not None:
                    Image.fromarray(image).save(files[kind], **options)
            with self._lock:
                self._shown.append(folder)
                old, self._shown = self._shown[:-KEPT_SHOWN], self._shown[-KEPT_SHOWN:]
            for stale in old:
                shutil.rmtree(stale, ignore_errors=True)
        return files

    def make_archive(self) -> Path:
        """A zip of every file `bigprior restore` writes for the restoration shown (at its steering), the
        photo, the drawn masks and `<name>_command.txt`: the command line that writes the same files."""
        with self._lock:
            shown, steering, request, ready = self.shown, self.steering, self.request, self.archive
            run, photo = self.run_folder, self.run_photo
        if shown is None or request is None or run is None or photo is None:
            raise BIGPriorError("nothing to download yet: restore the photo first")
        if ready is not None:
            return ready
        with self._running_work():
            return self._write_archive(shown, steering, request, run, photo)

    def _write_archive(self, shown: Restoration, steering: Steering, request: RestoreRequest, run: Path,
                       photo: Path) -> Path:
        out = self._new_folder("out", run)
        write_restoration(shown, restore.output_names([photo])[0], out, steering)
        regions = {**request.regions, "protect": steering.protect, "prior_region": steering.prior_region}
        masks = write_regions(regions, photo.stem, self._new_folder("masks", run))
        steered = replace(request, prior_strength=steering.prior_strength, max_phi=steering.max_phi)
        argv = restore_argv(steered, self.settings, photo, Path("results"), masks)
        archive = self._new_folder("zip", run) / f"{photo.stem}_bigprior.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in [photo, *sorted(out.iterdir()), *masks.values()]:
                zipped.write(path, path.name)
            zipped.writestr(f"{photo.stem}_command.txt", command_line(argv) + "\n")
        with self._lock:
            if self.shown is shown:
                self.archive = archive
        return archive

    # ---- the session's life

    def _new_folder(self, kind: str, parent: Path | None = None) -> Path:
        """A fresh folder of this session's (kind-1, kind-2, ...)."""
        with self._lock:
            if self.closed:
                raise SessionClosed("the page was closed")
            self._counter += 1
            folder = (parent or self.folder) / f"{kind}-{self._counter}"
        folder.mkdir(parents=True)
        return folder

    @contextmanager
    def _running_work(self) -> Iterator[None]:
        """Mark work in flight that writes into the folder, so that `close` leaves the folder to its end."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                remove = self.closed and not self._running
            if remove:
                shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        """The visitor has gone: stop their run at its next step and remove their files (now, or when the
        run in flight stops)."""
        with self._lock:
            self.closed = True
            self.base = self.shown = None
            running = self._running
        if not running:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def named_as(photo: Path) -> Iterator[None]:
    """Errors about the photo name it by its file name, not by the server's copy of it (`--input <path>`)."""
    try:
        yield
    except BIGPriorError as exc:
        raise BIGPriorError(str(exc).replace(f"--input {photo}", photo.name).replace(str(photo), photo.name)) from None


def write_regions(regions: dict[str, np.ndarray | None], stem: str, folder: Path) -> dict[str, Path]:
    """The drawn regions as restore's mask files, `<stem>_<flag>.png` (white = in the region), by flag."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for flag in REGION_FLAGS:
        if regions.get(flag) is not None:
            paths[flag] = folder / f"{stem}_{flag}.png"
            imageio.write_png(paths[flag], regions[flag].astype(np.uint8) * 255)
    return paths


def command_line(argv: list[str]) -> str:
    """A `bigprior restore` command line with its files named without their folders (they lie beside it)."""
    shown = list(argv)
    for flag in ("--input", *(f"--{flag}" for flag in REGION_FLAGS)):
        if flag in shown:
            shown[shown.index(flag) + 1] = Path(shown[shown.index(flag) + 1]).name
    return "bigprior restore " + shlex.join(shown)


class Sessions:
    """The visitors' sessions by key (the page's session id), each in a folder of its own under `root`."""

    def __init__(self, root: Path, settings: AppSettings, models: Models) -> None:
        self.root, self.settings, self.models = root, settings, models
        root.mkdir(parents=True, exist_ok=True)
        self._sessions: dict[str, AppSession] = {}
        self._closed: set[str] = set()  # a closed page's late events make no new session
        self._lock = threading.Lock()

    def get(self, key: str) -> AppSession:
        """The session of `key`, made on first use (its folder named at random, not by the key)."""
        with self._lock:
            if key in self._closed:
                raise SessionClosed("the page was closed")
            if key not in self._sessions:
                self._sessions[key] = AppSession(self.root / uuid.uuid4().hex, self.settings, self.models)
            return self._sessions[key]

    def close(self, key: str) -> None:
        with self._lock:
            session = self._sessions.pop(key, None)
            self._closed.add(key)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        for key in list(self._sessions):
            self.close(key)

    def __len__(self) -> int:
        return len(self._sessions)
