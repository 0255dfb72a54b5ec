"""The fusion stage's options, stored in `OURargs.txt` exactly as the paper's code wrote it.

The first block of fields and their order are the release's; the paper's code reads only those, so
the extra fields of this project (seed, crop size, precision, epoch rule) do not disturb it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BIGPriorError
from ..experiment import FUSION_ARGS_FILE
from ..run import RunOptions, check_epoch_rule
from ..runtime import check_precision


@dataclass
class FusionOptions(RunOptions):
    FILE = FUSION_ARGS_FILE

    # -- the release's fields, in its order
    experiment: str = ""
    extend_input: bool = False
    backbone: str = "D"
    dncnn_layers: int = 17
    memnet_channels: int = 5
    memnet_memblocks: int = 5
    memnet_resblocks: int = 5
    batch_size: int = 4
    epochs: int = 50
    lr: float = 1e-5
    phi_weight: float = 0.0
    train_count: int = 250
    test: bool = False
    test_model: int = 0
    test_epoch: int = 49
    test_data: str = "Default"
    # -- this project's
    seed: int = 0
    crop_size: int = 0  # random square training crops (0 = whole images, as the paper)
    precision: str = "default"  # default (PyTorch's: TF32 convs on CUDA), fp32 (strict), bf16 (autocast)
    test_epoch_rule: str = "lr_min"  # which epoch the test after training uses

    def check(self) -> None:
        if self.batch_size < 1:
            raise BIGPriorError(f"--batch_size must be at least 1, got {self.batch_size}")
        if self.epochs < 1:
            raise BIGPriorError(f"--epochs must be at least 1, got {self.epochs}")
        if self.lr <= 0:
            raise BIGPriorError(f"--lr must be positive, got {self.lr}")
        check_precision(self.precision)
        check_epoch_rule(self.test_epoch_rule)
        if self.crop_size < 0:
            raise BIGPriorError(f"--crop_size must be 0 (whole images) or positive, got {self.crop_size}")
