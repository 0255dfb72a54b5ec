"""The parts of `gpu_check/check.py`: each runs the project's own scripts under a time limit and
returns its report section (see gpu_check.py for what each measures and why)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import pack_data
from .runner import ROOT, Context, Section, output_lines, run_commands, run_one

COL_VARIANTS = ("extendFalse", "extendTrue", "bounded")  # results/col_bedroom_from_scratch/run.sh's
COL_PRECISION = "bf16"  # col_bedroom runs in the fastest mode; the fusion part shows what each mode costs
PAPER_FUSION = ["--experiment", "col_bedroom", "--lr", "0.01", "--batch_size", "8", "--backbone", "D",
                "--phi_weight", "1e-5"]
SMOKE_IMAGES, SMOKE_TRAIN, SMOKE_SIZE = 12, 8, 32
FULL_TRAIN = 250


def train_count(ctx: Context) -> int:
    return SMOKE_TRAIN if ctx.smoke else FULL_TRAIN


def experiment_dir(ctx: Context) -> Path:
    return ctx.paper / "inter_data" / "col_bedroom"


# ---------------------------------------------------------------------------------------------
# data


def synthetic_source(folder: Path) -> Path:
    """A col_bedroom-shaped experiment of small smooth images (GT, luma input, noisy prior) for --smoke."""
    rng = np.random.default_rng(0)
    for i in range(SMOKE_IMAGES):
        coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
        gt = np.asarray(coarse.resize((SMOKE_SIZE, SMOKE_SIZE), Image.BICUBIC))
        prior = np.clip(gt.astype(np.int16) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
        for sub, image in (("GT", Image.fromarray(gt)), ("input", Image.fromarray(gt).convert("L")),
                           ("mGANoutput", Image.fromarray(prior))):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            image.save(folder / sub / f"{i}.png")
    return folder


def part_data(ctx: Context, limit: float) -> Section:
    """Unpack the packed col_bedroom copy, pixels checked (smoke: pack a synthetic one first, same packer)."""
    section = Section("Data")
    data = ctx.data
    try:
        if ctx.smoke:
            data = ctx.work / "gpu_data"
            size = pack_data.pack(synthetic_source(ctx.work / "source" / "col_bedroom"), data, workers=1)
            section.lines.append(f"synthetic data packed: {size / 1024:.0f} KiB")
        count = pack_data.unpack(data, ctx.paper / "inter_data", workers=1 if ctx.smoke else os.cpu_count() or 1)
        section.lines.append(f"{count} images unpacked from {data} and checked")
    except SystemExit as exc:  # the packer's one-line errors
        section.status = f"failed: {exc}"
    return section


# ---------------------------------------------------------------------------------------------
# inversion


@dataclass(frozen=True)
class InversionMode:
    name: str
    flags: tuple[str, ...]
    check: bool = False  # the float32 agreement with the reference loop
    smoke: bool = True  # compiling takes minutes on a CPU: compiled modes are left out of --smoke


INVERSION_MODES = {
    "fp32": InversionMode("strict fp32, folded", ("--precision", "fp32", "--fold"), check=True),
    "bf16": InversionMode("bf16 autocast, channels-last, folded",
                          ("--precision", "bf16", "--channels_last", "--fold", "--compare_bf16")),
    "bf16-compiled": InversionMode("bf16, channels-last, folded, torch.compile",
                                   ("--precision", "bf16", "--channels_last", "--fold", "--compile"), smoke=False),
    "fp32-compiled": InversionMode("strict fp32, folded, torch.compile", ("--precision", "fp32", "--fold", "--compile"),
                                   smoke=False),
}
RATE = re.compile(r"^(?P<setting>\w+): layer \d+, \d+ codes, vgg [0-9.]+: reference (?P<reference>[0-9.]+) image-steps/s "
                  r"\((?P<ms>\d+) ms per step\), batched (?P<rate>[0-9.]+) image-steps/s: (?P<speedup>[0-9.]+)x"
                  r"(, peak memory (?P<memory>[0-9.]+) GiB)?")


def inversion_sizes(ctx: Context, check: bool) -> list[str]:
    if ctx.smoke:
        sizes = ["--resolution", "32", "--fmaps_max", "32", "--batch_size", "2", "--steps", "1", "--warmup", "1",
                 "--reference_steps", "1", "--threads", "1"]
    else:
        sizes = ["--batch_size", "64", "--steps", "20", "--warmup", "3", "--reference_steps", "10"]
    return [*sizes, "--check_steps", ("2" if ctx.smoke else "50") if check else "0", "--stylegan2", ""]  # PGGAN only


def inversion_rows(key: str, mode: InversionMode, output: str) -> tuple[list[str], dict[str, float]]:
    """Table rows (and goal numbers) of the benchmark's lines: a rate line per setting, its notes below it."""
    rows, numbers, row = [], {}, None
    for line in output.splitlines():
        match = RATE.match(line)
        if match:
            if row:
                rows.append(row + " |")
            numbers[f"inversion.{key}.{match['setting']}"] = float(match["rate"])
            row = (f"| {match['setting']} | {mode.name} | {match['reference']} ({match['ms']} ms/step) | {match['rate']} | "
                   f"{match['speedup']}x | {match['memory'] or '-'} |")
        elif row and line.startswith("  "):
            row += " " + line.strip().replace("|", "\\|") + ";"
    return rows + ([row + " |"] if row else []), numbers


def inversion_part(key: str) -> Callable[[Context, float], Section]:
    mode = INVERSION_MODES[key]

    def part(ctx: Context, limit: float) -> Section:
        command = [ctx.python, "benchmarks/inversion.py", "--device", ctx.device, *mode.flags, *inversion_sizes(ctx, mode.check)]
        finished = run_one(ctx, f"inversion_{key}", command, limit)
        section = Section(f"Inversion (benchmarks/inversion.py), {mode.name}")
        rows, section.numbers = inversion_rows(key, mode, finished.output)
        if rows:
            section.lines = ["| setting | mode | one-image reference, image-steps/s | batched, image-steps/s | speed-up | "
                             "peak memory, GiB | checks |", "| --- | --- | --- | --- | --- | --- | --- |", *rows]
        section.lines += output_lines(finished, lambda line: line.startswith("device "))
        section.add_failures({command[1]: finished})
        return section

    return part


# ---------------------------------------------------------------------------------------------
# fusion


EPOCH_LINE = re.compile(r"^(?P<label>\S.*?)\s+(?P<seconds>[0-9.]+) s/epoch$")


def part_fusion_epoch(ctx: Context, limit: float) -> Section:
    """benchmarks/fusion_epoch.py at the paper's scale: the release-style loop and the project's modes."""
    sizes = ["--images", "6", "--size", "16", "--layers", "3", "--batch_size", "2", "--epochs", "2", "--threads", "1"]
    command = [ctx.python, "benchmarks/fusion_epoch.py", "--device", ctx.device, *(sizes if ctx.smoke else [])]
    finished = run_one(ctx, "fusion_epoch", command, limit)
    section = Section("Fusion: time per training epoch (benchmarks/fusion_epoch.py)")
    rows = [match for match in map(EPOCH_LINE.match, finished.output.splitlines()) if match]
    if rows:
        section.lines = ["| loop | s/epoch (median after the first) |", "| --- | --- |",
                         *(f"| {m['label']} | {m['seconds']} |" for m in rows)]
        project = [float(m["seconds"]) for m in rows if m["label"].startswith("this project")]
        section.numbers = {"fusion.fastest": min(project)} if project else {}
    section.lines += output_lines(finished, lambda line: line.startswith(("device", "max |weight|")))
    section.add_failures({"fusion_epoch.py": finished})
    return section


def link_experiment(ctx: Context, workspace: Path) -> Path:
    """A workspace whose inter_data/col_bedroom links the unpacked files one by one (as run.sh does)."""
    source = experiment_dir(ctx)
    for sub in ("GT", "input", "mGANoutput"):
        target = workspace / "inter_data" / "col_bedroom" / sub
        target.mkdir(parents=True, exist_ok=True)
        for file in (source / sub).iterdir():
            (target / file.name).symlink_to(file.resolve())
    return workspace


def col_runs(ctx: Context) -> dict[str, list[str]]:
    """One run.sh per (seed, variant), seed by seed, each in its own workspace (runs start together)."""
    settings = {"EPOCHS": "2" if ctx.smoke else "50", "CROP": "0", "DEVICE": ctx.device, "PRECISION": COL_PRECISION,
                "PAPER": str(ctx.paper), "TRAIN_COUNT": str(train_count(ctx))}
    runs = {}
    for seed in ("0",) if ctx.smoke else ("0", "1", "2"):
        for variant in COL_VARIANTS:
            workspace = ctx.work / "col" / f"seed{seed}_{variant}"
            values = {**settings, "SEEDS": seed, "VARIANTS": variant, "COLLECT": "False"}
            runs[f"col_seed{seed}_{variant}"] = ["env", *(f"{k}={v}" for k, v in values.items()), "bash",
                                                      "results/col_bedroom_from_scratch/run.sh", str(workspace)]
    return runs


def col_numbers(lines: list[str]) -> dict[str, float]:
    """PSNR and AuC of each finished run (runs.txt lines: tag, run folder, seconds) from its metrics.json."""
    numbers = {}
    for line in lines:
        tag, run, _ = line.split()
        mean = json.loads((ROOT / run / "metrics.json").read_text())["mean"]["bigprior"]
        numbers[f"col.{tag}.psnr"], numbers[f"col.{tag}.auc"] = mean["psnr"], mean["auc"]
    for variant in COL_VARIANTS:
        for metric in ("psnr", "auc"):
            values = [v for k, v in numbers.items() if k.startswith("col.seed") and k.endswith(f"_{variant}.{metric}")]
            if values:
                numbers[f"col.{variant}.mean_{metric}"] = sum(values) / len(values)
    return numbers


def part_col_bedroom(ctx: Context, limit: float) -> Section:
    """col_bedroom from scratch: every seed and variant (3 at a time on the GPU), then collect.py's table."""
    runs = col_runs(ctx)
    finished = run_commands(ctx, runs, limit - 20, parallel=2 if ctx.smoke else 3,
                            env={"OMP_NUM_THREADS": "1" if ctx.smoke else "4"})
    together = ctx.work / "col" / "all"
    together.mkdir(parents=True, exist_ok=True)
    lines = [line for name in runs for line in _read_lines(ctx.work / "col" / name.removeprefix("col_") / "runs.txt")]
    (together / "runs.txt").write_text("".join(f"{line}\n" for line in lines))
    section = Section(f"col_bedroom trained from scratch ({'2 epochs, toy data' if ctx.smoke else '50 epochs, whole images'}, "
                      f"--precision {COL_PRECISION})")
    if lines:
        table = ctx.work / "col_bedroom_table.md"
        collected = run_one(ctx, "col_collect", [ctx.python, "results/col_bedroom_from_scratch/collect.py", str(together),
                                                 str(table)], 20)
        finished["collect"] = collected
        section.lines = table.read_text().splitlines() if collected.ok else []
        section.numbers = col_numbers(lines)
    section.lines.append(f"{len(lines)} of {len(runs)} runs finished; the runs shared the device "
                         f"({'2' if ctx.smoke else '3'} at a time), so their wall times are not per-run costs.")
    section.add_failures(finished)
    return section


def _read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


# ---------------------------------------------------------------------------------------------
# resume and torchrun


def resume_sizes(ctx: Context) -> list[str]:
    epochs, crop = ("3", "0") if ctx.smoke else ("3", "128")
    return [*PAPER_FUSION, "--epochs", epochs, "--crop_size", crop, "--precision", "fp32", "--seed", "0",
            "--device", ctx.device, "--train_count", str(train_count(ctx))]


def kill_after_first_epoch(ctx: Context, workspace: Path, limit: float) -> tuple[Path | None, str]:
    """Start a training run and SIGKILL it as soon as its first epoch's train state is written; returns the
    run folder and what was there when it was killed."""
    log = open(ctx.work / "logs" / "resume_killed.log", "w")
    command = [ctx.python, "code/train.py", "--root", str(workspace), *resume_sizes(ctx)]
    process = subprocess.Popen(command, cwd=ROOT, env=ctx.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stop, states = time.monotonic() + limit, []
    while process.poll() is None and time.monotonic() < stop:
        states = list(workspace.glob("net_data/col_bedroom_*/train_state.pth"))
        if states:
            break
        time.sleep(0.02)
    checkpoints = sorted(p.name for p in workspace.glob("net_data/col_bedroom_*/net_*.pth"))
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    log.close()
    what = f"killed (exit {process.returncode}) with {', '.join(checkpoints) or 'no checkpoint'} written"
    return (states[0].parent if states else None), what


def weight_difference(a: Path, b: Path) -> float:
    left, right = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
    return max(float((left[k].double() - right[k].double()).abs().max()) for k in left)


def part_resume(ctx: Context, limit: float) -> Section:
    """The same short run twice: once uninterrupted, once killed after its first epoch and resumed."""
    workspaces = {name: link_experiment(ctx, ctx.work / "resume" / name) for name in ("uninterrupted", "killed")}
    started = time.monotonic()
    section = Section("Fusion run killed after its first epoch and resumed (strict fp32, 3 epochs)")
    with ThreadPoolExecutor(max_workers=1) as pool:  # the uninterrupted run beside the one to be killed
        uninterrupted = pool.submit(run_one, ctx, "resume_uninterrupted", [ctx.python, "code/train.py", "--root",
                                    str(workspaces["uninterrupted"]), *resume_sizes(ctx)], limit / 2)
        run, what = kill_after_first_epoch(ctx, workspaces["killed"], limit / 2)
        finished = {"uninterrupted": uninterrupted.result()}
    if run is None:
        section.status = f"the run wrote no train state before its time ({what})"
        return section
    left = limit - (time.monotonic() - started)
    finished["resumed"] = run_one(ctx, "resume_resumed", [ctx.python, "code/train.py", "--root", str(workspaces["killed"]),
                                                          "--resume", str(run.relative_to(workspaces["killed"])),
                                                          "--device", ctx.device], left)
    section.lines = [f"- first run {what}", *(f"- {name}: {result.status()} in {result.seconds:.1f} s"
                                             for name, result in finished.items())]
    section.lines += output_lines(finished["resumed"], lambda line: "resuming at epoch" in line)
    if all(result.ok for result in finished.values()):
        last = sorted(run.glob("net_*.pth"), key=lambda p: int(p.stem.split("_")[1]))[-1]
        reference = next(workspaces["uninterrupted"].glob("net_data/col_bedroom_*")) / last.name
        difference = weight_difference(reference, last)
        section.numbers["resume.difference"] = difference
        section.lines.append(f"- {last.name}, resumed vs uninterrupted: max |weight difference| = {difference:.3g}"
                             f"{' (bit-identical)' if difference == 0 else ''}")
    section.add_failures(finished)
    return section


def part_torchrun(ctx: Context, limit: float) -> Section:
    """`torchrun --nproc_per_node=1` of the colorization inversion script with the benchmark's random networks."""
    nets, outputs = ctx.work / "torchrun" / "nets", ctx.work / "torchrun" / "inter_data" / "col_torchrun"
    resolution = ["--resolution", str(SMOKE_SIZE), "--fmaps_max", "32"] if ctx.smoke else []
    iterations = "2" if ctx.smoke else "50"
    commands = {
        "torchrun_networks": [ctx.python, "benchmarks/inversion.py", "--device", ctx.device, *resolution,
                              "--save_random", str(nets)],
        "torchrun": [ctx.python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                     "code/mganprior/colorization.py", "-i", str(experiment_dir(ctx) / "GT"), "-o", str(outputs),
                     "--gan_weights", str(nets / f"random_pggan{SMOKE_SIZE if ctx.smoke else 256}.pth"),
                     "--vgg_weights", str(nets / "random_vgg16.pth"), "--composing_layer", "6", "--max_images", "4",
                     "--iterations", iterations, "--batch_size", "4", "--device", ctx.device,
                     "--image_size", str(SMOKE_SIZE if ctx.smoke else 256)],
    }
    finished = run_commands(ctx, commands, limit)
    section = Section(f"torchrun --nproc_per_node=1, colorization inversion of 4 images ({iterations} steps)")
    priors = len(list((outputs / "mGANoutput").glob("*.png")))
    section.lines = [f"{priors} priors written", *output_lines(finished["torchrun"], lambda line: "inverted" in line)]
    if finished["torchrun"].ok and priors != 4:
        section.status = f"exit code 0 but {priors} of 4 priors written"
    section.add_failures(finished)
    return section
