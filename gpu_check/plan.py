"""The plan of the GPU check: its parts in order, each with a time limit, the least time worth starting it with,
and the seconds it is expected to take on one H200 (benchmarks/README.md shows how each estimate was made).

The most valuable figures come first, so that a slow run loses the least: the eager inversion modes (the
goals' baselines), one compiled mode (one compile, static shapes), the fusion figures, and last the other
compiled mode with what is left. The estimates add up to less than the budget with every part run
(tests/test_gpu_check.py checks it); the limits add up to more, so a part that overruns takes from the parts
after it, which are then skipped with a note rather than cut.

A new part is one `Part` line here, at its place in the order, with its estimate (and its goals in goals.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .data import part_data
from .fusion_parts import part_col_bedroom, part_fusion_epoch, part_resume
from .inversion_parts import inversion_part, part_torchrun
from .restore_parts import part_restore_folder
from .runner import Context, Section

BUDGET_S = 480  # of the 600 s a device call may run: the rest is margin for a part that overruns its estimate
ORCHESTRATION_S = 10  # the device probe, the report and the logs written after every part


@dataclass(frozen=True)
class Part:
    name: str
    run: Callable[[Context, float], Section] | None  # None: a place kept in the plan for a part still to come
    limit: float  # seconds it may run (at most what is left of the budget)
    least: float  # skipped with a note when less than this is left
    estimate: float  # expected seconds on one H200
    measures: str
    needs_data: bool = False
    smoke: str = ""  # why --smoke leaves it out (CI's time: a code path another part already runs); empty: it runs


PLAN: tuple[Part, ...] = (
    Part("data", part_data, 40, 5, 8, "the packed col_bedroom copy unpacked (16 workers), every image's pixels checked"),
    Part("inversion-default", inversion_part("default"), 45, 20, 25,
         "TF32 eager: both paper settings, batch 64, FLOPs and share of peak, the one-image reference",
         smoke="the eager path of inversion-fp32 and inversion-bf16"),
    Part("inversion-fp32", inversion_part("fp32"), 70, 30, 42,
         "strict fp32 eager, same; agreement with the reference after 1 and 50 steps on 2 images, with verdicts"),
    Part("inversion-bf16", inversion_part("bf16"), 45, 20, 24,
         "bf16 eager, same; the timed priors against strict fp32 on 8 images (PSNR to the targets)"),
    Part("inversion-bf16-compiled", inversion_part("bf16-compiled"), 150, 60, 70,
         "bf16 torch.compile, colorization only: one compile, static shapes; priors against fp32 on 8 images"),
    Part("fusion", part_fusion_epoch, 60, 20, 25,
         "fusion epoch at the paper's scale: the release-style loop, the project's default, fp32 and bf16 modes"),
    Part("col_bedroom", part_col_bedroom, 200, 90, 120,
         "col_bedroom from scratch, 50 epochs: 3 seeds x each variant of variants.py (12 runs), all at once, bf16",
         needs_data=True),
    Part("resume", part_resume, 60, 30, 30, "a strict fp32 run killed after its first epoch and resumed, against one "
         "uninterrupted", needs_data=True),
    Part("torchrun", part_torchrun, 45, 20, 22, "torchrun --nproc_per_node=1 of the colorization script, 4 images",
         needs_data=True),
    Part("restore-folder", part_restore_folder, 30, 20, 25, "issue 23: `bigprior restore --degrade True` on a folder of "
         "12 photos of 1 MP (denoise, default batch), photos per second"),
    Part("inversion-default-compiled", inversion_part("default-compiled"), 150, 45, 60,
         "TF32 torch.compile, colorization only, with what is left: one compile, static shapes; priors against eager TF32",
         smoke="the compiled path of inversion-bf16-compiled"),
)


def planned_seconds(plan: tuple[Part, ...] = PLAN) -> float:
    """What the plan expects a full run to take: every part's estimate and the orchestration's."""
    return sum(part.estimate for part in plan) + ORCHESTRATION_S


def plan_table(plan: tuple[Part, ...] = PLAN, budget: float = BUDGET_S) -> list[str]:
    """The plan as a markdown table (`--plan` prints it; benchmarks/README.md holds a copy, checked by a test)."""
    lines = ["| # | part | limit, s | least, s | estimate on one H200, s | ends by, s | measures |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    ends = ORCHESTRATION_S
    for number, part in enumerate(plan, 1):
        ends += part.estimate
        lines.append(f"| {number} | {part.name} | {part.limit:.0f} | {part.least:.0f} | {part.estimate:.0f} | {ends:.0f} | "
                     f"{part.measures} |")
    lines.append(f"| | total (with {ORCHESTRATION_S} s of orchestration) | {sum(p.limit for p in plan):.0f} | | "
                 f"{planned_seconds(plan):.0f} | of {budget:.0f} | |")
    return lines
