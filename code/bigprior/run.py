"""One training run, for every method that trains (the fusion stage, the DnCNN baseline, the GAN).

A run is a numbered folder `<parent>/<prefix>_<ID>` that is created once and never reused (creating
it claims its ID, so processes that start together get different folders), holding:

- its options file (`RunOptions`: written when the run starts, read back to resume or test it);
- its checkpoints (the networks after an epoch or step);
- its train state: what resuming needs besides the networks (optimizer and scheduler states, the loss
  log, statistics), written after the checkpoints, so it never names a checkpoint that is not there.

Every file is written atomically. Resuming reads the train state with `map_location="cpu"` and
`weights_only=True`, and lets each part's `load_state_dict` move its tensors: an optimizer moves its
moments to its parameters' device and keeps Adam's `step` on the CPU (where PyTorch reads it without
a device sync), and the loss log stays a CPU tensor.

`EpochTrainer` is the epoch loop the fusion stage and the DnCNN baseline share (the release's
recipe); each gives only the loss of one batch. The GAN, trained in steps, uses `Run` directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import torch
from torch import nn

from .progress import progress_bar
from . import imageio
from .errors import BIGPriorError
from .experiment import LOSS_FILE, STATE_FILE, create_numbered_dir, run_workspace, split_run_name
from .runtime import host_values
from .seeding import item_seed

FIXED_EPOCH_RULES = ("last", "lr_min")  # rules fixed in advance (every method)
EPOCH_RULES = (*FIXED_EPOCH_RULES, "holdout")  # holdout: scored on held-out training images (the fusion stage)
HOLDOUT_FILE = "holdout.json"  # the held-out scores per epoch of a run with test_epoch_rule holdout
EPOCH_STREAM = 0  # random stream of an epoch's shuffle and crops (seeding.item_seed(seed, epoch, .))

O = TypeVar("O", bound="RunOptions")


def checkpoint_name(epoch: int) -> str:
    """The paper's checkpoint of an epoch."""
    return f"net_{epoch}.pth"


def load_weights(path: Path) -> dict[str, Any]:
    """A checkpoint or train state file, on the CPU. Only tensors and plain containers are read
    (`weights_only=True`): a file whose unpickling would run code is refused, naming it."""
    if not path.is_file():
        raise BIGPriorError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt, foreign or code-running files
        raise BIGPriorError(f"{path}: not a readable PyTorch checkpoint ({exc.__class__.__name__})") from exc


class RunOptions:
    """Base of a run's options dataclass: the file it lives in and how it is checked."""

    FILE: ClassVar[str]
    REQUIRED: ClassVar[str] = "experiment"  # a field every options file must have
    STRICT: ClassVar[bool] = False  # refuse unknown fields (else ignored: the paper's files have more)

    def check(self) -> None:
        """Raise a BIGPriorError naming the first bad option."""

    def save(self, folder: Path) -> None:
        imageio.write_json(folder / self.FILE, asdict(self))  # type: ignore[call-overload]

    @classmethod
    def load(cls: type[O], folder: Path) -> O:
        """Read and check a run's options (fields missing from older files take their defaults)."""
        options = imageio.read_options(folder / cls.FILE, cls, cls.REQUIRED, cls.STRICT)
        options.check()
        return options


class Stateful(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def load_part(part: Stateful, state: Mapping[str, Any], path: Path, what: str) -> None:
    """`part.load_state_dict(state)`; a state that does not fit (another network's, or a run whose options
    file was changed since) is an error naming the file, not a traceback."""
    try:
        part.load_state_dict(state)  # type: ignore[arg-type]
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise BIGPriorError(f"{path}: its {what} does not fit this run's options ({exc.__class__.__name__}: "
                            f"{first[:200]}); was the run's options file changed?") from exc


@dataclass(frozen=True)
class Run:
    folder: Path
    state_file: str = STATE_FILE

    @classmethod
    def create(cls, parent: Path, prefix: str, options: RunOptions, state_file: str = STATE_FILE) -> Run:
        """A new run folder `<parent>/<prefix>_<ID>` (next free ID) with its options file."""
        run = cls(create_numbered_dir(Path(parent), prefix), state_file)
        options.save(run.folder)
        return run

    @classmethod
    def open(cls, folder: str | Path, flag: str = "--resume ", state_file: str = STATE_FILE) -> Run:
        folder = Path(folder)
        if not folder.is_dir():
            raise BIGPriorError(f"{flag}{folder}: run folder not found")
        return cls(folder, state_file)

    @property
    def workspace(self) -> Path:
        """The workspace of a run in `<workspace>/net_data/`."""
        return run_workspace(self.folder)

    @property
    def id(self) -> int | None:
        parsed = split_run_name(self.folder.name)
        return parsed[1] if parsed else None

    def checkpoint(self, epoch: int) -> Path:
        return self.folder / checkpoint_name(epoch)

    def saved_epochs(self) -> list[int]:
        """Epochs with a checkpoint, sorted."""
        stems = (p.stem.removeprefix("net_") for p in self.folder.glob("net_*.pth"))
        return sorted(int(stem) for stem in stems if stem.isdigit())

    def save_state(self, state: Mapping[str, Any], checkpoints: Mapping[str, Any] | None = None) -> None:
        """Write the checkpoint files (name -> object), then the train state."""
        for name, value in (checkpoints or {}).items():
            imageio.torch_save(self.folder / name, value)
        imageio.torch_save(self.folder / self.state_file, dict(state))

    def load_state(self, parts: Mapping[str, Stateful] | None = None) -> dict[str, Any] | None:
        """The train state (None before the first one was saved), loaded into `parts` (key -> object)."""
        path = self.folder / self.state_file
        if not path.is_file():
            return None
        state = load_weights(path)
        for key, part in (parts or {}).items():
            if key not in state:
                raise BIGPriorError(f"{path}: no {key!r} in the train state (not a train state of this method?)")
            load_part(part, state[key], path, key)
        return state


# ---------------------------------------------------------------------------------------------
# the release's epoch recipe (fusion and DnCNN)


def restart_period(iterations_per_epoch: int, batch_size: int) -> int:
    """The release's T_0 = round(4 * iters / batch_size) (16 epochs for 250 images, batch 8); at least 1."""
    return max(1, round(4 * iterations_per_epoch / batch_size))


def select_test_epoch(rule: str, epochs: int, period: int, holdout_scores: Mapping[int, float] | None = None) -> int:
    """`last`: the final epoch (the release). `lr_min`: the last epoch that ends a cosine cycle, where
    the learning rate is at its minimum (15, 31, 47 of 50 epochs with T_0 = 16), else the final one.
    `holdout`: the epoch with the highest score (PSNR) on the held-out training images, the earliest
    on ties, from `holdout_scores` (epoch -> score, see `write_holdout_scores`)."""
    if rule == "last":
        return epochs - 1
    if rule == "holdout":
        if not holdout_scores:
            raise BIGPriorError("--test_epoch_rule holdout: no held-out scores yet (the test after training writes them)")
        return max(sorted(holdout_scores), key=lambda epoch: holdout_scores[epoch])
    ends = [e for e in range(epochs) if (e + 1) % period == 0]
    return ends[-1] if ends else epochs - 1


def check_epoch_rule(rule: str, holdout: int = 0) -> None:
    """A known rule; `holdout` (held-out training images) >= 1 exactly when the rule is holdout."""
    if rule not in EPOCH_RULES:
        raise BIGPriorError(f"--test_epoch_rule must be one of {', '.join(EPOCH_RULES)}, got {rule!r}")
    if (rule == "holdout") != (holdout > 0):
        raise BIGPriorError(f"--test_epoch_rule holdout needs --holdout N >= 1 held-out training images, and --holdout "
                            f"only goes with it (got --test_epoch_rule {rule} --holdout {holdout})")


def write_holdout_scores(folder: Path, images: list[int], scores: Mapping[int, float]) -> None:
    """The held-out images of a run and its score (PSNR) on them per epoch, in `HOLDOUT_FILE`."""
    imageio.write_json(folder / HOLDOUT_FILE, {"images": images, "psnr": {str(e): scores[e] for e in sorted(scores)}})


def read_holdout_scores(folder: Path) -> dict[int, float]:
    """epoch -> held-out PSNR recorded in a run folder ({} before any was written); a non-finite
    score (a diverged epoch, written as null) reads as -inf, so it is never picked."""
    path = folder / HOLDOUT_FILE
    if not path.is_file():
        return {}
    scores = imageio.read_json(path)["psnr"].items()
    return {int(epoch): float("-inf") if psnr is None else float(psnr) for epoch, psnr in scores}


class EpochOptions(Protocol):
    epochs: int
    batch_size: int
    lr: float
    seed: int
    train_count: int
    test_epoch_rule: str


def iterations_per_epoch(items: int, batch_size: int) -> int:
    return -(-items // batch_size)


def chosen_test_epoch(options: EpochOptions, holdout_scores: Mapping[int, float] | None = None) -> int:
    """The epoch a run's `test_epoch_rule` picks (its training images are 0..train_count-1; the
    holdout rule needs the run's `holdout_scores`)."""
    period = restart_period(iterations_per_epoch(options.train_count, options.batch_size), options.batch_size)
    return select_test_epoch(options.test_epoch_rule, options.epochs, period, holdout_scores)


def random_crop(batch: tuple[torch.Tensor, ...], size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """The same random square of every tensor; the corner is drawn from the (CPU) generator as Python
    ints, so cropping device tensors needs no host sync."""
    height, width = batch[0].shape[-2:]
    if size >= min(height, width):
        return batch
    top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
    return tuple(t[..., top : top + size, left : left + size] for t in batch)


@dataclass
class EpochReport:
    epoch: int
    loss: float
    seconds: float
    lr: float


BatchLoss = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # (batch indices on the device, epoch RNG) -> loss
WeightsIO = tuple[Callable[[nn.Module], Mapping], Callable[[nn.Module, Mapping, str], None]]  # (state of, load into)


class EpochTrainer:
    """Adam and the release's cosine schedule with warm restarts (T_0 = `restart_period`), stepped every
    iteration at `epoch + i / iters`; each epoch shuffles with a CPU generator seeded by (seed, epoch)
    (so runs do not depend on the device), moves the order to the device once, and sums the batch
    losses on the device: one host sync per epoch. After every epoch: `net_<epoch>.pth`, the loss log
    and the train state, so an interrupted run resumes with the result it would have had."""

    def __init__(self, run: Run, model: nn.Module, items: int, options: EpochOptions, device: torch.device,
                 weights: WeightsIO) -> None:
        self.run, self.model, self.items, self.options, self.device = run, model, items, options, device
        self.state_of, self.load_into = weights
        self.iters = iterations_per_epoch(items, options.batch_size)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            self.optimizer, restart_period(self.iters, options.batch_size))
        self.loss_log = np.zeros(options.epochs)
        self.start = 0

    def resume(self) -> int:
        """Load the last complete epoch (weights, optimizer, scheduler, loss log); returns the next epoch.
        The run may now have more epochs than it was started with."""
        state = self.run.load_state({"optimizer": self.optimizer, "scheduler": self.scheduler})
        if state is not None:
            last = int(state["epoch"])
            checkpoint = self.run.checkpoint(last)
            self.load_into(self.model, load_weights(checkpoint), str(checkpoint))
            saved = state["loss_log"].numpy().astype(np.float64)[: len(self.loss_log)]
            self.loss_log[: len(saved)] = saved
            self.start = last + 1
        return self.start

    def epoch(self, epoch: int, batch_loss: BatchLoss) -> torch.Tensor:
        """Train one epoch; returns the sum of its batch losses, on the device (no host sync)."""
        generator = torch.Generator().manual_seed(item_seed(self.options.seed, epoch, EPOCH_STREAM))
        order = torch.randperm(self.items, generator=generator).to(self.device)
        self.model.train()
        total = torch.zeros((), device=self.device)
        for i, batch_index in enumerate(order.split(self.options.batch_size)):
            self.optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(batch_index, generator)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step(epoch + i / self.iters)
            total += loss.detach()
        return total

    def fit(self, batch_loss: BatchLoss, on_epoch_end: Callable[[EpochReport], None] | None = None) -> None:
        """Train from `self.start` to the last epoch, saving after each."""
        epochs = self.options.epochs
        bar = progress_bar(range(self.start, epochs), desc=f"training {self.run.folder.name}", initial=self.start, total=epochs)
        for epoch in bar:
            began = time.perf_counter()
            (total,) = host_values(self.epoch(epoch, batch_loss))
            self.loss_log[epoch] = total / self.iters
            seconds = time.perf_counter() - began
            self._save(epoch)
            bar.set_postfix(loss=f"{self.loss_log[epoch]:.6f}", s_per_epoch=f"{seconds:.2f}")
            if on_epoch_end is not None:
                on_epoch_end(EpochReport(epoch, float(self.loss_log[epoch]), seconds, self.optimizer.param_groups[0]["lr"]))

    def _save(self, epoch: int) -> None:
        imageio.write_npy(self.run.folder / LOSS_FILE, self.loss_log)
        state = {"epoch": epoch, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "loss_log": torch.from_numpy(self.loss_log.copy())}
        self.run.save_state(state, {checkpoint_name(epoch): self.state_of(self.model)})
