"""`bigprior restore`: restore photos with a generative prior and a fusion network, at their own size.

    bigprior restore --task denoise --input photo.png --out results/
    bigprior restore --task colorize --input photo.png --out results/ --degrade True

A photo is the observation (a grayscale or colour photo to colorize, a photo with holes and their
mask, a noisy photo), or with `--degrade True` a clean photo from which the observation is simulated,
and PSNR/SSIM against it are reported. The defaults are the built-in generator and fusion networks
(`bigprior.defaults`); `--gan_model/--gan_weights` and `--fusion_run` take others.

The generator works at its own resolution (64 px for the built-in one): the observation is brought to
it, the prior is made there and enlarged to the photo's size, and the fusion network runs on the
photo's own pixels (`bigprior.pipeline`). Every output and metric is at the photo's size. Photos are
read whatever their mode (16-bit, palette, CMYK...; transparency flattened onto white, EXIF orientation
applied); a grayscale photo is colour for inpainting (its grey replicated) but an error for denoising.

Folders and batches: `--input` takes files and folders (`--recursive`: subfolders too; `bigprior.photo_set`),
`--mask` one mask or a folder of masks matched by file name. Photos are inverted `--batch_size` at a time
(on a CPU side by side, each alone; on a GPU as one batch, halved when it does not fit) and fused one by one.
A rerun of the same command resumes: photos whose outputs are complete are skipped, and a rerun with other
settings is refused with a line naming the flag that differs (`bigprior.restore_folder`). A photo that cannot
be restored (unreadable, of the wrong kind for the task, without data) is reported in one line and the others
go on; the run then ends with exit status 2. `<out>/summary.csv` has a row per photo. Under
`torchrun --nproc_per_node=N [--nnodes M ...] code/restore.py ...` the processes share the photos.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import imageio
from .defaults import load_defaults
from .degradations import Degradation, Observation, read_mask, restore_class, restore_verbs
from .distributed import ProcessShare, barrier, gather_objects, process_group
from .errors import BIGPriorError
from .generators import load_generator
from .inversion.spaces import LATENT_SPACES
from .photos import Photo, PhotoHeader, probe_photo, read_photo
from .photo_set import PhotoEntry, output_names, photo_set
from .pipeline import INVERSION_STAGE, PIPELINE_PRECISIONS, Pipeline, Progress, simulate
from .progress import progress_bar
from .restoration import Restoration, Steering, steering_of
from .restore_folder import (FAILED, RESTORED, PhotoRow, check_settings, is_complete, run_settings,
                             summary_line, write_settings, write_summary)
from .writer import OUTPUT_KINDS, check_output_folder, write_restoration
from .runtime import resolve_device, return_large_frees
from .commandline import add_runtime_flags, str2bool
from .zoo import add_weights_dir_flag, resolve_generator_path

BATCH = 8  # photos read, inverted and written at a time, at most (--batch_size)
BATCH_PIXELS = 16_000_000  # and at most this many pixels (a 4000x3000 photo goes alone)

__all__ = ["build_parser", "observation_of", "task_degradation", "build_pipeline", "restore_batch", "main",
           "output_names"]


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# a photo: its observation, its checks before any work


def observation_of(photo: Photo, degradation: Degradation, degrade: bool, index: int, seed: int,
                   reference_side: int) -> tuple[Observation, np.ndarray | None]:
    """The observation of a photo, and its ground truth when it is degraded here."""
    degradation.check_photo(photo.size[1], photo.size[0], photo.is_gray, degrade, str(photo.path))
    if degrade:
        observation, clean = simulate(degradation, photo.pixels, index, seed, reference_side), photo.pixels
    else:
        observation, clean = degradation.observe_photo(imageio.hwc_to_chw(photo.pixels), index, seed, str(photo.path)), None
    observation.notes[:0] = photo.notes
    return observation, clean


def check_photo(entry: PhotoEntry, degradation: Degradation, degrade: bool) -> PhotoHeader:
    """A photo's header, checked for the task before any model is loaded (and its own mask's size)."""
    header = probe_photo(entry.path)
    width, height = header.size
    degradation.check_photo(height, width, header.is_gray, degrade, str(entry.path))
    if entry.mask is not None:
        mask = probe_photo(entry.mask)
        if mask.size != header.size:
            raise BIGPriorError(f"--mask {entry.mask}: the mask is {mask.size[0]}x{mask.size[1]} but {entry.path} "
                                f"is {width}x{height}")
    return header


def plan_batches(entries: Sequence[PhotoEntry], headers: dict[int, PhotoHeader], batch_size: int) -> list[list[int]]:
    """Batches (photo indices, in order) of at most `batch_size` photos and BATCH_PIXELS pixels."""
    batches: list[list[int]] = [[]]
    pixels = 0
    for entry in entries:
        width, height = headers[entry.index].size
        if batches[-1] and (len(batches[-1]) == batch_size or pixels + width * height > BATCH_PIXELS):
            batches.append([])
            pixels = 0
        batches[-1].append(entry.index)
        pixels += width * height
    return [batch for batch in batches if batch]


def format_table(rows: Sequence[tuple[str, dict]]) -> str:
    """One line per photo: size, prior resolution, mean phi and, when degraded here, PSNR and SSIM."""
    degrade = "bigprior_psnr" in rows[0][1]
    header = f"{'image':16s} {'size':>10s} {'prior':>6s} {'mean phi':>8s}"
    if degrade:
        header += f" {'degraded':>9s} {'prior':>7s} {'BIGPrior':>9s} (PSNR dB)  {'degraded':>8s} {'prior':>6s} {'BIGPrior':>8s} (SSIM)"
    lines = [header]
    for name, s in rows:
        line = f"{name:16s} {s['width']:>4d}x{s['height']:<5d} {s['prior_resolution']:>4d}px {s['phi_mean']:8.3f}"
        if degrade:
            line += (f" {s['degraded_psnr']:9.2f} {s['prior_psnr']:7.2f} {s['bigprior_psnr']:9.2f}           "
                     f"{s['degraded_ssim']:8.4f} {s['prior_ssim']:6.4f} {s['bigprior_ssim']:8.4f}")
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the command's parts the app shares


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior restore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help=f"one of {', '.join(restore_verbs())}")
    parser.add_argument("--input", required=True, nargs="+",
                        help="photos and folders of photos to restore (a folder: its image files, sorted)")
    parser.add_argument("--recursive", action="store_true", help="folders of --input: their subfolders too")
    parser.add_argument("--out", required=True,
                        help="output folder; a rerun of the same command resumes (complete photos are skipped); "
                             "one made with other settings is refused with a line naming the flag that differs "
                             "(use another --out)")
    parser.add_argument("--degrade", type=str2bool, default=False,
                        help="True: the input is clean; simulate the degradation and report PSNR/SSIM")
    parser.add_argument("--mask", default=None,
                        help="inpainting: a mask (white = missing) of the photos' size for every photo, or a folder of "
                             "masks named as the photos (default: centre hole)")
    parser.add_argument("--random_mask", type=str2bool, default=False, help="with --degrade: random rectangular holes")
    parser.add_argument("--keep_known", type=str2bool, default=True,
                        help="inpainting: paste the known pixels back exactly (default True)")
    parser.add_argument("--gan_model", default=None, help="a published generator's name instead of the built-in one")
    add_weights_dir_flag(parser)
    parser.add_argument("--gan_weights", default=None, help="a generator weights file instead of the built-in one")
    parser.add_argument("--fusion_run", default=None, help="a fusion run folder (net_data/<exp>_<ID>) instead of the built-in network")
    parser.add_argument("--fusion_epoch", type=int, default=None, help="checkpoint epoch of --fusion_run (default: the one its test_epoch_rule picks, else the last)")
    parser.add_argument("--iterations", type=int, default=None, help="inversion steps (default: the built-in setting)")
    parser.add_argument("--latent_space", choices=LATENT_SPACES, default=None,
                        help="inversion latent space (default: the built-in setting's multi); z, w, w+ for StyleGAN2 priors")
    parser.add_argument("--tile", type=int, default=512, help="side of the tiles the fusion runs in (bounds memory)")
    parser.add_argument("--batch_size", type=int, default=BATCH,
                        help=f"photos inverted together, at most (default {BATCH}; and at most {BATCH_PIXELS // 10**6} "
                             "megapixels); on a GPU halved when it does not fit; results do not depend on it")
    parser.add_argument("--precision", choices=PIPELINE_PRECISIONS, default="default",
                        help="default: the fast path (CPU workers, folded fusion network; equal to fp32 up to float "
                             "rounding); fp32: strict float32, bit for bit the computation before those speed-ups")
    add_steering_flags(parser)
    add_runtime_flags(parser)
    return parser


def add_steering_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that steer the generative share (`restoration.Steering`), for restore and reblend."""
    group = parser.add_argument_group("steering the prior's share (phi: in the multi-source fusion, the generative share)")
    group.add_argument("--prior_strength", type=float, default=1.0, help="phi' = S * phi (default 1: as the network says)")
    group.add_argument("--max_phi", type=float, default=1.0, help="phi' <= C, in [0, 1] (default 1)")
    group.add_argument("--protect", default=None, help="mask image (white = region), the photo's size: phi' = 0 there")
    group.add_argument("--prior_region", default=None, help="mask image (white = region), the photo's size: phi' = 1 there")


def steering_from_args(args: argparse.Namespace, size: tuple[int, int]) -> Steering:
    """The steering of a photo of `size` (width, height) from the flags (masks read and checked)."""
    masks = [read_mask(Path(path))[0].numpy() > 0.5 if path else None for path in (args.protect, args.prior_region)]
    return steering_of(args.prior_strength, args.max_phi, *masks, size)


def task_degradation(args: argparse.Namespace, mask: torch.Tensor | None, *,
                     mask_folder: bool = False) -> tuple[str, Degradation]:
    """The task (experiment prefix) whose networks restore `--task`, and its degradation (with `mask_folder`
    each photo's own mask is given to it later: `Degradation.with_mask`)."""
    varied = mask is not None or mask_folder or args.random_mask
    cls = restore_class(args.task, varied_masks=varied)
    if varied and not cls.has_mask:
        raise BIGPriorError(f"--mask and --random_mask are for masked tasks, not --task {args.task}")
    if args.random_mask and not args.degrade:
        raise BIGPriorError("--random_mask True needs --degrade True (the holes of a degraded photo are given with --mask)")
    if args.random_mask and mask_folder:
        raise BIGPriorError("--random_mask True makes its own holes: give no --mask folder")
    degradation = load_defaults().task(cls.task).make_degradation()
    return cls.task, degradation if mask is None else degradation.with_mask(mask)


def build_pipeline(args: argparse.Namespace, task: str, degradation: Degradation,
                   device: torch.device | None = None) -> Pipeline:
    device = device or resolve_device(args.device)
    options = {"degradation": degradation, "device": device, "iterations": args.iterations, "seed": args.seed,
               "latent_space": args.latent_space, "keep_known": args.keep_known, "tile": args.tile,
               "precision": getattr(args, "precision", "default")}
    custom = args.gan_model or args.gan_weights
    generator = load_generator(resolve_generator_path(args.gan_model, args.gan_weights, args.weights_dir)) if custom else None
    if args.fusion_run:
        return Pipeline.from_files(task, generator or load_defaults().generator_file, args.fusion_run,
                                   epoch=args.fusion_epoch, **options)
    return Pipeline.from_defaults(task, generator=generator, **options)


def restore_batch(pipeline: Pipeline, degradation: Degradation, args: argparse.Namespace, paths: Sequence[Path],
                  batch: Sequence[int], progress: Progress | None = None, *,
                  degradations: dict[int, Degradation] | None = None,
                  on_error: Callable[[int, BIGPriorError], None] | None = None) -> Iterator[tuple[int, Restoration]]:
    """(position, restoration) of the photos of one batch (positions in `paths`, each its random streams),
    each read and degraded once, inverted together, fused one by one; not yet steered (`Restoration.reblend`).
    `degradations` gives photos their own (a mask of their own). A photo that cannot be read or observed
    raises its BIGPriorError, or with `on_error` is handed to it and left out. The app calls it too."""
    made, kept = [], []
    for index in batch:
        try:
            photo = read_photo(paths[index])
            own = (degradations or {}).get(index, degradation)
            made.append(observation_of(photo, own, args.degrade, index, args.seed, pipeline.reference_side))
        except BIGPriorError as error:
            if on_error is None:
                raise
            on_error(index, error)
            continue
        kept.append(index)
        if (note := pipeline.scale_warning(*photo.size)) is not None:
            made[-1][0].notes.append(note)
    restored = pipeline.restore_all([o for o, _ in made], [c for _, c in made], batch_size=len(kept) or 1,
                                    indices=kept, progress=progress)
    del made
    yield from zip(kept, restored)


# ---------------------------------------------------------------------------------------------
# the run: which photos, the progress, each batch, the summary


@dataclass
class RunPlan:
    """What a run restores: every photo of the command, the headers of those to restore, the rows known
    before any work (complete before, failed their checks) and the photos to restore (all processes')."""

    entries: list[PhotoEntry]
    headers: dict[int, PhotoHeader] = field(default_factory=dict)
    rows: list[PhotoRow] = field(default_factory=list)
    pending: list[PhotoEntry] = field(default_factory=list)


def plan_run(args: argparse.Namespace, out: Path, degradation: Degradation, resumable: bool,
             mask_folder: Path | None) -> RunPlan:
    """Every photo found and checked from its header before any model is loaded; when none can be
    restored (and none was before), the run stops here with its reason."""
    plan = RunPlan(photo_set(args.input, args.recursive, out, mask_folder))
    for entry in plan.entries:
        if resumable and is_complete(out, entry.name):
            plan.rows.append(PhotoRow.complete(out, entry.name, entry.path))
            continue
        try:
            plan.headers[entry.index] = check_photo(entry, degradation, args.degrade)
            plan.pending.append(entry)
        except BIGPriorError as error:
            plan.rows.append(PhotoRow(entry.name, str(entry.path), FAILED, error=str(error)))
    failed = [row for row in plan.rows if row.status == FAILED]
    if failed and len(failed) == len(plan.entries):
        if len(failed) == 1:
            raise BIGPriorError(failed[0].error)
        for row in failed[:-1]:
            print(f"skipped: {row.error}", file=sys.stderr)
        raise BIGPriorError(f"none of the {len(failed)} photos can be restored; the last: {failed[-1].error}")
    return plan


class RestoreProgress:
    """The bar of the photos and, below it, the bar of the current stage (inversion image-steps, fusion
    tiles); it also notes when the current batch's inversion ended (for the photos' seconds)."""

    def __init__(self, total: int, enabled: bool, desc: str = "photos") -> None:
        self.photos = progress_bar(total=total, desc=desc, unit="photo", disable=not enabled, position=0)
        self.steps = progress_bar(total=1, desc=INVERSION_STAGE, disable=not enabled, leave=False, position=1)
        self.stage: str | None = None
        self.inverted_at: float | None = None
        self.lock = threading.Lock()

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self.lock:
            if stage != self.stage or total != self.steps.total or done < self.steps.n:
                self.stage = stage
                self.steps.set_description(stage, refresh=False)
                self.steps.reset(total=total)
            self.steps.update(done - self.steps.n)
            if stage == INVERSION_STAGE and done == total:
                self.inverted_at = time.perf_counter()

    def close(self) -> None:
        self.steps.close()
        self.photos.close()


class PhotoWriter:
    """Steers, writes and accounts for each restored photo; the folder's settings are written before its
    first photo (so a folder that holds outputs says how they were made)."""

    def __init__(self, args: argparse.Namespace, out: Path, settings: dict) -> None:
        self.args, self.out, self.settings, self.settings_written = args, out, settings, False

    def write(self, entry: PhotoEntry, r: Restoration, seconds: Callable[[], float]) -> PhotoRow:
        try:
            steering = steering_from_args(self.args, r.size)
            r = r.reblend(steering)
            for note in r.notes:
                warn(note)
            if not self.settings_written:
                write_settings(self.out, self.settings)
                self.settings_written = True
            write_restoration(r, entry.name, self.out, steering)
        except BIGPriorError as error:
            return self.failed(entry, error)
        return PhotoRow.of_scores(entry.name, entry.path, RESTORED, r.scores(), seconds())

    @staticmethod
    def failed(entry: PhotoEntry, error: BIGPriorError) -> PhotoRow:
        print(f"skipped: {error}", file=sys.stderr)
        return PhotoRow(entry.name, str(entry.path), FAILED, error=str(error))


def own_degradations(batch: list[PhotoEntry], degradation: Degradation, rows: list[PhotoRow]) -> dict[int, Degradation]:
    """The degradation of each photo with a mask of its own (a failed mask read is the photo's failure, and
    leaves it out of the batch)."""
    own = {}
    for entry in list(batch):
        if entry.mask is not None:
            try:
                own[entry.index] = degradation.with_mask(read_mask(entry.mask))
            except BIGPriorError as error:
                rows.append(PhotoWriter.failed(entry, error))
                batch.remove(entry)
    return own


def restore_one_batch(pipeline: Pipeline, degradation: Degradation, args: argparse.Namespace, plan: RunPlan,
                      batch: list[PhotoEntry], writer: PhotoWriter, progress: RestoreProgress) -> list[PhotoRow]:
    """Restore and write one batch; a photo's seconds are its share of the batch's inversion and its own
    fusion and writing."""
    rows: list[PhotoRow] = []
    own = own_degradations(batch, degradation, rows)
    by_index = {entry.index: entry for entry in batch}
    paths = [entry.path for entry in plan.entries]
    started = last = time.perf_counter()
    progress.inverted_at = None

    def on_error(index: int, error: BIGPriorError) -> None:
        rows.append(PhotoWriter.failed(by_index[index], error))
        progress.photos.update(1)

    for index, r in restore_batch(pipeline, degradation, args, paths, list(by_index), progress,
                                  degradations=own, on_error=on_error):
        inverted = progress.inverted_at or started
        begun = max(last, inverted)
        rows.append(writer.write(by_index[index], r, lambda: (inverted - started) / len(batch) + time.perf_counter() - begun))
        last = time.perf_counter()
        progress.photos.update(1)
    return rows


def restore_pending(args: argparse.Namespace, out: Path, task: str, degradation: Degradation, plan: RunPlan,
                    settings: dict, share: ProcessShare) -> list[PhotoRow]:
    """This process's share of the photos to restore (by position), in batches; its rows."""
    mine = plan.pending[share.rank :: share.world]
    if not mine:
        return []
    pipeline = build_pipeline(args, task, degradation, share.device(resolve_device(args.device)))
    desc = "photos" if share.world == 1 else f"photos (process 0 of {share.world})"
    progress, writer, rows = RestoreProgress(len(mine), share.rank == 0, desc), PhotoWriter(args, out, settings), []
    try:
        for indices in plan_batches(mine, plan.headers, args.batch_size):
            batch = [entry for entry in mine if entry.index in indices]
            rows += restore_one_batch(pipeline, degradation, args, plan, batch, writer, progress)
    finally:
        progress.close()
    return rows


def finish(plan: RunPlan, rows: list[PhotoRow], out: Path, seconds: float, share: ProcessShare) -> list[tuple[str, dict]]:
    """The summary (rank 0: summary.csv when the folder exists, the table, one line); a run in which a photo
    failed ends with an error (exit status 2) after it."""
    order = {entry.name: entry.index for entry in plan.entries}
    rows = sorted(plan.rows + rows, key=lambda row: order[row.name])
    restored = [(row.name, row.scores) for row in rows if row.status == RESTORED]
    failed = [row for row in rows if row.status == FAILED]
    if share.rank == 0:
        summary = write_summary(out, rows) if out.is_dir() else None
        if restored:
            print(format_table(restored))
            print(f"outputs: {out}/<name>_{{{','.join(OUTPUT_KINDS)}}}.png, <name>_metrics.json, <name>_phi.npy and "
                  "<name>_restoration.npz (`bigprior reblend` reads them)")
        print(summary_line(rows, seconds, share.world) + (f"; {summary}" if summary else ""))
    if failed:
        if share.rank != 0:
            raise SystemExit(2)
        raise BIGPriorError(f"{len(failed)} of {len(rows)} photos failed (the last: {failed[-1].error})")
    return restored


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (torchrun stopping the other processes when one fails) ends this one as Ctrl-C does, so the
    files it was writing are not left behind as temporary files (the previous handler is put back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> list[tuple[str, dict]]:
    args = build_parser().parse_args(argv)
    with _stop_on_sigterm():
        return run(args)


def run(args: argparse.Namespace) -> list[tuple[str, dict]]:
    """The command: check, plan, restore this process's share, sum up (`main` parses the flags)."""
    started = time.perf_counter()
    return_large_frees()
    out = Path(args.out)
    check_output_folder(out)
    if args.batch_size < 1:
        raise BIGPriorError(f"--batch_size must be at least 1, got {args.batch_size}")
    mask_path = Path(args.mask) if args.mask else None
    mask_folder = mask_path if mask_path is not None and mask_path.is_dir() else None
    mask = read_mask(mask_path) if mask_path is not None and mask_folder is None else None
    task, degradation = task_degradation(args, mask, mask_folder=mask_folder is not None)
    settings, share = run_settings(args), ProcessShare.from_environment()
    with process_group(share):
        plan = plan_run(args, out, degradation, check_settings(out, settings), mask_folder)
        barrier(share)  # every process has seen the same complete photos before any writes one
        for row in plan.rows if share.rank == 0 else ():
            if row.status == FAILED:  # the others go on
                print(f"skipped: {row.error}", file=sys.stderr)
        rows = restore_pending(args, out, task, degradation, plan, settings, share)
        rows = [row for part in gather_objects(rows, share) for row in part]
    return finish(plan, rows, out, time.perf_counter() - started, share)
