"""What a classical peer is: one small registered object per method, with its settings, the tasks it
serves, and `restore(observation) -> image`.

A peer restores an `Observation` exactly as `Degradation.observe` (or `observe_photo`) makes it:
`x` is a CxHxW float tensor (1 channel of luma for colorization, 3 channels otherwise; unclipped for
denoising), `mask` is 1xHxW with 1 = missing (inpainting), and the noise level `sigma` is never read
(the denoisers are blind: they estimate it from the observation). The result is an HxWx3 float32 array
in [0, 1] of the observation's size, so a peer's output can be a source of a fusion network on a photo
of any size as well as a `<name>output/{i}.png` folder of an experiment.

A method's settings are its dataclass fields (JSON values): `settings()` gives them and
`from_settings()` rebuilds the method from them without any data, so what a method learnt from
training images (`fit`) travels in its settings too.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...degradations import Degradation, Observation, degradation_class
from ...errors import BIGPriorError
from ...workers import cpu_count

if TYPE_CHECKING:
    from ...experiment import Experiment

TUNING_SCRIPT = "experiments/peers/tune.py"  # the script that picked the defaults, on training images 0..9 only


@dataclasses.dataclass(frozen=True)
class ClassicalMethod(ABC):
    """Base class of the peers: a frozen dataclass whose fields are the method's settings."""

    name: ClassVar[str]  # its outputs live in <name>output/
    title: ClassVar[str]  # one line for tables and --help
    serves: ClassVar[tuple[type[Degradation], ...]]  # the tasks it restores (subclasses included)
    modules: ClassVar[tuple[str, ...]] = ("numpy",)  # the packages its results depend on (recorded versions)
    optional: ClassVar[str | None] = None  # the pip extra that installs what it needs (not in the default install)
    licence: ClassVar[str] = ""  # said where the extra is asked for
    learns: ClassVar[bool] = False  # `fit` learns from the training images (its train indices are recorded)
    # its settings are in the training images' pixels: a larger photo's source is made at their scale (pipeline)
    at_training_scale: ClassVar[bool] = False

    @classmethod
    def tasks(cls) -> list[str]:
        """The experiment prefixes (col, inpcrop, inpvar, denblind) of the tasks it serves."""
        from ...degradations import REGISTRY

        return [task for task, degradation in REGISTRY.items() if issubclass(degradation, cls.serves)]

    @classmethod
    def available(cls) -> bool:
        """Whether the packages it needs are installed (always, for the default install's methods)."""
        return all(importlib.util.find_spec(module) is not None for module in cls.modules)

    @classmethod
    def require(cls, flag: str = "--methods") -> None:
        """Raise a one-line BIGPriorError saying how to install what the method needs, if it is missing."""
        if not cls.available():
            missing = [module for module in cls.modules if importlib.util.find_spec(module) is None]
            raise BIGPriorError(f"{flag} {cls.name}: needs the optional package {', '.join(missing)} ({cls.licence}); "
                                f"install it with pip install 'bigprior[{cls.optional}]' (or pip install {' '.join(missing)})")

    # -- settings -----------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The method's settings (its fields) as JSON values; `from_settings` takes them back."""
        return {field.name: _json_value(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_settings(cls, settings: dict[str, Any], source: str = "settings") -> ClassicalMethod:
        """The method of a `settings()` dictionary; unknown keys are an error naming `source`."""
        if not isinstance(settings, dict):
            raise BIGPriorError(f"{source}: the settings of {cls.name} must be a JSON object")
        known = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise BIGPriorError(f"{source}: unknown setting {unknown[0]!r} of {cls.name} (known: {', '.join(known) or 'none'})")
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in settings.items()}
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise BIGPriorError(f"{source}: settings of {cls.name} refused ({exc})") from None

    @classmethod
    def fit(cls, experiment: Experiment, train_indices: Sequence[int]) -> ClassicalMethod:
        """The method as fitted to the training images of an experiment; most methods learn nothing
        (their defaults were picked by the tuning script) and return their default instance."""
        return cls()

    # -- restoring ----------------------------------------------------------------------------------
    @abstractmethod
    def restore(self, observation: Observation) -> np.ndarray:
        """The restored image: HxWx3 float32 in [0, 1], the observation's size."""


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def observed_array(observation: Observation) -> np.ndarray:
    """The observation's image as an HxWxC float32 array (C = 1 or 3; values as they are)."""
    return np.ascontiguousarray(observation.x.detach().cpu().float().numpy().transpose(1, 2, 0))


def missing_pixels(observation: Observation, method: str) -> np.ndarray:
    """The HxW bool map of the missing pixels (mask 1) of an inpainting observation."""
    if observation.mask is None:
        raise ValueError(f"{method} restores inpainting observations: the observation has no mask")
    missing = observation.mask.detach().cpu().numpy()[0] > 0.5
    if missing.shape != tuple(observation.x.shape[-2:]):
        raise ValueError(f"{method}: mask {missing.shape} and image {tuple(observation.x.shape[-2:])} differ in size")
    return missing


BAND_ROWS = 512  # rows of one band of `in_row_bands` (fixed: the result does not depend on the thread count)


def in_row_bands(function: Callable[[np.ndarray], np.ndarray], image: np.ndarray, margin: int) -> np.ndarray:
    """`function` of an HxWxC image computed on bands of BAND_ROWS rows, each with `margin` rows of the image
    on either side (so that a local filter whose reach is at most `margin` gives each band's own rows as on
    the whole image, up to float rounding), on the cores' threads (the filters release the GIL). An image of
    at most BAND_ROWS rows is one call: the benchmark's 256 px sources are those of the whole image."""
    height = image.shape[0]
    if height <= BAND_ROWS:
        return function(image)
    tops = range(0, height, BAND_ROWS)

    def band(top: int) -> np.ndarray:
        start, stop = max(0, top - margin), min(height, top + BAND_ROWS + margin)
        return function(image[start:stop])[top - start : top - start + min(BAND_ROWS, height - top)]

    with ThreadPoolExecutor(cpu_count(), thread_name_prefix="bigprior-bands") as pool:
        return np.concatenate(list(pool.map(band, tops)))


def as_output(image: np.ndarray) -> np.ndarray:
    """An HxWx3 result as float32 clipped to [0, 1]."""
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def package_versions(methods: Sequence[type[ClassicalMethod]]) -> dict[str, str]:
    """The versions of bigprior and of the packages the methods' results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = {"bigprior": version("bigprior")}
    except PackageNotFoundError:
        versions = {"bigprior": "not installed"}
    for module in sorted({m for method in methods for m in method.modules}):
        versions[module] = str(getattr(importlib.import_module(module), "__version__", "unknown"))
    return versions


# ---------------------------------------------------------------------------------------------
# the registry


REGISTRY: dict[str, type[ClassicalMethod]] = {}  # name -> class, in registration order


def register(cls: type[ClassicalMethod]) -> type[ClassicalMethod]:
    """Class decorator: add a peer to the registry (its name must be new)."""
    if cls.name in REGISTRY:
        raise ValueError(f"peer {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def methods_for(task: str, optional: bool = True) -> list[type[ClassicalMethod]]:
    """The peers of a task (an experiment prefix): those of the default install, then, if `optional`,
    the optional ones whose packages are installed."""
    degradation = degradation_class(task)
    serving = [cls for cls in REGISTRY.values() if issubclass(degradation, cls.serves)]
    return [cls for cls in serving if cls.optional is None] + (
        [cls for cls in serving if cls.optional is not None and cls.available()] if optional else [])


def method_class(name: str, task: str, flag: str = "--methods") -> type[ClassicalMethod]:
    """The peer called `name` for a task: unknown names, peers of other tasks and optional peers whose
    package is missing are one-line errors naming `flag`."""
    if name not in REGISTRY:
        raise BIGPriorError(f"{flag}: unknown method {name!r}, expected one of {', '.join(REGISTRY)}")
    cls = REGISTRY[name]
    if task not in cls.tasks():
        names = ", ".join(method.name for method in methods_for(task, optional=False))
        raise BIGPriorError(f"{flag} {name}: restores {', '.join(cls.tasks())}, not {task} (the peers of {task}: {names})")
    cls.require(flag)
    return cls
