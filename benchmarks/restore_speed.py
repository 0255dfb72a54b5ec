"""`bigprior restore` speed: this tree against a reference tree (the code before issue 23), in the same run.

    git -C . worktree add --detach ../wt_baseline 3d36a97         # once: the reference
    python benchmarks/restore_speed.py --reference ../wt_baseline --sizes 4000x3000,1155x866 --tasks denoise

For each photo size and task, `bigprior restore --degrade True --device cpu` runs as a new user runs it, in a
process of its own, once with the reference tree's code and once with this tree's (alternating which goes
first, `--repeats` times; with `--one_thread_reference` also the reference with OMP_NUM_THREADS=1), on a photo made from scikit-image's `coffee` enlarged to the size. Each process
reports its wall time, CPU time, peak RSS and the seconds spent in each stage: read, degrade, invert,
classical sources (whatever the built-in default's fusion blends: none for the paper's two-source network),
fuse, score, write. A stage's seconds are the time threads spent in it, summed over threads, without the
stages called inside it in the same thread (scoring inside the writer); this tree overlaps stages (the
classical sources are made while the generator is inverted, scores computed while the files are written),
so its stages can add up to more than its wall time. The restored images are compared: within 1/255 of the
reference in the default mode, bit for bit with `--precision fp32` (`--fp32_size`: the reference then runs
its inversion in strict fp32, with one torch thread as this tree's fp32 mode does; a size of 0 skips the
check). `--demo`
also times `python code/demo.py` of both trees. The machine is shared: compare ratios from the same run;
the load average is printed with every figure. `--record FILE` appends every figure as a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STAGES = {  # stage -> the functions (module:attribute) whose time it is, in either tree
    "read": ["bigprior.restore:read_photo"],
    "degrade": ["bigprior.restore:simulate"],
    "invert": ["bigprior.inversion.stage:Inverter.invert_observations"],
    "classical sources": ["bigprior.pipeline:Pipeline.classical_image"],
    "fuse": ["bigprior.pipeline:fuse_tiled", "bigprior.pipeline:fuse_photo"],
    "score": ["bigprior.restoration:Restoration.scores"],
    "write": ["bigprior.restore:write_restoration"],
}


# ---------------------------------------------------------------------------------------------
# inside one restore process (`--driver`)


class StageClock:
    """Seconds per stage, summed over threads, each call without the timed calls nested in it (same thread)."""

    def __init__(self) -> None:
        self.seconds = {stage: 0.0 for stage in STAGES}
        self.lock, self.local = threading.Lock(), threading.local()

    def wrap(self, stage: str, function):
        clock = self

        def timed(*args, **kwargs):
            stack = clock.local.__dict__.setdefault("stack", [])
            stack.append(0.0)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                nested = stack.pop()
                if stack:
                    stack[-1] += spent
                with clock.lock:
                    clock.seconds[stage] += spent - nested
        return timed

    def install(self) -> list[str]:
        """Wrap every stage function this tree has; returns those wrapped."""
        import importlib

        wrapped = []
        for stage, targets in STAGES.items():
            for target in targets:
                module_name, attribute = target.split(":")
                owner = importlib.import_module(module_name)
                *path, name = attribute.split(".")
                for part in path:
                    owner = getattr(owner, part, None)
                if owner is not None and hasattr(owner, name):
                    setattr(owner, name, self.wrap(stage, getattr(owner, name)))
                    wrapped.append(target)
        return wrapped


def strict_reference_inversion() -> None:
    """The reference tree has no --precision: its strict mode is its pipeline with the inversion in fp32, run
    with one torch thread as this tree's fp32 runs everything (strict fp32's convolutions, PyTorch's own,
    round differently with more threads)."""
    from dataclasses import replace

    import torch

    from bigprior import pipeline

    torch.set_num_threads(1)

    original = pipeline._inverter

    def strict(*args, **kwargs):
        inverter = original(*args, **kwargs)
        inverter.settings = replace(inverter.settings, precision="fp32")
        return inverter

    pipeline._inverter = strict


def drive(argv: list[str], strict_reference: bool) -> None:
    """Run `bigprior restore argv` in this process with the stage clock; print one JSON line of figures."""
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), os.times()
    from bigprior.commandline import run_cli
    from bigprior.restore import main

    clock = StageClock()
    wrapped = clock.install()
    if strict_reference:
        strict_reference_inversion()
    code = run_cli(main, argv)
    times = os.times()
    print("RESULT " + json.dumps({
        "code": code, "wall": time.perf_counter() - started,
        "cpu": times.user + times.system - cpu.user - cpu.system,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "stages": clock.seconds,
        "wrapped": wrapped, "load_before": load, "load_after": os.getloadavg()[0]}), flush=True)


# ---------------------------------------------------------------------------------------------
# the benchmark


def make_photo(folder: Path, width: int, height: int) -> Path:
    from PIL import Image
    from skimage import data

    path = folder / f"coffee_{width}x{height}.png"
    if not path.is_file():
        Image.fromarray(data.coffee()).resize((width, height), Image.BICUBIC).save(path)
    return path


def run_tree(tree: Path, photo: Path, out: Path, task: str, extra: list[str], strict_reference: bool = False,
             threads: int | None = None) -> dict:
    """One restore in a process of its own (`threads`: its OMP_NUM_THREADS; default: as this process has it)."""
    shutil.rmtree(out, ignore_errors=True)  # a fresh folder: this tree would resume from a complete one
    argv = ["--task", task, "--input", str(photo), "--out", str(out), "--degrade", "True", "--device", "cpu", *extra]
    command = [sys.executable, str(Path(__file__).resolve()), "--driver", *(["--strict_reference"] if strict_reference else []),
               "--", *argv]
    env = {**os.environ, "PYTHONPATH": str(tree / "code"), **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines or json.loads(lines[-1][7:])["code"] != 0:
        raise SystemExit(f"{tree}: restore failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def restored_difference(a: Path, b: Path) -> int:
    from PIL import Image

    return int(np.abs(np.asarray(Image.open(a)).astype(int) - np.asarray(Image.open(b)).astype(int)).max())


def table(label: str, runs: dict[str, dict]) -> str:
    """Figures of each run (columns), then the reference's over this tree's (ratios)."""
    new = runs["this tree"]
    others = [name for name in runs if name != "this tree"]
    lines = [f"## {label}", "", "| | " + " | ".join(runs) + " | " + " | ".join(f"{name} / this tree" for name in others) + " |",
             "| --- |" + " --- |" * (len(runs) + len(others))]

    def row(title: str, values: list[float], digits: str = ".2f", unit: str = "x") -> str:
        ratios = [f"{value / values[-1]:.2f}{unit}" if values[-1] > 0.005 else "-" for value in values[:-1]]
        return f"| {title} | " + " | ".join(format(value, digits) for value in values) + " | " + " | ".join(ratios) + " |"

    for key, title in (("wall", "wall, s"), ("cpu", "CPU time, s"), ("peak_rss_gb", "peak RSS, GB")):
        lines.append(row(title, [runs[name][key] for name in [*others, "this tree"]]))
    for stage in STAGES:
        lines.append(row(f"{stage}, s", [runs[name]["stages"][stage] for name in [*others, "this tree"]]))
    lines.append("| load average (1 min) before / after | " + " | ".join(
        f"{runs[name]['load_before']:.1f} / {runs[name]['load_after']:.1f}" for name in [*others, "this tree"]) + " |" + " |" * len(others))
    return "\n".join(lines)


def record(path: Path | None, entry: dict) -> None:
    if path is not None:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def compare_size(args: argparse.Namespace, work: Path, width: int, height: int, task: str) -> None:
    """The reference as a user runs it, the reference with one torch thread (OMP_NUM_THREADS=1: PyTorch's two
    threads stall each other on a loaded CPU, which this tree's workers avoid) and this tree, alternating."""
    photo = make_photo(work, width, height)
    variants = {"reference": (args.reference, None), "reference, 1 thread": (args.reference, 1), "this tree": (ROOT, None)}
    if not args.one_thread_reference:
        del variants["reference, 1 thread"]
    best: dict[str, dict] = {}
    for repeat in range(args.repeats):
        for name in list(variants) if repeat % 2 == 0 else list(variants)[::-1]:
            tree, threads = variants[name]
            result = run_tree(tree, photo, work / f"{name.replace(', ', '_').replace(' ', '_')}_{task}_{width}", task, [],
                              threads=threads)
            if name not in best or result["wall"] < best[name]["wall"]:
                best[name] = result
    difference = restored_difference(*(work / f"{name}_{task}_{width}" / f"{photo.stem}_restored.png" for name in ("reference", "this_tree")))
    label = f"{task}, {width}x{height}, default mode (best of {args.repeats})"
    print(table(label, {name: best[name] for name in variants}))
    print(f"\nrestored image, largest difference from the reference: {difference}/255\n", flush=True)
    record(args.record, {"label": label, **best, "max_difference": difference})


def compare_fp32(args: argparse.Namespace, work: Path, width: int, height: int, task: str) -> None:
    """The strict mode: this tree's --precision fp32 against the reference's strict inversion, file by file."""
    photo = make_photo(work, width, height)
    outs = {label: work / f"fp32_{label}_{task}" for label in ("reference", "new")}
    reference = run_tree(args.reference, photo, outs["reference"], task, [], strict_reference=True)
    new = run_tree(ROOT, photo, outs["new"], task, ["--precision", "fp32"])
    same = {}
    for suffix in ("restored.png", "prior.png", "phi.npy"):
        a, b = (outs[label] / f"{photo.stem}_{suffix}" for label in ("reference", "new"))
        same[suffix] = a.read_bytes() == b.read_bytes() if suffix.endswith(".npy") else restored_difference(a, b) == 0
    label = f"{task}, {width}x{height}, --precision fp32"
    print(table(label, {"reference": reference, "this tree": new}))
    print(f"\nbit for bit the reference's strict run: {same}\n", flush=True)
    record(args.record, {"label": label, "reference": reference, "new": new, "bit_for_bit": same})


def time_demo(args: argparse.Namespace, work: Path) -> None:
    seconds = {}
    for label, tree in (("reference", args.reference), ("new", ROOT)):
        env = {**os.environ, "PYTHONPATH": str(tree / "code")}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(tree / "code" / "demo.py"), "--out", str(work / f"demo_{label}"),
                               "--device", "cpu"], cwd=tree, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: demo failed:\n{done.stderr[-3000:]}")
        seconds[label] = time.perf_counter() - started
    print(f"## python code/demo.py\n\nreference {seconds['reference']:.1f} s, this tree {seconds['new']:.1f} s: "
          f"{seconds['reference'] / seconds['new']:.2f}x (load average {os.getloadavg()[0]:.1f})\n", flush=True)
    record(args.record, {"label": "demo", **seconds})


def main() -> None:
    if "--driver" in sys.argv:
        split = sys.argv.index("--")
        drive(sys.argv[split + 1:], "--strict_reference" in sys.argv[:split])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "wt_baseline", help="the reference tree")
    parser.add_argument("--sizes", default="4000x3000,1155x866", help="photo sizes, WxH, comma-separated")
    parser.add_argument("--tasks", default="denoise", help="restore tasks, comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each tree per size (the fastest is kept)")
    parser.add_argument("--one_thread_reference", action="store_true",
                        help="also run the reference with OMP_NUM_THREADS=1 (how much is the thread count alone)")
    parser.add_argument("--fp32_size", default="640x480", help="photo size of the strict-mode check (0: none)")
    parser.add_argument("--demo", action="store_true", help="also time python code/demo.py of both trees")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--record", type=Path, default=None, help="append every figure to this file as a JSON line")
    args = parser.parse_args()
    if not (args.reference / "code" / "bigprior" / "restore.py").is_file():
        raise SystemExit(f"--reference {args.reference}: not a tree of this project "
                         f"(git worktree add --detach {args.reference} 3d36a97)")
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        print(f"# bigprior restore speed: {ROOT} against {args.reference.resolve()}\n")
        for task in args.tasks.split(","):
            for size in args.sizes.split(","):
                compare_size(args, work, *map(int, size.split("x")), task)
        if args.fp32_size != "0":
            compare_fp32(args, work, *map(int, args.fp32_size.split("x")), args.tasks.split(",")[0])
        if args.demo:
            time_demo(args, work)


if __name__ == "__main__":
    main()
