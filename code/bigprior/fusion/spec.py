"""What a fusion network is, in one frozen object: `FusionSpec` (the choices that shape its weights), and
`TrainingScale` (the sides of the images and priors it was trained on).

The options of a run (`FusionOptions`, OURargs.txt), the built-in defaults (`defaults.json`) and the
builders (`networks.build_fusion_model`) all carry a `FusionSpec`, built by keyword only, so the five
choices never travel positionally and a new choice is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .. import imageio
from ..errors import BIGPriorError
from ..experiment import INVERSION_ARGS_FILE, Experiment

BACKBONES = {"D": "DnCNN", "U": "U-Net"}  # the paper's other backbones (M, R, N) are not part of this project
PHI_ACTIVATIONS = ("none", "sigmoid", "clamp")  # none: the paper's unbounded phi


def check_network_choices(backbone: str, phi_activation: str) -> None:
    """Raise a BIGPriorError for an unknown `--backbone` or `--phi_activation`."""
    if backbone not in BACKBONES:
        raise BIGPriorError(f"--backbone {backbone!r}: one of {', '.join(f'{k} ({v})' for k, v in BACKBONES.items())}")
    if phi_activation not in PHI_ACTIVATIONS:
        raise BIGPriorError(f"--phi_activation {phi_activation!r}: one of {', '.join(PHI_ACTIVATIONS)}")


OBSERVATION = "x"  # the names --sources gives the observation and the generative prior
GENERATIVE_PRIOR = "gan"


def parse_sources(text: str) -> tuple[str, ...]:
    """`--sources x,gan,NLmeans` -> ("x", "gan", "NLmeans") (empty text: the paper's fusion, ())."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if names:
        check_sources(names)
    return names


def check_sources(names: tuple[str, ...]) -> None:
    if names[0] != OBSERVATION:
        raise BIGPriorError(f"--sources {','.join(names)}: the observation {OBSERVATION!r} comes first "
                            f"(e.g. --sources {OBSERVATION},{GENERATIVE_PRIOR},NLmeans)")
    if len(names) < 2 or len(set(names)) != len(names) or OBSERVATION in names[1:]:
        raise BIGPriorError(f"--sources {','.join(names)}: the observation and at least one other source, each named once")


@dataclass(frozen=True, kw_only=True)
class FusionSpec:
    """The architecture of a fusion network: what its state dict's shapes depend on, and how phi is made.

    `observation_channels`: 1 (colorization's luma) or 3; `backbone`: a key of BACKBONES; `layers`: the
    DnCNN's depth; `extend_input`: the backbone also sees the prior; `phi_activation`: one of
    PHI_ACTIVATIONS (none = the paper's unbounded phi).

    `sources` (empty: the paper's two-source fusion) makes it the multi-source fusion: the blend's sources
    in order, OBSERVATION first, then GENERATIVE_PRIOR and classical methods (their folder names,
    `<name>output`); `mask_channel`: its backbone also sees the mask of a masked task."""

    observation_channels: int
    backbone: str = "D"
    layers: int = 17
    extend_input: bool = False
    phi_activation: str = "none"
    sources: tuple[str, ...] = ()
    mask_channel: bool = False

    def __post_init__(self) -> None:
        check_network_choices(self.backbone, self.phi_activation)
        if self.sources:
            check_sources(self.sources)
            if self.extend_input or self.phi_activation != "none":
                raise BIGPriorError("--sources: the multi-source fusion always sees its sources and bounds its weights "
                                    "(softmax); drop --extend_input and --phi_activation")
        elif self.mask_channel:
            raise BIGPriorError("the mask channel is an input of the multi-source fusion only (give --sources)")
        if self.observation_channels not in (1, 3):
            raise BIGPriorError(f"a fusion network takes 1 or 3 observation channels, not {self.observation_channels}")
        if self.layers < 2:
            raise BIGPriorError(f"--dncnn_layers: need at least 2 layers, got {self.layers}")

    def record(self) -> dict[str, Any]:
        """The spec's fields other than the observation channels (those follow from the task), as JSON."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "observation_channels"}
        if not self.sources:  # the paper's fusion: its records stay as they were before the multi-source fusion
            del record["sources"], record["mask_channel"]
        else:
            record["sources"] = list(self.sources)
        return record

    @property
    def classical_sources(self) -> tuple[str, ...]:
        """The sources that are neither the observation nor the generative prior."""
        return tuple(name for name in self.sources[1:] if name != GENERATIVE_PRIOR)


@dataclass(frozen=True, kw_only=True)
class TrainingScale:
    """The sides of a fusion network's training images and of the generator images their priors were
    made from (priors enlarged `image_resolution / prior_resolution` times); None where unknown."""

    image_resolution: int | None = None
    prior_resolution: int | None = None

    @property
    def enlargement(self) -> float | None:
        """How many times the training priors were enlarged (None: unknown)."""
        if self.image_resolution and self.prior_resolution:
            return self.image_resolution / self.prior_resolution
        return None

    @classmethod
    def of_experiment(cls, experiment: Experiment) -> TrainingScale:
        """The scale of an experiment's data: its GT images' side and the `prior_resolution` its
        mGANargs.txt records (the generator's side); unknown when either is missing."""
        inversion = experiment.dir / INVERSION_ARGS_FILE
        prior = imageio.read_json(inversion).get("prior_resolution") if inversion.is_file() else None
        if not prior or not experiment.gt_path(0).is_file():
            return cls()
        return cls(image_resolution=int(experiment.read_gt(0).shape[-1]), prior_resolution=int(prior))
