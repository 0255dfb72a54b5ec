"""`python code/train_dncnn.py` / `bigprior train-dncnn`: train the DnCNN denoiser baseline, then test it.

    python code/train_dncnn.py --experiment denblind_bedroom                  # the full run (GPU advised)
    python code/train_dncnn.py --experiment denblind_bedroom --test True --test_model 0 --test_epoch 47
    python code/train_dncnn.py --resume net_data/DnCNN_denblind_bedroom_0
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields

from ..experiment import run_dir, workspace_root
from ..fusion.options import EPOCH_RULES
from ..runtime import add_root_flag, add_runtime_flags, resolve_device, str2bool
from .dncnn import NOISE_SOURCES, RUN_PREFIX, DnCNNOptions, resume_denoiser, evaluate_denoiser, train_denoiser


def build_parser() -> argparse.ArgumentParser:
    defaults = DnCNNOptions()
    parser = argparse.ArgumentParser(description="DnCNN denoiser baseline for the blind-denoising experiments.")
    parser.add_argument("--experiment", type=str, default="", help="a denoising experiment, e.g. denblind_bedroom")
    parser.add_argument("--dncnn_layers", type=int, default=defaults.dncnn_layers, help="DnCNN depth")
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--train_count", type=int, default=defaults.train_count, help="images 0..train_count-1 train, the rest test")
    parser.add_argument("--sigma_min", type=int, default=defaults.sigma_min, help="lowest training noise level (0..255 scale)")
    parser.add_argument("--sigma_max", type=int, default=defaults.sigma_max, help="highest training noise level (0..255 scale)")
    parser.add_argument("--noise", choices=NOISE_SOURCES, default=defaults.noise,
                        help="fresh: new AWGN per batch from the clean images; stored: the saved noisy inputs")
    parser.add_argument("--crop_size", type=int, default=defaults.crop_size, help="random square training crops (0: whole images)")
    parser.add_argument("--test_epoch_rule", choices=EPOCH_RULES, default=defaults.test_epoch_rule,
                        help="epoch tested after training: last, or lr_min (the last epoch ending a cosine cycle)")
    parser.add_argument("--resume", type=str, default=None, help="run folder to continue from its last complete epoch")
    parser.add_argument("--test", type=str2bool, default=False, help="True: only test net_data/DnCNN_<experiment>_<test_model>")
    parser.add_argument("--test_model", type=str, default="0", help="ID of the run to test")
    parser.add_argument("--test_epoch", type=int, default=None, help="checkpoint epoch to test (default: the run's rule)")
    parser.add_argument("--test_batch_size", type=int, default=4)
    add_root_flag(parser)
    add_runtime_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    root = workspace_root(args.root)
    device = resolve_device(args.device)
    if args.resume:
        folder = resume_denoiser(root / args.resume, device)  # an absolute --resume replaces root
    elif args.test:
        folder = run_dir(root, RUN_PREFIX + args.experiment, args.test_model)
        evaluate_denoiser(folder, args.test_epoch, device, args.test_batch_size)
        return
    else:
        known = {f.name for f in fields(DnCNNOptions)}
        folder = train_denoiser(DnCNNOptions(**{k: v for k, v in vars(args).items() if k in known}), root, device)
    evaluate_denoiser(folder, None, device, args.test_batch_size)
    print(f"Completed: {folder}")
