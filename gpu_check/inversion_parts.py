"""The inversion parts of the GPU check: `benchmarks/inversion.py` in one mode each (a precision, eager or
compiled), read back from the JSON lines it writes the moment it measures (`--record`), so a part stopped at
its time limit keeps every figure it printed; and `torchrun` of the colorization script."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .data import SMOKE_SIZE, experiment_dir
from .runner import Context, Section, output_lines, run_commands, run_one

PRECISION_TITLES = {"default": "TF32 (PyTorch's default numerics)", "fp32": "strict fp32", "bf16": "bf16 autocast, channels-last"}
SAME_QUALITY_DB = 0.1  # a compiled step's priors against the eager step's, and bf16's against fp32's


@dataclass(frozen=True)
class InversionMode:
    """One way of running the batched loop (always on folded PGGAN blocks). Eager modes time both paper settings
    with the one-image reference beside them; a compiled mode times colorization only (one compile, static
    shapes: batch 64 is the only size it sees) and compares its priors with an eager run."""

    precision: str  # default (TF32 convolutions) | fp32 (strict) | bf16
    compiled: bool = False

    @property
    def key(self) -> str:
        return f"{self.precision}-compiled" if self.compiled else self.precision

    @property
    def title(self) -> str:
        return PRECISION_TITLES[self.precision] + ", folded" + (", torch.compile (static shapes)" if self.compiled else "")

    @property
    def compare(self) -> str | None:
        """The precision its priors are compared with: bf16's quality is against fp32; a compiled step is
        checked against the eager step of its own precision; the strict fp32 mode has the reference loop."""
        return "fp32" if self.precision == "bf16" else self.precision if self.compiled else None

    def flags(self, smoke: bool) -> list[str]:
        flags = ["--precision", self.precision, "--fold"] + (["--channels_last"] if self.precision == "bf16" else [])
        if self.compare:
            flags += ["--compare", self.compare, "--compare_images", "2" if smoke else "8"]
        if self.compiled:  # smoke: dynamo traces, the graph runs eagerly (inductor takes minutes on a CPU)
            flags += ["--compile", "static", "--settings", "col", "--reference_steps", "0",
                      *(["--compile_backend", "eager"] if smoke else [])]
        checks = "1,2" if smoke else "1,50"  # the agreement with the reference loop: strict fp32 only
        return flags + ["--check_steps", checks if self.precision == "fp32" and not self.compiled else "",
                        "--check_images", "2"]


INVERSION_MODES = {mode.key: mode for mode in (InversionMode("default"), InversionMode("fp32"), InversionMode("bf16"),
                                                 InversionMode("bf16", compiled=True), InversionMode("default", compiled=True))}


def inversion_sizes(ctx: Context) -> list[str]:
    if ctx.smoke:
        return ["--resolution", str(SMOKE_SIZE), "--fmaps_max", "32", "--batch_size", "2", "--steps", "1", "--warmup", "1",
                "--reference_steps", "1", "--threads", "1", "--stylegan2", ""]
    return ["--batch_size", "64", "--steps", "20", "--warmup", "3", "--reference_steps", "10", "--stylegan2", ""]


def read_records(path: Path) -> list[dict]:
    """The benchmark's JSON lines; a last line cut by a kill is dropped."""
    records = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def check_note(record: dict) -> str:
    if record["kind"] == "compare":
        return (f"vs {record['against']} (eager), {record['images']} images, {record['steps']} steps: PSNR to targets "
                f"{record['psnr']:.2f} vs {record['psnr_against']:.2f} dB (gap {record['gap']:+.3f} dB)")
    verdict = ("agree to rounding" if record["steps"] == 1 else "same quality") if record["agree"] else "DIFFER"
    return (f"fp32 vs reference, {record['images']} images, {record['steps']} step(s): max diff {record['max_difference']:.1e}, "
            f"PSNR gap {record['gap']:+.3f} dB: {verdict}")


def inversion_table(mode: InversionMode, records: list[dict]) -> tuple[list[str], dict[str, float], list[str]]:
    """Report rows, the numbers the goals read (inversion.<mode>.<setting>.rate|share|gap) and summary phrases."""
    numbers: dict[str, float] = {}
    rows, phrases = [], []
    settings = dict.fromkeys(r["setting"] for r in records)
    for setting in settings:
        mine = [r for r in records if r["setting"] == setting]
        rate = next((r for r in mine if r["kind"] == "rate"), None)
        reference = next((r for r in mine if r["kind"] == "reference"), None)
        notes = "; ".join(check_note(r) for r in mine if r["kind"] in ("compare", "check"))
        for r in mine:
            if r["kind"] == "compare":
                numbers[f"inversion.{mode.key}.{setting}.gap"] = r["gap"]
        reference_rate = f"{reference['rate']:.2f}" if reference else "-"
        if rate is None:
            rows.append(f"| {setting} | {mode.title} | not measured | - | - | - | {reference_rate} | - | - | {notes or '-'} |")
            continue
        numbers[f"inversion.{mode.key}.{setting}.rate"] = rate["rate"]
        if rate["share"] is not None:
            numbers[f"inversion.{mode.key}.{setting}.share"] = rate["share"]
        speedup = f"{rate['rate'] / reference['rate']:.1f}x" if reference else "-"
        memory = "-" if rate["peak_memory_gib"] is None else f"{rate['peak_memory_gib']:.1f}"
        graphs = "" if rate["compiled_graphs"] is None else f"{rate['compiled_graphs']} compiled graph(s); "
        rows.append(f"| {setting} | {mode.title} | {rate['rate']:.1f} | {rate['gflop']:.1f} | {rate['tflops']:.3g} | "
                    f"{share(rate['share'])} | {reference_rate} | {speedup} | {memory} | {graphs + notes or '-'} |")
        phrases.append(f"{setting} {rate['rate']:.1f} image-steps/s, share of peak {share(rate['share'])}")
    return rows, numbers, phrases


TABLE_HEAD = ["| setting | mode | image-steps/s | GFLOP per image-step | TFLOP/s | share of peak | one-image reference, "
              "image-steps/s | speed-up | peak memory, GiB | checks |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]


def inversion_part(key: str) -> Callable[[Context, float], Section]:
    mode = INVERSION_MODES[key]

    def part(ctx: Context, limit: float) -> Section:
        record = ctx.work / "logs" / f"inversion_{key}.jsonl"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.unlink(missing_ok=True)
        command = [ctx.python, "benchmarks/inversion.py", "--device", ctx.device, *inversion_sizes(ctx),
                   *mode.flags(ctx.smoke), "--record", str(record)]  # the mode's flags last: they win
        finished = run_one(ctx, f"inversion_{key}", command, limit)
        section = Section(f"Inversion (benchmarks/inversion.py), {mode.title}")
        rows, section.numbers, phrases = inversion_table(mode, read_records(record))
        section.lines = [*TABLE_HEAD, *rows] if rows else []
        section.lines += output_lines(finished, lambda line: line.startswith("device "))
        section.summary = ", ".join(phrases)
        section.add_failures({command[1]: finished})
        return section

    return part


def part_torchrun(ctx: Context, limit: float) -> Section:
    """`torchrun --nproc_per_node=1` of the colorization inversion script with the benchmark's random networks."""
    nets, outputs = ctx.work / "torchrun" / "nets", ctx.work / "torchrun" / "inter_data" / "col_torchrun"
    resolution = ["--resolution", str(SMOKE_SIZE), "--fmaps_max", "32"] if ctx.smoke else []
    iterations, size = ("2", SMOKE_SIZE) if ctx.smoke else ("50", 256)
    commands = {
        "torchrun_networks": [ctx.python, "benchmarks/inversion.py", "--device", "cpu", *resolution,
                              "--save_random", str(nets)],  # CPU: writing random weights needs no GPU context
        "torchrun": [ctx.python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                     "code/mganprior/colorization.py", "-i", str(experiment_dir(ctx) / "GT"), "-o", str(outputs),
                     "--gan_weights", str(nets / f"random_pggan{size}.pth"), "--vgg_weights", str(nets / "random_vgg16.pth"),
                     "--composing_layer", "6", "--max_images", "4", "--iterations", iterations, "--batch_size", "4",
                     "--device", ctx.device, "--image_size", str(size)],
    }
    finished = run_commands(ctx, commands, limit)
    section = Section(f"torchrun --nproc_per_node=1, colorization inversion of 4 images ({iterations} steps)")
    priors = len(list((outputs / "mGANoutput").glob("*.png")))
    section.lines = [f"{priors} priors written", *output_lines(finished["torchrun"], lambda line: "inverted" in line)]
    section.summary = f"{priors} of 4 priors written"
    if finished["torchrun"].ok and priors != 4:
        section.status = f"exit code 0 but {priors} of 4 priors written"
    section.add_failures(finished)
    return section
