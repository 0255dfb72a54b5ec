"""The fusion parts of the GPU check: the epoch time at the paper's scale, col_bedroom trained from scratch
(every variant of experiments/col_bedroom_from_scratch/variants.py, 3 seeds, all runs at once), and a run killed
after its first epoch and resumed. Each runs the project's own scripts under its time limit and returns its
report section."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from .data import link_experiment, train_count
from .runner import ROOT, Context, Section, output_lines, run_commands, run_one

COL_PRECISION = "bf16"  # col_bedroom runs in the fastest mode; the fusion part shows what each mode costs
PAPER_FUSION = ["--experiment", "col_bedroom", "--lr", "0.01", "--batch_size", "8", "--backbone", "D",
                "--phi_weight", "1e-5"]


@functools.cache
def col_variants() -> tuple[str, ...]:
    """The variants' names, from the table run.sh reads (a new variant there is trained here too)."""
    spec = importlib.util.spec_from_file_location("col_variants", ROOT / "experiments" / "col_bedroom_from_scratch" / "variants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.VARIANTS)


# ---------------------------------------------------------------------------------------------
# fusion


EPOCH_LINE = re.compile(r"^(?P<label>\S.*?)\s+(?P<seconds>[0-9.]+) s/epoch$")
WEIGHTS_LINE = re.compile(r"fp32 vs release-style TF32-off loop (?P<difference>[0-9.e+-]+);")


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
        project = {m["label"].removeprefix("this project, "): float(m["seconds"]) for m in rows if m["label"].startswith("this project")}
        if project:
            fastest = min(project, key=project.get)
            section.numbers["fusion.fastest"] = project[fastest]
            section.summary = f"fastest {project[fastest]:.3f} s/epoch ({fastest})"
    same = next(filter(None, map(WEIGHTS_LINE.search, finished.output.splitlines())), None)
    if same:
        section.numbers["fusion.fp32_vs_release"] = float(same["difference"])
        section.summary += f"; strict fp32 vs the release loop: max |weight difference| {same['difference']}"
    section.lines += output_lines(finished, lambda line: line.startswith(("device", "max |weight|")))
    section.add_failures({"fusion_epoch.py": finished})
    return section


def col_runs(ctx: Context) -> dict[str, list[str]]:
    """One run.sh per (seed, variant), each in its own workspace; they all start together."""
    settings = {"EPOCHS": "2" if ctx.smoke else "50", "CROP": "0", "DEVICE": ctx.device, "PRECISION": COL_PRECISION,
                "PAPER": str(ctx.paper), "TRAIN_COUNT": str(train_count(ctx)), "COLLECT": "False"}
    runs = {}
    for seed in ("0",) if ctx.smoke else ("0", "1", "2"):
        for variant in col_variants():
            values = {**settings, "SEEDS": seed, "VARIANTS": variant}
            runs[f"col_seed{seed}_{variant}"] = ["env", *(f"{k}={v}" for k, v in values.items()), "bash",
                                                 "experiments/col_bedroom_from_scratch/run.sh",
                                                 str(ctx.work / "col" / f"seed{seed}_{variant}")]
    return runs


def col_numbers(lines: list[str]) -> dict[str, float]:
    """PSNR and AuC of each finished run (runs.txt lines: tag, run folder, seconds) from its metrics.json."""
    numbers = {}
    for line in lines:
        tag, run, _ = line.split()
        mean = json.loads((ROOT / run / "metrics.json").read_text())["mean"]["bigprior"]
        numbers[f"col.{tag}.psnr"], numbers[f"col.{tag}.auc"] = mean["psnr"], mean["auc"]
    for variant in col_variants():
        for metric in ("psnr", "auc"):
            values = [v for k, v in numbers.items() if k.startswith("col.seed") and k.endswith(f"_{variant}.{metric}")]
            if values:
                numbers[f"col.{variant}.mean_{metric}"] = sum(values) / len(values)
    return numbers


def part_col_bedroom(ctx: Context, limit: float) -> Section:
    """col_bedroom from scratch: every seed and variant at once (12 fit a 141 GB GPU with room to spare), then
    collect.py's table."""
    runs = col_runs(ctx)
    threads = str(max(1, (os.cpu_count() or 1) // len(runs)))
    finished = run_commands(ctx, runs, limit - 20, parallel=len(runs), env={"OMP_NUM_THREADS": threads})
    together = ctx.work / "col" / "all"
    together.mkdir(parents=True, exist_ok=True)
    lines = [line for name in runs for line in _read_lines(ctx.work / "col" / name.removeprefix("col_") / "runs.txt")]
    (together / "runs.txt").write_text("".join(f"{line}\n" for line in lines))
    section = Section(f"col_bedroom trained from scratch ({'2 epochs, toy data' if ctx.smoke else '50 epochs, whole images'}, "
                      f"--precision {COL_PRECISION})")
    if lines:
        table = ctx.work / "col_bedroom_table.md"
        collected = run_one(ctx, "col_collect", [ctx.python, "experiments/col_bedroom_from_scratch/collect.py", str(together),
                                                 str(table)], 20)
        finished["collect"] = collected
        section.lines = table.read_text().splitlines() if collected.ok else []
        section.numbers = col_numbers(lines)
    means = [f"{variant} {section.numbers[f'col.{variant}.mean_psnr']:.2f} dB" for variant in col_variants()
             if f"col.{variant}.mean_psnr" in section.numbers]
    section.summary = f"{len(lines)} of {len(runs)} runs finished" + (f"; mean PSNR {', '.join(means)}" if means else "")
    section.lines.append(f"{len(lines)} of {len(runs)} runs finished; they shared the device (all at once), so their "
                         "wall times are not per-run costs.")
    section.add_failures(finished)
    return section


def _read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


# ---------------------------------------------------------------------------------------------
# resume


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
        section.summary = f"resumed vs uninterrupted: max |weight difference| {difference:.3g}"
    section.add_failures(finished)
    return section
