"""The goals the GPU check measures (issue 20), each with its row in the report: measured, or "not measured" and
why. Every inversion goal reads the best valid mode of its precision (eager or compiled) at the colorization
setting: a mode is valid when its rate was measured (the benchmark prints a rate only for finite priors) and,
for a compiled mode, its priors match the eager step's within 0.1 dB (PSNR to the targets)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .inversion_parts import INVERSION_MODES, SAME_QUALITY_DB, InversionMode

Numbers = dict[str, float]


@dataclass(frozen=True)
class Reading:
    value: float
    text: str  # the "measured" cell


Reader = Callable[[Numbers], "Reading | str"]  # a reading, or why there is none


@dataclass(frozen=True)
class Goal:
    text: str
    read: Reader
    met: Callable[[float], bool] | None = bool  # None: a figure the issues ask for without a target


def number(key: str, shown: Callable[[float], str] = "{:.4g}".format) -> Reader:
    def read(numbers: Numbers) -> Reading | str:
        return Reading(numbers[key], shown(numbers[key])) if key in numbers else "not measured"

    return read


def not_measured(why: str) -> Reader:
    return lambda numbers: f"not measured: {why}"


def valid(mode: InversionMode, numbers: Numbers, setting: str) -> tuple[float | None, str]:
    """A mode's rate if it counts, else None and why not (an empty reason: not measured)."""
    rate = numbers.get(f"inversion.{mode.key}.{setting}.rate")
    if rate is None:
        return None, ""
    gap = numbers.get(f"inversion.{mode.key}.{setting}.gap")
    if mode.compiled and mode.compare == mode.precision and (gap is None or abs(gap) > SAME_QUALITY_DB):
        why = "no comparison with the eager step" if gap is None else f"priors {gap:+.2f} dB from the eager step's"
        return None, f"{mode.key}'s {rate:.0f} not counted: {why}"
    return rate, ""


def best_mode(precision: str, numbers: Numbers, setting: str = "colorization") -> tuple[InversionMode | None, str]:
    """The fastest valid mode of a precision, and notes on modes that were measured but do not count."""
    best, best_rate, notes = None, -1.0, []
    for mode in INVERSION_MODES.values():
        if mode.precision == precision:
            rate, why = valid(mode, numbers, setting)
            notes += [why] if why else []
            if rate is not None and rate > best_rate:
                best, best_rate = mode, rate
    return best, "; ".join(notes)


def inversion(precision: str, figure: str, shown: Callable[[float], str]) -> Reader:
    """A figure (rate, share, gap) of the best valid mode of `precision` at the colorization setting."""

    def read(numbers: Numbers) -> Reading | str:
        mode, notes = best_mode(precision, numbers)
        value = None if mode is None else numbers.get(f"inversion.{mode.key}.colorization.{figure}")
        if value is None:
            reason = "no valid mode measured" if mode is None else f"{mode.key} has no {figure} (n/a)"
            return f"not measured ({reason}{'; ' + notes if notes else ''})"
        return Reading(value, f"{shown(value)} ({mode.key}{'; ' + notes if notes else ''})")

    return read


def percent(value: float) -> str:
    return f"{100 * value:.0f}% of peak"


def col_goals() -> list[Goal]:
    seeds = range(3)
    return [
        *(Goal(f"col_bedroom seed {s}: above 23.08 dB", number(f"col.seed{s}_extendFalse.psnr"), lambda v: v > 23.08) for s in seeds),
        *(Goal(f"col_bedroom seed {s}: above 89.28 AuC", number(f"col.seed{s}_extendFalse.auc"), lambda v: v > 89.28) for s in seeds),
        *(Goal(f"col_bedroom seed {s}, --extend_input: >= 23.5 dB", number(f"col.seed{s}_extendTrue.psnr"), lambda v: v >= 23.5)
          for s in seeds),
        *(Goal(f"col_bedroom seed {s}, bounded phi: above 23.5 dB", number(f"col.seed{s}_bounded.psnr"), lambda v: v > 23.5)
          for s in seeds),
        Goal("col_bedroom, bounded phi: >= 23.8 dB, mean of 3 seeds", number("col.bounded.mean_psnr"), lambda v: v >= 23.8),
        Goal("col_bedroom, bounded phi: >= 89.8 AuC, mean of 3 seeds", number("col.bounded.mean_auc"), lambda v: v >= 89.8),
        *(Goal(f"col_bedroom seed {s}, multi-source: >= 24.0 dB", number(f"col.seed{s}_multi.psnr"), lambda v: v >= 24.0)
          for s in seeds),
        *(Goal(f"col_bedroom seed {s}, multi-source: >= 90.0 AuC", number(f"col.seed{s}_multi.auc"), lambda v: v >= 90.0)
          for s in seeds),
    ]


def goals(budget: float) -> list[Goal]:
    rate = "{:.1f} image-steps/s".format
    return [
        Goal("inversion, TF32 default, colorization: >= 600 image-steps/s", inversion("default", "rate", rate), lambda v: v >= 600),
        Goal("inversion, strict fp32, colorization: >= 200 image-steps/s", inversion("fp32", "rate", rate), lambda v: v >= 200),
        Goal("inversion, strict fp32, colorization: >= 65% of the FP32 peak", inversion("fp32", "share", percent),
             lambda v: v >= 0.65),
        Goal("inversion, bf16, colorization: >= 1,400 image-steps/s", inversion("bf16", "rate", rate), lambda v: v >= 1400),
        Goal("inversion, bf16 priors within 0.1 dB of fp32 (that mode; PSNR to the targets after its 23 steps, random weights)",
             inversion("bf16", "gap", "{:+.3f} dB".format), lambda v: abs(v) <= SAME_QUALITY_DB),
        Goal("inversion, bf16 priors within 0.1 dB of fp32 after the paper's 1,500 steps, published generator",
             not_measured("no published generator weights here, and their ~90 MB would not travel beside the data (64 MiB)")),
        Goal("fusion: <= 0.2 s per epoch at the paper's settings (the project's fastest mode)", number("fusion.fastest"),
             lambda v: v <= 0.2),
        Goal("fusion: strict fp32 weights identical to the release loop's", number("fusion.fp32_vs_release"), lambda v: v == 0),
        *col_goals(),
        Goal("resume: the same weights as the uninterrupted run", number("resume.difference"), lambda v: v == 0),
        Goal("restore a folder (issue 23): photos per second, 1 MP photos, --degrade True",
             number("restore.photos_per_second", "{:.2f} photos/s".format), None),
        Goal(f"the whole script: <= {budget:.0f} s", number("run.seconds", "{:.0f} s".format), lambda v: v <= budget),
        Goal("the whole script: every part run", number("run.not_run", lambda v: f"{v:.0f} part(s) not run"), lambda v: v == 0),
        Goal("the whole script: report in $OUT after every part", number("run.out", lambda v: "written after every part"),
             lambda v: v == 1),
    ]


def goals_table(numbers: Numbers, budget: float, smoke: bool) -> list[str]:
    """Each goal with its reading; a --smoke run's toy figures are shown but never judged."""
    lines = ["| goal | measured | met |", "| --- | --- | --- |"]
    for goal in goals(budget):
        reading = goal.read(numbers)
        if isinstance(reading, str):
            lines.append(f"| {goal.text} | {reading} |  |")
        else:
            met = "toy sizes" if smoke else "no target" if goal.met is None else "yes" if goal.met(reading.value) else "no"
            lines.append(f"| {goal.text} | {reading.text} | {met} |")
    return lines
