"""The fusion stage's options, stored in `OURargs.txt` exactly as the paper's code wrote it.

The first block of fields and their order are the release's; the paper's code reads only those, so
the extra fields of this project (seed, crop size, precision, epoch rule, the phi options) do not
disturb it. New fields go at the end, with defaults that reproduce the paper, so the OURargs.txt of
older runs (without them) still load and rebuild the same network.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..degradations import degradation_class
from ..errors import BIGPriorError
from ..experiment import FUSION_ARGS_FILE, split_experiment_name
from ..run import RunOptions, check_epoch_rule
from ..runtime import check_precision
from .spec import FusionSpec, TrainingScale, check_network_choices, parse_sources


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
    phi_activation: str = "none"  # none (the paper's), sigmoid or clamp: phi in [0, 1] by construction
    augment: bool = False  # random flips / quarter turns of the training triplets
    self_ensemble: bool = False  # test time: phi averaged over the 8 flips / quarter turns
    holdout: int = 0  # the last `holdout` training images are held out (test_epoch_rule holdout)
    image_resolution: int = 0  # recorded at training: the side of the training images (0: not recorded)
    prior_resolution: int = 0  # ... and of the generator images their priors were made from
    sources: str = ""  # the multi-source fusion's sources, e.g. "x,gan,NLmeans" ("": the paper's two-source fusion)

    def spec(self) -> FusionSpec:
        """The network these options build (its observation channels are the experiment's task's)."""
        task = degradation_class(split_experiment_name(self.experiment)[0])
        sources = parse_sources(self.sources)
        return FusionSpec(observation_channels=task.observation_channels, backbone=self.backbone, layers=self.dncnn_layers,
                          extend_input=self.extend_input, phi_activation=self.phi_activation, sources=sources,
                          mask_channel=bool(sources) and task.has_mask)

    def with_scale(self, scale: TrainingScale) -> FusionOptions:
        """These options with the training scale recorded (0 where unknown)."""
        return replace(self, image_resolution=scale.image_resolution or 0, prior_resolution=scale.prior_resolution or 0)

    def check(self) -> None:
        if self.batch_size < 1:
            raise BIGPriorError(f"--batch_size must be at least 1, got {self.batch_size}")
        if self.epochs < 1:
            raise BIGPriorError(f"--epochs must be at least 1, got {self.epochs}")
        if self.lr <= 0:
            raise BIGPriorError(f"--lr must be positive, got {self.lr}")
        check_precision(self.precision)
        check_epoch_rule(self.test_epoch_rule, self.holdout)
        if self.holdout >= self.train_count:
            raise BIGPriorError(f"--holdout {self.holdout}: must leave training images of --train_count {self.train_count}")
        check_network_choices(self.backbone, self.phi_activation)
        if self.experiment:
            self.spec()  # the network's choices fit together
        if self.crop_size < 0:
            raise BIGPriorError(f"--crop_size must be 0 (whole images) or positive, got {self.crop_size}")
