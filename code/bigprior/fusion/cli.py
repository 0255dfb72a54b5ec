"""`python code/train.py` / `bigprior train`: the paper's command line for the fusion stage.

    python code/train.py --experiment col_bedroom --lr 0.01 --batch_size 8 --backbone D --phi_weight 1e-5
    python code/train.py --experiment col_bedroom --test True --test_model 1 --test_epoch 24

Beyond the paper (defaults reproduce it; see docs/fusion.md): --phi_activation, --backbone U,
--augment, --self_ensemble, --test_epoch_rule holdout --holdout N, and the multi-source fusion
(--sources x,gan,NLmeans: per-pixel shares of the observation, the prior and classical restorations).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields

from ..errors import BIGPriorError
from ..experiment import run_dir
from ..run import EPOCH_RULES
from ..runtime import PRECISIONS
from ..commandline import add_resume_flag, add_root_flag, add_runtime_flags, parse_invocation, str2bool
from .options import FusionOptions
from .spec import BACKBONES, PHI_ACTIVATIONS
from .training import evaluate, resume, test_after_training, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="BIGPrior fusion stage: learn phi, then test.")
    parser.add_argument("--experiment", type=str, default=None, help="<task>_<dataset>, e.g. col_bedroom")
    parser.add_argument("--extend_input", type=str2bool, default=False, help="also feed the prior to the phi network")
    net = parser.add_argument_group("network")
    net.add_argument("--backbone", type=str, default="D",
                     help="phi backbone: " + ", ".join(f"{k} ({v})" for k, v in BACKBONES.items()))
    net.add_argument("--dncnn_layers", type=int, default=17, help="DnCNN depth")
    net.add_argument("--phi_activation", choices=PHI_ACTIVATIONS, default="none",
                     help="none (the paper's unbounded phi), sigmoid or clamp (phi in [0, 1])")
    net.add_argument("--sources", default="",
                     help="the multi-source fusion's sources, the observation first: x,gan (the prior) and classical "
                          "methods with outputs in inter_data/<experiment>/<Method>output/ (`bigprior peers`), e.g. "
                          "x,gan,NLmeans,TV (default: the paper's two-source fusion)")
    for name in ("memnet_channels", "memnet_memblocks", "memnet_resblocks"):
        net.add_argument(f"--{name}", type=int, default=5, help="accepted and recorded for the paper's OURargs.txt")
    tr = parser.add_argument_group("training")
    tr.add_argument("--batch_size", type=int, default=4)
    tr.add_argument("--epochs", type=int, default=50)
    tr.add_argument("--lr", type=float, default=1e-5)
    tr.add_argument("--phi_weight", type=float, default=0.0, help="weight of |mean(phi)| in the loss")
    tr.add_argument("--train_count", type=int, default=250, help="images 0..train_count-1 train, the rest test")
    tr.add_argument("--crop_size", type=int, default=0, help="random square training crops (0: whole images)")
    tr.add_argument("--precision", choices=PRECISIONS, default="default",
                    help="default (PyTorch's; TF32 convs on CUDA), fp32 (strict float32) or bf16 (autocast)")
    tr.add_argument("--test_epoch_rule", choices=EPOCH_RULES, default="lr_min",
                    help="epoch tested after training: last, lr_min (the last epoch ending a cosine cycle) or "
                         "holdout (the best PSNR on the --holdout images)")
    tr.add_argument("--holdout", type=int, default=0,
                    help="hold the last N of the --train_count images out of training, for --test_epoch_rule holdout")
    tr.add_argument("--augment", type=str2bool, default=False,
                    help="random flips / quarter turns of the training triplets (one per batch, seeded)")
    add_resume_flag(tr)
    te = parser.add_argument_group("testing (the network settings come from the run's OURargs.txt)")
    te.add_argument("--test", type=str2bool, default=False, help="True: test net_data/<experiment>_<test_model>")
    te.add_argument("--test_model", type=str, default="0", help="ID of the run to test")
    te.add_argument("--test_epoch", type=int, default=49, help="epoch of the checkpoint to test")
    te.add_argument("--test_data", type=str, default="Default", help="another experiment's data to test on")
    te.add_argument("--test_batch_size", type=int, default=4)
    te.add_argument("--self_ensemble", type=str2bool, default=None,
                    help="average phi over the 8 flips / quarter turns at test time (training: recorded for the "
                         "test after it; --test True: default as the tested run's OURargs.txt)")
    add_root_flag(parser)
    parser.add_argument("--workers", type=int, default=4, help="threads reading images")
    add_runtime_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    command = parse_invocation(build_parser(), argv)
    args, root, device = command.args, command.root, command.device
    if args.resume:
        folder = resume(command.resume_folder(), device, args.workers)
        test_after_training(folder, device, args.workers, args.test_batch_size)
        return
    if not args.experiment:
        raise BIGPriorError("--experiment is required (e.g. --experiment col_bedroom)")
    if args.test:
        evaluate(run_dir(root, args.experiment, args.test_model), args.test_epoch, device, args.test_data, args.workers,
                 args.test_batch_size, self_ensemble=args.self_ensemble)
        return
    known = {f.name for f in fields(FusionOptions)}
    options = FusionOptions(**{k: v for k, v in vars(args).items() if k in known and v is not None})
    options.test, options.test_model = False, 0
    folder = train(options, root, device, args.workers)
    test_after_training(folder, device, args.workers, args.test_batch_size)
    print(f"Completed: {folder}")
