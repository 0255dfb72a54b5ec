"""The fusion options of issue 15 next to the paper's fusion: results/fusion_options/table.md from a
workspace's fusion run folders (every `net_data/<exp>_<ID>/` with OURargs.txt and metrics.json).

    python results/fusion_options/collect.py table <workspace> [--out results/fusion_options/table.md]
    python results/fusion_options/collect.py find <workspace> <experiment> [train.py flags...]

`find` prints the run folder of <experiment> whose OURargs.txt has every given flag's value (the last
one of a repeated flag wins, as in train.py), or nothing: run.sh resumes that run instead of starting
another. Wall time is not recorded by the runs; the table shows the span of the run's files (OURargs.txt
written at the start to the last checkpoint), which includes any pause before a resume.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "code"))

from bigprior import metrics  # noqa: E402
from bigprior.experiment import FUSION_ARGS_FILE, METRICS_FILE  # noqa: E402
from bigprior.fusion.options import FusionOptions  # noqa: E402
from bigprior.run import Run  # noqa: E402
from bigprior.runtime import str2bool  # noqa: E402

OPTION_FIELDS = ("extend_input", "backbone", "dncnn_layers", "phi_activation", "augment", "self_ensemble",
                 "test_epoch_rule", "holdout", "crop_size")  # shown when they differ from the defaults
DEFAULTS = FusionOptions()


def _value(stored: object, given: str) -> object:
    """A command-line value in the type of the stored one."""
    if isinstance(stored, bool):
        return str2bool(given)
    return type(stored)(given) if isinstance(stored, (int, float)) else given


def find_run(workspace: Path, experiment: str, flags: list[str]) -> Path | None:
    """The lowest-numbered run of `experiment` whose options match every `--name value` pair, and whose
    options of OPTION_FIELDS that are not given are the defaults (so the paper's fusion is not found
    in a run with extra options)."""
    wanted = dict(zip((f.removeprefix("--") for f in flags[::2]), flags[1::2]))
    wanted.update({name: str(getattr(DEFAULTS, name)) for name in OPTION_FIELDS if name not in wanted})
    known = {f.name for f in fields(FusionOptions)}
    for folder in sorted((workspace / "net_data").glob(f"{experiment}_*"), key=lambda p: Run(p).id or -1):
        args_file = folder / FUSION_ARGS_FILE
        if Run(folder).id is None or not args_file.is_file():
            continue
        stored = json.loads(args_file.read_text())
        if stored.get("experiment") == experiment and all(
            name in stored and stored[name] == _value(stored[name], value) for name, value in wanted.items() if name in known
        ):
            return folder
    return None


def _options_label(args: dict) -> str:
    changed = [f"{name}={args[name]}" for name in OPTION_FIELDS if name in args and args[name] != getattr(DEFAULTS, name)]
    return ", ".join(changed) or "paper"


def _file_span_minutes(folder: Path) -> float | None:
    checkpoints = list(folder.glob("net_*.pth"))
    if not checkpoints:
        return None
    return (max(p.stat().st_mtime for p in checkpoints) - (folder / FUSION_ARGS_FILE).stat().st_mtime) / 60


def _cell(value: object, decimals: int) -> str:
    return f"{value:.{decimals}f}" if isinstance(value, (int, float)) else ""


def table_rows(workspace: Path) -> list[str]:
    rows = []
    for path in sorted((workspace / "net_data").glob(f"*/{METRICS_FILE}")):
        folder = path.parent
        if not (folder / FUSION_ARGS_FILE).is_file():  # another method's run (the DnCNN baseline)
            continue
        args, document = json.loads((folder / FUSION_ARGS_FILE).read_text()), json.loads(path.read_text())
        fused, prior = document["mean"]["bigprior"], document["mean"]["prior"]
        calibration = document.get("calibration", {})
        cells = [document["experiment"], folder.name, _options_label(args), str(args.get("seed", 0)), str(document["epoch"]),
                 _cell(prior["psnr"], 2), _cell(fused["psnr"], 2), _cell(fused.get("auc"), 2),
                 _cell(fused["phi_mean"], 3), _cell(fused.get(metrics.PHI_OUTSIDE_KEY), 4),
                 _cell(calibration.get("pearson_phi_advantage"), 3), _cell(_file_span_minutes(folder), 1)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def write_table(workspace: Path, out: Path) -> None:
    header = ("| experiment | run | options | seed | epoch | prior PSNR | PSNR | AuC | mean phi | phi outside [0, 1] | "
              "r(phi, prior advantage) | minutes (file span) |")
    lines = [f"# Fusion options (issue 15): {workspace}", "",
             "PSNR and AuC of the unclamped output over the test images (metrics.json); AuC for colorization only; "
             "phi outside [0, 1]: share of phi's values; r: Pearson correlation of phi with the prior's smoothed "
             "per-pixel advantage |x - gt| - |g - gt| (`metrics.calibration`, empty for runs tested before it was recorded).",
             "", header, "|" + " --- |" * (header.count("|") - 1), *table_rows(workspace), ""]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    table = sub.add_parser("table")
    table.add_argument("workspace", type=Path)
    table.add_argument("--out", type=Path, default=HERE / "table.md")
    find = sub.add_parser("find")
    find.add_argument("workspace", type=Path)
    find.add_argument("experiment")
    find.add_argument("flags", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "table":
        write_table(args.workspace, args.out)
    else:
        folder = find_run(args.workspace, args.experiment, args.flags)
        print(folder if folder else "")


if __name__ == "__main__":
    main()
