"""The fusion options of issue 15 next to the paper's fusion: results/fusion_options/table.md from a
workspace's fusion run folders (every `net_data/<exp>_<ID>/` with OURargs.txt and metrics.json).

    python experiments/fusion_options/collect.py table <workspace> [--out results/fusion_options/table.md]
    python experiments/fusion_options/collect.py find <workspace> <experiment> [train.py flags...]

`find` prints the run folder of <experiment> whose OURargs.txt has every given flag's value (the last
one of a repeated flag wins, as in train.py), or nothing: run.sh resumes that run instead of starting
another. Wall time is not recorded by the runs; the table shows the span of the run's files (OURargs.txt
written at the start to the last checkpoint), which includes any pause before a resume.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "results" / "fusion_options"  # what this script writes

from bigprior import metrics
from bigprior.experiment import FUSION_ARGS_FILE, METRICS_FILE
from bigprior.fusion.options import FusionOptions
from bigprior.run import Run
from bigprior.commandline import str2bool

OPTION_FIELDS = ("extend_input", "backbone", "dncnn_layers", "phi_activation", "augment", "self_ensemble",
                 "test_epoch_rule", "holdout", "crop_size", "sources")  # shown when they differ from the defaults
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


RECIPE_FIELDS = ("dncnn_layers", "crop_size")  # the same for every run of a workspace: not part of the label


def _options_label(args: dict) -> str:
    changed = [f"{name}={args[name]}" for name in OPTION_FIELDS
               if name not in RECIPE_FIELDS and name in args and args[name] != getattr(DEFAULTS, name)]
    return ", ".join(changed) or "paper"


def _file_span_minutes(folder: Path) -> float | None:
    checkpoints = list(folder.glob("net_*.pth"))
    if not checkpoints:
        return None
    return (max(p.stat().st_mtime for p in checkpoints) - (folder / FUSION_ARGS_FILE).stat().st_mtime) / 60


def _cell(value: object, decimals: int) -> str:
    return f"{value:.{decimals}f}" if isinstance(value, (int, float)) else ""


def run_records(workspace: Path) -> list[dict]:
    """One record per tested fusion run: its options and the numbers of its metrics.json."""
    records = []
    for path in sorted((workspace / "net_data").glob(f"*/{METRICS_FILE}")):
        folder = path.parent
        if not (folder / FUSION_ARGS_FILE).is_file():  # another method's run (the DnCNN baseline)
            continue
        args, document = json.loads((folder / FUSION_ARGS_FILE).read_text()), json.loads(path.read_text())
        fused, prior = document["mean"]["bigprior"], document["mean"]["prior"]
        records.append({
            "experiment": document["experiment"], "run": folder.name, "options": _options_label(args),
            "bounded": args.get("phi_activation", "none") != "none", "seed": args.get("seed", 0), "epoch": document["epoch"],
            "prior_psnr": prior["psnr"], "psnr": fused["psnr"], "auc": fused.get("auc"), "phi_mean": fused["phi_mean"],
            "outside": fused.get(metrics.PHI_OUTSIDE_KEY), "r": document.get("calibration", {}).get("pearson_phi_advantage"),
            "minutes": _file_span_minutes(folder),
        })
    return records


def table_rows(records: list[dict]) -> list[str]:
    return ["| " + " | ".join([r["experiment"], r["run"], r["options"], str(r["seed"]), str(r["epoch"]), _cell(r["prior_psnr"], 2),
                               _cell(r["psnr"], 2), _cell(r["auc"], 2), _cell(r["phi_mean"], 3), _cell(r["outside"], 4),
                               _cell(r["r"], 3), _cell(r["minutes"], 1)]) + " |" for r in records]


def summary(records: list[dict]) -> list[str]:
    """Per experiment, the paper's fusion against the best other option (by PSNR); phi's calibration,
    bounded against unbounded, on the experiments that have both."""
    lines, wins, compared = [], 0, 0
    for experiment in sorted({r["experiment"] for r in records}):
        runs = [r for r in records if r["experiment"] == experiment]
        paper = [r for r in runs if r["options"] == "paper"]
        others = [r for r in runs if r["options"] != "paper"]
        if not paper or not others:
            continue
        best = max(others, key=lambda r: r["psnr"])
        compared, wins = compared + 1, wins + (best["psnr"] > paper[0]["psnr"])
        lines.append(f"- {experiment}: paper {paper[0]['psnr']:.2f} dB, best option {best['psnr']:.2f} dB "
                     f"({best['psnr'] - paper[0]['psnr']:+.2f}; {best['options']}); BIGPrior vs prior {best['psnr'] - best['prior_psnr']:+.2f} dB")
    if compared:
        lines.insert(0, f"The best option beats the paper's fusion in {wins} of {compared} experiments.")
    with_r = [r for r in records if r["r"] is not None]
    for label, bounded in (("bounded phi (sigmoid)", True), ("unbounded phi (none)", False)):
        values = [r["r"] for r in with_r if r["bounded"] == bounded]
        if values:
            lines.append(f"- r(phi, prior advantage), {label}: mean {sum(values) / len(values):.3f} over {len(values)} runs "
                         f"(min {min(values):.3f}, max {max(values):.3f})")
    return lines


def write_table(workspace: Path, out: Path) -> None:
    header = ("| experiment | run | options | seed | epoch | prior PSNR | PSNR | AuC | mean phi | phi outside [0, 1] | "
              "r(phi, prior advantage) | minutes (file span) |")
    records = run_records(workspace)
    lines = [f"# Fusion options (issue 15): {workspace}", "",
             "PSNR and AuC of the unclamped output over the test images (metrics.json); AuC for colorization only; "
             "phi outside [0, 1]: share of phi's values; r: Pearson correlation of phi with the prior's smoothed "
             "per-pixel advantage |x - gt| - |g - gt| (`metrics.calibration`, empty for runs tested before it was recorded).",
             "", header, "|" + " --- |" * (header.count("|") - 1), *table_rows(records), "", *summary(records), ""]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    table = sub.add_parser("table")
    table.add_argument("workspace", type=Path)
    table.add_argument("--out", type=Path, default=RESULTS / "table.md")
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
