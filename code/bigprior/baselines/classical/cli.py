"""`bigprior peers`: the classical peers of an experiment's task, written into the experiment contract.

    bigprior peers --experiment denblind_bedroom                      # every peer of the task, all images
    bigprior peers --experiment inpcrop_church --methods Telea,Biharmonic --indices test
    bigprior peers --experiment inpcrop_bedroom --methods Telea --set Telea.radius=5    # other settings than the defaults

Writes `inter_data/<experiment>/<Method>output/{i}.png` and `<Method>output/settings.json` for every
image by default (training images too: a fusion network can learn from peer outputs); methods that
learn from images (the colorization peers) are fitted on the training split 0..train_count-1 only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

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
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.SETTING=VALUE",
                        help="a setting other than the method's default (JSON value), e.g. Telea.radius=5; repeatable")
    add_root_flag(parser, holds="inter_data/")
    return parser


def settings_overrides(items: Sequence[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`--set Telea.radius=5 ...` -> {"Telea": {"radius": 5}}; each method must be one of those run."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        name, dot, rest = item.partition(".")
        key, equals, text = rest.partition("=")
        if not (dot and equals and key):
            raise BIGPriorError(f"--set {item!r}: expected METHOD.SETTING=VALUE, e.g. Telea.radius=5")
        if name not in methods:
            raise BIGPriorError(f"--set {item!r}: {name} is not among the methods run ({', '.join(methods)})")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        overrides.setdefault(name, {})[key] = value
    return overrides


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    experiment = Experiment(args.experiment, workspace_root(args.root))
    names = [name.strip() for name in args.methods.split(",") if name.strip()]
    classes = [method_class(name, experiment.task) for name in names] if names else methods_for(experiment.task)
    if not classes:
        raise BIGPriorError(f"--experiment {experiment.name}: no peer restores {experiment.task}")
    overrides = settings_overrides(args.set, [cls.name for cls in classes])
    train, test = experiment.split(args.train_count)
    indices = list(range(len(train) + len(test))) if args.indices == "all" else test
    outputs = []
    for cls in classes:
        method = cls.fit(experiment, train) if cls.learns else cls()
        if cls.name in overrides:
            method = cls.from_settings({**method.settings(), **overrides[cls.name]}, f"--set {cls.name}")
        outputs.append(PeerOutputs(method, experiment.method_dir(cls.name), train if cls.learns else None))
    counts = run_peers(experiment, outputs, indices)
    print(summary_line(experiment, outputs, counts))
