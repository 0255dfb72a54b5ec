"""`bigprior write-defaults`: make the built-in default from tested fusion runs.

    bigprior write-defaults --run col=runs/x/net_data/col_bedroom_0 --run inpcrop=runs/x/net_data/inpcrop_bedroom_2 \
        --run inpvar=... --run denblind=... [--assets FOLDER]

For each task, the run's tested checkpoint (the epoch of its metrics.json) is written as
`<assets>/fusion_<task>.pth` (float16, the paper's layout), and `<assets>/defaults.json` records the
network's spec, its training scale, how its experiment's priors were made (mGANargs.txt: inversion and
degradation settings) and where it comes from (run, epoch, test PSNR). Tasks without `--run` keep
their current entry. `--assets` defaults to the shipped `assets/default/`; the built-in generator is
copied into another folder. Every run is read and checked before anything is written.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from . import imageio
from .defaults import TaskDefault, load_defaults, write_defaults
from .degradations import degradation_class
from .errors import BIGPriorError
from .experiment import INVERSION_ARGS_FILE, METRICS_FILE, Experiment, run_workspace, split_experiment_name
from .fusion.loading import load_fusion_run
from .inversion.stage import settings_from_record
from .pipeline import classical_methods_of_run
from .run import checkpoint_name, load_weights
from .zoo import ASSETS_DIR, DEFAULT_GENERATOR, DEFAULTS_FILE


def default_from_run(task: str, folder: Path, assets: Path) -> tuple[TaskDefault, dict]:
    """The built-in default of `task` from a tested fusion run, and its checkpoint's state dict (float16)."""
    metrics_path = Path(folder) / METRICS_FILE
    tested = imageio.read_json(metrics_path)
    loaded = load_fusion_run(folder, tested.get("epoch"), flag="--run ")
    run_task = split_experiment_name(loaded.options.experiment)[0]
    if degradation_class(run_task).verb != degradation_class(task).verb:
        raise BIGPriorError(f"--run {task}={folder}: a {degradation_class(run_task).title} run, not one for {task}")
    experiment = Experiment(loaded.options.experiment, run_workspace(loaded.folder))
    inversion, degradation, _ = settings_from_record(experiment, imageio.read_json(experiment.dir / INVERSION_ARGS_FILE))
    scale = loaded.scale
    state = {k: v.half() if v.is_floating_point() else v
             for k, v in load_weights(loaded.folder / checkpoint_name(loaded.epoch)).items()}
    classical = {name: {"method": method.name, "settings": method.settings()}
                 for name, method in classical_methods_of_run(loaded).items()}
    default = TaskDefault(
        task=task, inversion=inversion, degradation=degradation.settings(), fusion_file=assets / f"fusion_{task}.pth",
        spec=loaded.options.spec(), scale=scale, classical=classical,
        provenance={"trained_on": f"{experiment.name} images 0..{loaded.options.train_count - 1} ({scale.image_resolution}x"
                                  f"{scale.image_resolution}, priors {scale.prior_resolution}x{scale.prior_resolution})",
                    "run": loaded.folder.name, "epoch": loaded.epoch,
                    "test_psnr": {"prior": tested["mean"]["prior"]["psnr"], "bigprior": tested["mean"]["bigprior"]["psnr"]}},
    )
    return default, state


def write_builtin_default(runs: dict[str, Path], assets: Path = ASSETS_DIR) -> dict:
    """Write the fusion networks of `runs` (task -> run folder) and `<assets>/defaults.json`; the other
    tasks keep their entries of the current defaults."""
    current = load_defaults()
    made = {task: default_from_run(task, folder, assets) for task, folder in runs.items()}  # all read first
    generator = assets / DEFAULT_GENERATOR.name
    if not generator.is_file():
        imageio.write_with(generator, lambda tmp: shutil.copyfile(DEFAULT_GENERATOR, tmp))
    tasks = dict(current.tasks)
    for task, (default, state) in made.items():
        imageio.torch_save(default.fusion_file, state)
        tasks[task] = default
    for task, default in tasks.items():
        if default.fusion_file.parent != assets:  # a kept entry of another folder: its network comes along
            kept = assets / default.fusion_file.name
            imageio.write_with(kept, lambda tmp, source=default.fusion_file: shutil.copyfile(source, tmp))
            tasks[task] = replace(default, fusion_file=kept)
    return write_defaults(generator, tasks, assets / DEFAULTS_FILE.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior write-defaults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", default=[], metavar="TASK=FOLDER", required=True,
                        help="a tested fusion run folder for a task (col, inpcrop, inpvar, denblind); repeatable")
    parser.add_argument("--assets", default=str(ASSETS_DIR), help="folder of the defaults (default: the shipped ones)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    runs = {}
    for item in args.run:
        task, sep, folder = item.partition("=")
        if not sep or not folder:
            raise BIGPriorError(f"--run {item!r}: expected TASK=FOLDER, e.g. col=net_data/col_bedroom_0")
        degradation_class(task)
        runs[task] = Path(folder)
    assets = Path(args.assets)
    imageio.check_output_folder(assets, "--assets")
    write_builtin_default(runs, assets)
    print(f"built-in defaults written to {assets / DEFAULTS_FILE.name} ({', '.join(sorted(runs))} from runs)")
