"""`python code/train_dncnn.py` / `bigprior train-dncnn`: train the DnCNN denoiser baseline, then test it.

    python code/train_dncnn.py --experiment denblind_bedroom                  # the full run (GPU advised)
    python code/train_dncnn.py --experiment denblind_bedroom --test True --test_model 0 --test_epoch 47
    python code/train_dncnn.py --resume net_data/DnCNN_denblind_bedroom_0
    python code/train_dncnn.py --resume net_data/DnCNN_denblind_bedroom_0 --epochs 80   # ... and train longer
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields

from ..experiment import run_dir
from ..run import FIXED_EPOCH_RULES
from ..runtime import PRECISIONS
from ..commandline import add_resume_flag, add_root_flag, add_runtime_flags, parse_invocation, str2bool
from .dncnn import NOISE_SOURCES, RUN_PREFIX, DnCNNOptions, resume_denoiser, evaluate_denoiser, train_denoiser


def build_parser() -> argparse.ArgumentParser:
    defaults = DnCNNOptions()
    parser = argparse.ArgumentParser(description="DnCNN denoiser baseline for the blind-denoising experiments.")
    parser.add_argument("--experiment", type=str, default="", help="a denoising experiment, e.g. denblind_bedroom")
    parser.add_argument("--dncnn_layers", type=int, default=defaults.dncnn_layers, help="DnCNN depth")
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size)
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs (default {defaults.epochs}; with --resume: train on to this many in total)")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--train_count", type=int, default=defaults.train_count, help="images 0..train_count-1 train, the rest test")
    parser.add_argument("--sigma_min", type=int, default=defaults.sigma_min, help="lowest training noise level (0..255 scale)")
    parser.add_argument("--sigma_max", type=int, default=defaults.sigma_max, help="highest training noise level (0..255 scale)")
    parser.add_argument("--noise", choices=NOISE_SOURCES, default=defaults.noise,
                        help="fresh: new AWGN per batch from the clean images; stored: the saved noisy inputs")
    parser.add_argument("--crop_size", type=int, default=defaults.crop_size, help="random square training crops (0: whole images)")
    parser.add_argument("--test_epoch_rule", choices=FIXED_EPOCH_RULES, default=defaults.test_epoch_rule,
                        help="epoch tested after training: last, or lr_min (the last epoch ending a cosine cycle)")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                        help="default (PyTorch's; TF32 convs on CUDA), fp32 (strict float32, deterministic on CUDA) or bf16 (autocast)")
    add_resume_flag(parser)
    parser.add_argument("--test", type=str2bool, default=False, help="True: only test net_data/DnCNN_<experiment>_<test_model>")
    parser.add_argument("--test_model", type=str, default="0", help="ID of the run to test")
    parser.add_argument("--test_epoch", type=int, default=None, help="checkpoint epoch to test (default: the run's rule)")
    parser.add_argument("--test_batch_size", type=int, default=4)
    add_root_flag(parser)
    add_runtime_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    command = parse_invocation(build_parser(), argv)
    args, device = command.args, command.device
    if args.resume:
        folder = resume_denoiser(command.resume_folder(), device, args.epochs)
    elif args.test:
        evaluate_denoiser(run_dir(command.root, RUN_PREFIX + args.experiment, args.test_model), args.test_epoch, device,
                          args.test_batch_size)
        return
    else:
        known = {f.name for f in fields(DnCNNOptions)} - {"epochs"}
        options = DnCNNOptions(**{k: v for k, v in vars(args).items() if k in known})
        options.epochs = DnCNNOptions().epochs if args.epochs is None else args.epochs
        folder = train_denoiser(options, command.root, device)
    evaluate_denoiser(folder, None, device, args.test_batch_size)
    print(f"Completed: {folder}")
