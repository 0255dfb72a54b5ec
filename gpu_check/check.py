"""The GPU check of issue 10 (run it with `bash benchmarks/gpu_check.sh`): every measurement the goals need,
in one run of at most 8 minutes on one H100/H200, written to results/gpu/<date>_<gpu>.md and printed.

Parts, in this order, each under its own time limit; a part is skipped with a note when the time left
would not hold it (the whole device lease is 15 minutes, the machine's start included), and the report is
rewritten after every part, so a run stopped from outside still leaves one:

1. data: the col_bedroom copy that `python -m gpu_check.pack_data pack` wrote to cache/gpu_data, unpacked and checked;
2. inversion (benchmarks/inversion.py: random 256 px PGGAN, random VGG16, both paper settings, batch 64): the
   one-image reference loop against the batched loop in strict fp32 (and the agreement of the priors after
   50 steps), then bf16 (and bf16 vs fp32 priors);
3. fusion epoch time at the paper's settings (benchmarks/fusion_epoch.py: release-style loop, project modes);
4. col_bedroom trained from scratch with the paper's settings (50 epochs, whole images), seeds 0, 1, 2, plain,
   --extend_input True and bounded phi (issue 15: U-Net, sigmoid, augment, self-ensemble)
   (results/col_bedroom_from_scratch/run.sh, collect.py), three runs at a time;
5. a fusion run killed after its first epoch and resumed, against the same run uninterrupted (strict fp32);
6. `torchrun --nproc_per_node=1` of the colorization inversion script;
7. inversion with torch.compile (bf16, then strict fp32), with what time is left: compiling takes minutes.

`--smoke` runs every part at toy sizes on the CPU (no compiled modes), on synthetic data packed and
unpacked by the same packer: CI runs it, so the script is known to work before a GPU is spent on it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from pathlib import Path

import torch

from .fusion_parts import (INVERSION_MODES, inversion_part, part_col_bedroom, part_data, part_fusion_epoch,
                           part_resume, part_torchrun)
from .runner import ROOT, Context, Section

BUDGET_S = 480
# name, part, time limit (s), the least time worth starting it with, whether it reads the unpacked data
Part = tuple[str, Callable[[Context, float], Section], float, float, bool]
PARTS: list[Part] = [
    ("data", part_data, 40, 10, False),
    ("inversion-fp32", inversion_part("fp32"), 70, 30, False),
    ("inversion-bf16", inversion_part("bf16"), 50, 25, False),
    ("fusion", part_fusion_epoch, 60, 20, False),
    ("col_bedroom", part_col_bedroom, 270, 90, True),
    ("resume", part_resume, 60, 30, True),
    ("torchrun", part_torchrun, 45, 20, True),
    ("inversion-bf16-compiled", inversion_part("bf16-compiled"), 150, 60, False),
    ("inversion-fp32-compiled", inversion_part("fp32-compiled"), 150, 60, False),
]
GOALS = [  # number key, goal text, test
    ("inversion.fp32.colorization", "inversion, strict fp32, colorization: >= 600 image-steps/s", lambda v: v >= 600),
    ("inversion.bf16.colorization", "inversion, bf16, colorization: >= 1,400 image-steps/s", lambda v: v >= 1400),
    ("fusion.fastest", "fusion: <= 0.2 s per epoch (the project's fastest mode)", lambda v: v <= 0.2),
    *((f"col.seed{s}_extendFalse.psnr", f"col_bedroom seed {s}: above 23.08 dB", lambda v: v > 23.08) for s in range(3)),
    *((f"col.seed{s}_extendFalse.auc", f"col_bedroom seed {s}: above 89.28 AuC", lambda v: v > 89.28) for s in range(3)),
    *((f"col.seed{s}_extendTrue.psnr", f"col_bedroom seed {s}, --extend_input: >= 23.5 dB", lambda v: v >= 23.5)
      for s in range(3)),
    *((f"col.seed{s}_bounded.psnr", f"col_bedroom seed {s}, bounded phi: above 23.5 dB", lambda v: v > 23.5)
      for s in range(3)),
    ("col.bounded.mean_psnr", "col_bedroom, bounded phi: >= 23.8 dB, mean of 3 seeds", lambda v: v >= 23.8),
    ("col.bounded.mean_auc", "col_bedroom, bounded phi: >= 89.8 AuC, mean of 3 seeds", lambda v: v >= 89.8),
    ("resume.difference", "resume: the same weights as the uninterrupted run", lambda v: v == 0),
]


def device_line(smoke: bool) -> str:
    if smoke:
        return f"CPU ({platform.machine()}, {os.cpu_count()} cores): a --smoke run at toy sizes; no figure here is a measurement"
    properties = torch.cuda.get_device_properties(0)
    return (f"{properties.name}, {properties.total_memory / 2**30:.0f} GiB, {properties.multi_processor_count} SMs; "
            f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")


def run_part(ctx: Context, part: Part, data_ok: bool) -> Section:
    """One part within the budget: skipped with a note when it would not fit or its data is missing."""
    name, function, limit, least, needs_data = part
    left = ctx.remaining()
    if needs_data and not data_ok:
        section = Section(name, status="skipped: the data part failed")
    elif left < least:
        section = Section(name, status=f"skipped: {left:.0f} s of the budget left, it needs {least:.0f} s or more")
    else:
        started = time.monotonic()
        section = function(ctx, min(limit, left))
        section.seconds = time.monotonic() - started
    print(f"[gpu_check] {name}: {section.status} ({section.seconds:.0f} s)", flush=True)
    return section


def run_parts(ctx: Context, parts: list[Part], write: Callable[[list[Section]], None]) -> list[Section]:
    """The data part first, then the others in order; the report is rewritten after each. A --smoke run
    takes two parts at a time (it measures nothing, and CI's time counts); a GPU run one, for its timings."""
    done: dict[str, Section] = {}
    lock = threading.Lock()

    def run(part: Part, data_ok: bool) -> None:
        section = run_part(ctx, part, data_ok)
        with lock:
            done[part[0]] = section
            write([done[p[0]] for p in parts if p[0] in done])

    data = [p for p in parts if p[0] == "data"]
    for part in data:
        run(part, True)
    data_ok = all(done[p[0]].status == "ok" for p in data)
    with ThreadPoolExecutor(max_workers=2 if ctx.smoke else 1) as pool:
        for future in [pool.submit(run, part, data_ok) for part in parts if part[0] != "data"]:
            future.result()
    return [done[p[0]] for p in parts]


def goals_table(sections: list[Section], smoke: bool) -> list[str]:
    """Each goal with its number; a --smoke run's toy numbers are shown but not judged."""
    numbers = {key: value for section in sections for key, value in section.numbers.items()}
    lines = ["| goal | measured | met |", "| --- | --- | --- |"]
    for key, text, test in GOALS:
        value = numbers.get(key)
        verdict = "" if value is None else "toy sizes" if smoke else "yes" if test(value) else "no"
        lines.append(f"| {text} | {'not measured' if value is None else f'{value:.4g}'} | {verdict} |")
    return lines


def report_text(ctx: Context, sections: list[Section], started: str) -> str:
    lines = [f"# GPU check, {started}", "", f"Device: {device_line(ctx.smoke)}.",
             f"Command: `bash benchmarks/gpu_check.sh{' --smoke' if ctx.smoke else ''}`; budget {ctx.budget:.0f} s, "
             f"used {ctx.budget - ctx.remaining():.0f} s.", "", "| part | status | seconds |", "| --- | --- | --- |"]
    lines += [f"| {s.title} | {s.status} | {s.seconds:.0f} |" for s in sections]
    lines += ["", "## Goals (issue 10)", "", *goals_table(sections, ctx.smoke)]
    for section in sections:
        if section.lines:
            lines += ["", f"## {section.title}", "", *section.lines]
    return "\n".join(lines) + "\n"


def runs_in_smoke(name: str) -> bool:
    mode = INVERSION_MODES.get(name.removeprefix("inversion-"))
    return mode is None or mode.smoke


def report_path(smoke: bool, work: Path, given: Path | None) -> Path:
    if given:
        return given
    if smoke:
        return work / "report.md"
    slug = re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(0).lower()).strip("-")
    return ROOT / "results" / "gpu" / f"{datetime.date.today().isoformat()}_{slug}.md"


def copy_out(report: Path, work: Path) -> None:
    """On the device machine, $OUT is what comes back: the report, the col_bedroom table and every log."""
    out = os.environ.get("OUT")
    if not out:
        return
    shutil.copy(report, Path(out) / report.name)
    with tarfile.open(Path(out) / "gpu_check_logs.tar.gz", "w:gz") as archive:
        archive.add(work / "logs", arcname="logs")
        for extra in ("col_bedroom_table.md",):
            if (work / extra).is_file():
                archive.add(work / extra, arcname=extra)


def context(args: argparse.Namespace, work: Path) -> Context:
    """Subprocesses import the project from code/, print unbuffered, and find `python` (run.sh calls it)."""
    shim = work / "bin"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # not a link: a venv needs its own path
    (shim / "python").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "code"), "PYTHONUNBUFFERED": "1",
           "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}
    if args.smoke:
        env["OMP_NUM_THREADS"] = "1"
    return Context(args.smoke, sys.executable, work, time.monotonic() + args.budget, args.budget, env, args.data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (seconds), synthetic data")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for all parts together")
    parser.add_argument("--data", type=Path, default=ROOT / "cache" / "gpu_data", help="the packed data (python -m gpu_check.pack_data pack)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new one under cache/gpu_check)")
    parser.add_argument("--report", type=Path, default=None,
                        help="report file (default: results/gpu/<date>_<gpu>.md; with --smoke: <work>/report.md)")
    parser.add_argument("--only", default=None, help=f"comma-separated parts to run, of {', '.join(p[0] for p in PARTS)}")
    args = parser.parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here (use --smoke for the CPU run at toy sizes)")
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    work = args.work or ROOT / "cache" / "gpu_check" / started.replace(" ", "_").replace(":", "")
    ctx = context(args, work.resolve())
    report = report_path(args.smoke, ctx.work, args.report)
    names = args.only.split(",") if args.only else [p[0] for p in PARTS]
    parts = [p for p in PARTS if p[0] in names and (not args.smoke or runs_in_smoke(p[0]))]

    def write(sections: list[Section]) -> None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(report_text(ctx, sections, started))

    run_parts(ctx, parts, write)
    copy_out(report, ctx.work)
    print(report.read_text())
    print(f"report: {report}")


if __name__ == "__main__":
    main()
