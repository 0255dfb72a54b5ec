"""`bigprior peers`: the classical peers of an experiment's task, written into the experiment contract.

    bigprior peers --experiment denblind_bedroom                      # every peer of the task, all images
    bigprior peers --experiment inpcrop_church --methods Telea,Biharmonic --indices test

Writes `inter_data/<experiment>/<Method>output/{i}.png` and `<Method>output/settings.json` for every
image by default (training images too: a fusion network can learn from peer outputs); methods that
learn from images (the colorization peers) are fitted on the training split 0..train_count-1 only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ...errors import BIGPriorError
from ...experiment import PAPER_TRAIN_COUNT, Experiment, workspace_root
from ...commandline import add_root_flag
from .base import REGISTRY, method_class, methods_for
from .stage import PeerOutputs, run_peers, summary_line

INDEX_CHOICES = ("all", "test")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Classical peers (methods nobody here wrote) of an experiment's task.")
    parser.add_argument("--experiment", required=True, help="<task>_<dataset>, e.g. denblind_bedroom")
    parser.add_argument("--methods", default="", help="comma-separated, of " + ", ".join(REGISTRY)
                        + " (default: every peer of the task; BM3D when the bm3d extra is installed)")
    parser.add_argument("--indices", choices=INDEX_CHOICES, default="all",
                        help="all: every image (default); test: images train_count..N-1")
    parser.add_argument("--train_count", type=int, default=PAPER_TRAIN_COUNT,
                        help="images 0..train_count-1 are the training split (what the colorization peers learn from)")
    add_root_flag(parser, holds="inter_data/")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    experiment = Experiment(args.experiment, workspace_root(args.root))
    names = [name.strip() for name in args.methods.split(",") if name.strip()]
    classes = [method_class(name, experiment.task) for name in names] if names else methods_for(experiment.task)
    if not classes:
        raise BIGPriorError(f"--experiment {experiment.name}: no peer restores {experiment.task}")
    train, test = experiment.split(args.train_count)
    indices = list(range(len(train) + len(test))) if args.indices == "all" else test
    outputs = [PeerOutputs(cls.fit(experiment, train) if cls.learns else cls(), experiment.method_dir(cls.name),
                           train if cls.learns else None) for cls in classes]
    counts = run_peers(experiment, outputs, indices)
    print(summary_line(experiment, outputs, counts))
