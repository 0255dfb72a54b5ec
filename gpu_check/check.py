"""The GPU check (run it with `bash benchmarks/gpu_check.sh`): every measurement the goals need, in one run
planned to fit 480 s on one H200 (`--plan` prints the plan, gpu_check/plan.py holds it), written to
results/gpu/<date>_<gpu>.md and, on the device machine, to $OUT after every part, so a run cut by the call's
limit still brings back its report and logs. A part that raises becomes a failed section; a part that would
not fit in what is left of the budget is skipped with a note.

`--smoke` runs every part at toy sizes on the CPU, on synthetic data packed and unpacked by the same packer
(the compiled modes trace with dynamo's eager backend): CI runs it, so the script is known to work before a
GPU is spent on it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .goals import goals_table
from .plan import BUDGET_S, PLAN, Part, plan_table, planned_seconds
from .probe import describe
from .runner import ROOT, Context, Section

Write = Callable[[dict[str, Section]], None]


def probe(smoke: bool, python: str, env: dict[str, str]) -> dict:
    """The device's facts, from another process on a GPU run (CUDA stays out of this one)."""
    if smoke:
        return describe(cuda=False)
    done = subprocess.run([python, "-m", "gpu_check.probe"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"gpu_check: the device probe failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def device_line(facts: dict, smoke: bool) -> str:
    versions = (f"Python {facts['python']}, torch {facts['torch']}, CUDA {facts['cuda']}, cuDNN {facts['cudnn']}; "
                f"torch features the check uses (gpu_check/torch_features.py): "
                f"{'missing ' + ', '.join(facts['missing_features']) if facts['missing_features'] else 'all present'}")
    if smoke:
        return (f"CPU ({facts['machine']}, {facts['cores']} cores): a --smoke run at toy sizes, no figure here is a "
                f"measurement; {versions}")
    return f"{facts['gpu']}, {facts['memory_gib']:.0f} GiB, {facts['sms']} SMs; {versions}"


def run_part(ctx: Context, part: Part, data_ok: bool) -> Section:
    """One part within the budget: skipped with a note when it would not fit or its data is missing, a failed
    section (with the end of its traceback) when it raises."""
    left = ctx.remaining()
    if part.run is None:
        section = Section(part.name, status="reserved: not implemented yet (its place and time are kept in the plan)")
    elif ctx.smoke and part.smoke:
        section = Section(part.name, status=f"not in --smoke: {part.smoke} runs there")
    elif part.needs_data and not data_ok:
        section = Section(part.name, status="skipped: the data part failed")
    elif left < part.least:
        section = Section(part.name, status=f"skipped: {left:.0f} s of the budget left, it needs {part.least:.0f} s or more")
    else:
        started = time.monotonic()
        try:
            section = part.run(ctx, min(part.limit, left))
        except (Exception, SystemExit) as error:  # noqa: BLE001 - any failure of a part is reported, not fatal
            section = Section.crashed(part.name, error)
        section.seconds = time.monotonic() - started
    print(f"[gpu_check] {part.name}: {section.status} ({section.seconds:.0f} s; est. {part.estimate:.0f} s, limit "
          f"{part.limit:.0f} s){': ' + section.summary if section.summary else ''}", flush=True)
    return section


def run_parts(ctx: Context, plan: Sequence[Part], write: Write) -> dict[str, Section]:
    """The data part first, then the others in order, `ctx.parallel_parts` at a time; `write` after each."""
    done: dict[str, Section] = {}
    lock = threading.Lock()

    def run(part: Part, data_ok: bool) -> None:
        section = run_part(ctx, part, data_ok)
        with lock:
            done[part.name] = section
            write(done)

    data = [p for p in plan if p.name == "data"]
    for part in data:
        run(part, True)
    data_ok = all(done[p.name].status == "ok" for p in data)
    with ThreadPoolExecutor(max_workers=ctx.parallel_parts) as pool:
        for future in [pool.submit(run, part, data_ok) for part in plan if part.name != "data"]:
            future.result()  # run() reports every failure itself
    return done


def run_numbers(ctx: Context, plan: Sequence[Part], done: dict[str, Section], out_written: bool) -> dict[str, float]:
    """The whole script's figures: seconds used, implemented parts not run, whether $OUT has the report."""
    not_run = sum(1 for p in plan if p.run is not None and (p.name not in done or done[p.name].status.startswith(("skipped", "not in"))))
    numbers = {"run.seconds": ctx.budget - ctx.remaining(), "run.not_run": float(not_run)}
    if out_written:
        numbers["run.out"] = 1.0
    return numbers


def report_text(ctx: Context, plan: Sequence[Part], done: dict[str, Section], facts: dict, started: str) -> str:
    out = bool(os.environ.get("OUT"))
    numbers = {key: value for section in done.values() for key, value in section.numbers.items()}
    numbers |= run_numbers(ctx, plan, done, out)
    lines = [f"# GPU check, {started}", "", f"Device: {device_line(facts, ctx.smoke)}.",
             f"Command: `bash benchmarks/gpu_check.sh{' --smoke' if ctx.smoke else ''}`; budget {ctx.budget:.0f} s, "
             f"used {ctx.budget - ctx.remaining():.0f} s (planned {planned_seconds(tuple(plan)):.0f} s on one H200).", "",
             "| part | status | seconds | est. / limit, s | summary |", "| --- | --- | --- | --- | --- |"]
    for part in plan:
        section = done.get(part.name, Section(part.name, status="not run yet"))
        lines.append(f"| {part.name} | {section.status} | {section.seconds:.0f} | {part.estimate:.0f} / {part.limit:.0f} | "
                     f"{section.summary or '-'} |")
    lines += ["", "## Goals (issue 20)", "", *goals_table(numbers, ctx.budget, ctx.smoke)]
    for part in plan:
        section = done.get(part.name)
        if section and section.lines:
            lines += ["", f"## {section.title}", "", *section.lines]
    return "\n".join(lines) + "\n"


def report_path(smoke: bool, work: Path, given: Path | None, facts: dict) -> Path:
    if given:
        return given
    if smoke:
        return work / "report.md"
    slug = re.sub(r"[^a-z0-9]+", "-", facts["gpu"].lower()).strip("-")
    return ROOT / "results" / "gpu" / f"{datetime.date.today().isoformat()}_{slug}.md"


def copy_out(report: Path, work: Path) -> bool:
    """On the device machine $OUT is what comes back: the report and an archive of every log, after every part."""
    out = os.environ.get("OUT")
    if not out:
        return False
    shutil.copy(report, Path(out) / report.name)
    with tarfile.open(Path(out) / "gpu_check_logs.tar.gz", "w:gz") as archive:
        for extra in ("logs", "col_bedroom_table.md"):
            if (work / extra).exists():
                archive.add(work / extra, arcname=extra)
    return True


def context(args: argparse.Namespace, work: Path) -> Context:
    """Subprocesses import the project from code/, print unbuffered, and find `python` (run.sh calls it)."""
    shim = work / "bin"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # not a link: a venv needs its own path
    (shim / "python").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "code"), str(ROOT)]), "PYTHONUNBUFFERED": "1",
           "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}
    if args.smoke:
        env["OMP_NUM_THREADS"] = "1"
    return Context(args.smoke, sys.executable, work, time.monotonic() + args.budget, args.budget, env, args.data,
                   parallel_parts=2 if args.smoke else 1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", action="store_true", help="print the parts, their limits and estimates; run nothing")
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (seconds), synthetic data")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for all parts together")
    parser.add_argument("--data", type=Path, default=ROOT / "cache" / "gpu_data",
                        help="the packed data (python -m gpu_check.pack_data pack)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new one under cache/gpu_check)")
    parser.add_argument("--report", type=Path, default=None,
                        help="report file (default: results/gpu/<date>_<gpu>.md; with --smoke: <work>/report.md)")
    parser.add_argument("--only", default=None, help=f"comma-separated parts to run, of {', '.join(p.name for p in PLAN)}")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - {p.name for p in PLAN} if args.only else set()
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.plan:
        print("\n".join(plan_table(budget=args.budget)))
        return
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    work = args.work or ROOT / "cache" / "gpu_check" / started.replace(" ", "_").replace(":", "")
    ctx = context(args, work.resolve())
    facts = probe(args.smoke, ctx.python, ctx.env)
    if not args.smoke and not facts["gpu"]:
        raise SystemExit("gpu_check: no CUDA device here (use --smoke for the CPU run at toy sizes)")
    report = report_path(args.smoke, ctx.work, args.report, facts)
    plan = [p for p in PLAN if not args.only or p.name in args.only.split(",")]
    print(f"[gpu_check] report: {report}{' (and $OUT after every part)' if os.environ.get('OUT') else ''}", flush=True)

    def write(done: dict[str, Section]) -> None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(report_text(ctx, plan, done, facts, started))
        try:
            copy_out(report, ctx.work)
        except OSError as error:  # the local report stands; say so and go on
            print(f"[gpu_check] could not copy the report to $OUT: {error}", flush=True)

    write({})
    write(run_parts(ctx, plan, write))  # once more: the whole script's own figures, at its end
    print(report.read_text())
    print(f"report: {report}")
