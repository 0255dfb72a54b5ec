"""Collect the reduced-scale reproduction into results/reduced_scale/table.md and make the built-in
default fusion networks from its bedroom runs.

    python results/reduced_scale/collect.py <workspace> [--published ../shared/bigprior-paper]

Reads each experiment's fusion test (`<workspace>/net_data/<exp>_0/metrics.json`: PSNR and AuC of the
unclamped output, the release's convention) and the published table, writes the side-by-side table,
and copies the fusion networks of each task's bedroom run _1 (float16) with `defaults.json` (written by
`bigprior.defaults.write_defaults`) into code/bigprior/assets/default/. With `--defaults_only --dataset D
--run_id N --assets F` it only writes the networks of the runs <task>_D_N and F/defaults.json
(results/native_resolution/retrain.sh).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "code"))

from bigprior import imageio  # noqa: E402
from bigprior.defaults import TaskDefault, write_defaults  # noqa: E402
from bigprior.run import checkpoint_name, load_weights  # noqa: E402
from bigprior.zoo import ASSETS_DIR, DEFAULT_GENERATOR, DEFAULTS_FILE  # noqa: E402
from bigprior.degradations import REGISTRY  # noqa: E402
from bigprior.experiment import Experiment  # noqa: E402
from bigprior.fusion.options import FusionOptions  # noqa: E402
from bigprior.inversion.cli import settings_from_record  # noqa: E402
from bigprior.published import load_published  # noqa: E402

EXPERIMENTS = ["col_bedroom", "col_church", "denblind_bedroom", "denblind_church", "denblind_conference",
               "inpcrop_bedroom", "inpcrop_church", "inpcrop_conference", "inpvar_bedroom", "inpvar_church",
               "inpvar_conference"]
# the built-in networks: each task's bedroom run with --extend_input True (run _1), a rule fixed before seeing results
DEFAULT_DATASET, DEFAULT_RUN_ID = "bedroom", 1


def fmt(value: float | None, decimals: int = 2) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _metrics(workspace: Path, exp: str, run: int) -> dict | None:
    path = workspace / "net_data" / f"{exp}_{run}" / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(workspace: Path, published_dir: Path | None) -> str:
    """Run _0 is the paper's fusion, run _1 the same with --extend_input True."""
    published = load_published(published_dir) if published_dir else None
    header = ("| experiment | prior PSNR | BIGPrior PSNR | gain | mean phi | BIGPrior PSNR, extend_input | prior AuC | "
              "BIGPrior AuC | AuC, extend_input | paper prior PSNR | paper BIGPrior PSNR | paper gain | paper mean phi | "
              "paper prior AuC | paper BIGPrior AuC |")
    columns = header.count("|") - 1
    lines = [header, "|" + " --- |" * columns]
    wins, gains, extended = 0, [], []
    for exp in EXPERIMENTS:
        m, e = _metrics(workspace, exp, 0), _metrics(workspace, exp, 1)
        if m is None:
            lines.append(f"| {exp} | (not run) |" + " |" * (columns - 2))
            continue
        prior, fused = m["mean"]["prior"], m["mean"]["bigprior"]
        ext = e["mean"]["bigprior"] if e else {}
        gain = fused["psnr"] - prior["psnr"]
        wins += gain > 0
        gains.append(gain)
        if e:
            extended.append(ext["psnr"] - fused["psnr"])
        paper = {k: published.get(exp, k) if published else None
                 for k in ("prior_psnr", "bigprior_psnr", "phi_mean", "prior_auc", "bigprior_auc")}
        paper_gain = (paper["bigprior_psnr"] - paper["prior_psnr"]) if paper["prior_psnr"] is not None else None
        lines.append(
            f"| {exp} | {fmt(prior['psnr'])} | {fmt(fused['psnr'])} | {gain:+.2f} | {fmt(fused['phi_mean'], 3)} | "
            f"{fmt(ext.get('psnr'))} | {fmt(prior.get('auc'))} | {fmt(fused.get('auc'))} | {fmt(ext.get('auc'))} | "
            f"{fmt(paper['prior_psnr'])} | {fmt(paper['bigprior_psnr'])} | "
            f"{'' if paper_gain is None else f'{paper_gain:+.2f}'} | {fmt(paper['phi_mean'], 3)} | "
            f"{fmt(paper['prior_auc'])} | {fmt(paper['bigprior_auc'])} |"
        )
    done = len(gains)
    summary = (f"BIGPrior (the paper's fusion) beats its prior in {wins} of {done} experiments run (the paper: 11 of 11); "
               f"gain {sum(gains) / max(1, done):+.2f} dB on average (min {min(gains, default=0):+.2f}, "
               f"max {max(gains, default=0):+.2f}).")
    if extended:
        summary += (f" `--extend_input True` changes BIGPrior's PSNR by {sum(extended) / len(extended):+.2f} dB on average "
                    f"(min {min(extended):+.2f}, max {max(extended):+.2f}; better in "
                    f"{sum(d > 0 for d in extended)} of {len(extended)}).")
    return "\n".join(lines) + "\n\n" + summary + "\n"


def task_default(workspace: Path, task: str, run_name: str, assets: Path) -> TaskDefault:
    """The built-in default of one task from a fusion run: its network (float16, into `assets`) and
    the inversion and degradation settings of its experiment's mGANargs.txt."""
    run = workspace / "net_data" / run_name
    experiment = Experiment(run_name.rsplit("_", 1)[0], workspace)
    metrics = json.loads((run / "metrics.json").read_text())
    options = FusionOptions.load(run)
    state = load_weights(run / checkpoint_name(metrics["epoch"]))
    fusion_file = assets / f"fusion_{task}.pth"
    imageio.torch_save(fusion_file, {k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    record = imageio.read_json(experiment.dir / "mGANargs.txt")
    inversion, degradation, prior_resolution = settings_from_record(experiment, record)
    image_resolution = experiment.read_gt(0).shape[-1]
    return TaskDefault(
        task=task, inversion=inversion, degradation=degradation.settings(), fusion_file=fusion_file,
        dncnn_layers=options.dncnn_layers, extend_input=options.extend_input, prior_resolution=prior_resolution,
        image_resolution=image_resolution, backbone=options.backbone, phi_activation=options.phi_activation,
        provenance={"trained_on": f"{experiment.name} images 0..{options.train_count - 1} ({image_resolution}x{image_resolution}, priors "
                                  f"{prior_resolution}x{prior_resolution})", "run": run.name, "epoch": metrics["epoch"],
                    "test_psnr": {"prior": metrics["mean"]["prior"]["psnr"], "bigprior": metrics["mean"]["bigprior"]["psnr"]}},
    )


def make_defaults(workspace: Path, dataset: str = DEFAULT_DATASET, run_id: int = DEFAULT_RUN_ID,
                  assets: Path = ASSETS_DIR, task_runs: dict[str, int] | None = None) -> dict:
    """Write each task's fusion network and `<assets>/defaults.json` (with the built-in generator, copied
    into `assets` when it is another folder); `task_runs` picks another run ID for some tasks."""
    task_runs = task_runs or {}
    generator = assets / DEFAULT_GENERATOR.name
    if not generator.is_file():
        imageio.write_with(generator, lambda tmp: shutil.copyfile(DEFAULT_GENERATOR, tmp))
    tasks = {task: task_default(workspace, task, f"{task}_{dataset}_{task_runs.get(task, run_id)}", assets) for task in REGISTRY}
    return write_defaults(generator, tasks, assets / DEFAULTS_FILE.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace")
    parser.add_argument("--published", default=str(ROOT.parent / "shared" / "bigprior-paper"))
    parser.add_argument("--no_defaults", action="store_true", help="only the table")
    parser.add_argument("--defaults_only", action="store_true", help="only the built-in networks and defaults.json")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="the experiments <task>_<dataset> of the defaults")
    parser.add_argument("--run_id", type=int, default=DEFAULT_RUN_ID, help="their fusion runs <task>_<dataset>_<ID>")
    parser.add_argument("--assets", default=str(ASSETS_DIR), help="folder of the defaults (default: the built-in ones)")
    parser.add_argument("--task_run", action="append", default=[], metavar="TASK=ID",
                        help="another run ID for one task (repeatable), e.g. inpcrop=1")
    args = parser.parse_args()
    workspace = Path(args.workspace)
    if not args.defaults_only:
        published = Path(args.published) if Path(args.published).is_dir() else None
        text = table(workspace, published)
        imageio.write_text(HERE / "table.md", text)
        print(text)
    if not args.no_defaults:
        task_runs = {task: int(number) for task, number in (item.split("=", 1) for item in args.task_run)}
        make_defaults(workspace, args.dataset, args.run_id, Path(args.assets), task_runs)
        print(f"built-in defaults written to {Path(args.assets) / DEFAULTS_FILE.name}")


if __name__ == "__main__":
    main()
