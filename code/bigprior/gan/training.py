"""The GAN training loop: PGGAN generator vs. residual discriminator, for small image sets.

Recipe (StyleGAN2-ADA / DiffAugment style, without progressive growing):
- losses: non-saturating logistic, D: softplus(D(fake)) + softplus(-D(real)), G: softplus(-D(fake));
- lazy R1 penalty: every `r1_interval` D steps, `r1_gamma / 2 * |grad D(real)|^2 * r1_interval`
  (D's Adam learning rate and betas are corrected for the lazy interval as in StyleGAN2);
- DiffAugment (colour, translation, cutout) on every image D sees, real or fake;
- random horizontal flips of the real images (`mirror`);
- Adam(betas (0, 0.99)), the same learning rate for both networks (equalized learning rate);
- an EMA of the generator weights (half-life `ema_kimg` thousand images, ramped up over the first
  images seen); the EMA generator is what is sampled and saved.

A run lives in `runs/gan_<ID>/`: `options.json`, `checkpoint.pth` (both networks, the EMA, the
optimizers, the statistics; rewritten atomically every `checkpoint_every` steps), `generator.pth`
(the EMA generator as a float32 state dict in the layout of the published converted PGGAN
checkpoints, lod 0) and `generator_fp16.pth` (the same in float16), `stats.jsonl` (one line per
`log_every` steps), `reals.png` and `samples/step_<N>.png` (a fixed grid of latent codes).

Every random draw of step k comes from a CPU generator seeded by (seed, k), so a run resumed from a
checkpoint gives the same weights as one that was never interrupted (on CUDA with `--precision fp32`,
which turns on deterministic algorithms). The images sit on the device; a step's statistics stay
there until its log window ends (one host sync per window). The checkpoint holds tensors and plain
containers only and is read with `weights_only=True`.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from ..progress import progress_bar
from .. import imageio
from ..errors import BIGPriorError
from ..generators.pggan import PGGANGenerator
from ..run import Run, RunOptions, load_part
from ..runtime import host_values, numeric_mode
from ..seeding import item_seed
from .augment import POLICIES, check_policy, diff_augment
from .data import DEFAULT_COUNT, load_image_folders
from .discriminator import Discriminator

RUN_PREFIX = "gan"
OPTIONS_FILE = "options.json"
CHECKPOINT_FILE = "checkpoint.pth"
GENERATOR_FILE = "generator.pth"
GENERATOR_FP16_FILE = "generator_fp16.pth"
STATS_FILE = "stats.jsonl"
REALS_FILE = "reals.png"
SAMPLES_DIR = "samples"
STEP_STREAM = 0  # random stream of a training step (seeding.item_seed)
GRID_STREAM = 1  # random stream of the fixed latent codes of the sample grids
GAN_PRECISIONS = ("default", "fp32")  # runtime.numeric_mode's modes without autocast (R1 needs double backward)


@dataclass
class GANOptions(RunOptions):
    FILE = OPTIONS_FILE
    REQUIRED = "data"
    STRICT = True

    data: list[str] = field(default_factory=list)  # image folders
    count: int = DEFAULT_COUNT  # first `count` images of each folder in sorted order (0: all)
    resolution: int = 64
    z_dim: int = 512
    fmaps_base: int = 1024  # width at resolution r: min(fmaps_base / r, fmaps_max) (PGGAN's rule)
    fmaps_max: int = 128
    channels: list[int] | None = None  # explicit widths per resolution 4, 8, ..., R (overrides fmaps_*)
    batch_size: int = 16
    steps: int = 10000  # generator steps (each with one discriminator step)
    lr: float = 0.002
    r1_gamma: float = 0.05
    r1_interval: int = 16
    ema_kimg: float = 5.0  # half-life of the generator EMA in thousands of images
    ema_rampup: float = 0.05  # the half-life is at most this fraction of the images seen so far
    augment: list[str] = field(default_factory=lambda: list(POLICIES))
    mirror: bool = True
    seed: int = 0
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500
    grid_size: int = 8  # sample grids show grid_size x grid_size images
    precision: str = "default"  # default (PyTorch's; cuDNN autotuning on CUDA) or fp32 (strict, deterministic on CUDA)

    def check(self) -> None:
        if not self.data:
            raise BIGPriorError("--data: give at least one image folder")
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise BIGPriorError(f"--resolution: expected a power of two >= 8, got {self.resolution}")
        if self.channels is not None and len(self.channels) != self.num_blocks:
            raise BIGPriorError(f"--channels: resolution {self.resolution} needs {self.num_blocks} widths (4, 8, ..., {self.resolution} px)")
        for name in ("batch_size", "steps", "r1_interval", "log_every", "sample_every", "checkpoint_every", "grid_size", "z_dim"):
            if getattr(self, name) < 1:
                raise BIGPriorError(f"--{name}: expected a positive number, got {getattr(self, name)}")
        try:
            check_policy(self.augment)
        except ValueError as exc:
            raise BIGPriorError(f"--augment: {exc}") from exc
        if self.precision not in GAN_PRECISIONS:
            raise BIGPriorError(f"--precision must be one of {', '.join(GAN_PRECISIONS)} for GAN training, got {self.precision!r}")

    @property
    def num_blocks(self) -> int:
        return int(round(math.log2(self.resolution))) - 1

    def generator_channels(self) -> list[int]:
        if self.channels is not None:
            return list(self.channels)
        return [min(self.fmaps_base // (4 * 2**b), self.fmaps_max) for b in range(self.num_blocks)]


# ---------------------------------------------------------------------------------------------
# networks


def build_generator(options: GANOptions) -> PGGANGenerator:
    """A fresh PGGAN generator with equalized-learning-rate initialisation (weights from N(0, 1);
    the blocks scale them by gain / sqrt(fan_in) at run time)."""
    generator = PGGANGenerator(options.resolution, options.z_dim, options.generator_channels())
    for name, parameter in generator.named_parameters():
        if name.endswith("conv.weight"):
            nn.init.normal_(parameter)
        else:
            nn.init.zeros_(parameter)
    return generator


@dataclass
class Networks:
    generator: PGGANGenerator
    discriminator: Discriminator
    generator_ema: PGGANGenerator
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "generator_ema": self.generator_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.generator_ema.load_state_dict(state["generator_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])


def build_networks(options: GANOptions, device: torch.device) -> Networks:
    torch.manual_seed(options.seed)
    generator = build_generator(options).to(device)
    discriminator = Discriminator(options.resolution, options.generator_channels()).to(device)
    generator_ema = copy.deepcopy(generator).eval().requires_grad_(False)
    lazy = options.r1_interval / (options.r1_interval + 1)
    opt_g = torch.optim.Adam(generator.parameters(), lr=options.lr, betas=(0.0, 0.99), eps=1e-8)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=options.lr * lazy, betas=(0.0, 0.99**lazy), eps=1e-8)
    return Networks(generator, discriminator, generator_ema, opt_g, opt_d)


def generator_state(generator: PGGANGenerator, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The state dict as `load_pggan` reads it (keys layer{i}.*, output{b}.*, lod), in `dtype`."""
    return {key: value.detach().to("cpu", dtype) for key, value in generator.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# one step


STAT_KEYS = ("loss_d", "loss_g", "r1", "real_logit", "fake_logit")


@dataclass
class StepStats:
    values: torch.Tensor  # STAT_KEYS of one step, on the device (r1 is 0 on steps without the penalty)
    regularized: bool  # an R1 step


def _ema_beta(options: GANOptions, images_seen: int) -> float:
    half_life = options.ema_kimg * 1000
    if options.ema_rampup > 0:
        half_life = min(half_life, images_seen * options.ema_rampup)
    return 0.5 ** (options.batch_size / max(half_life, 1e-8))


@torch.no_grad()
def _update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def _real_batch(reals: torch.Tensor, options: GANOptions, rng: torch.Generator) -> torch.Tensor:
    """A batch of the real images (on their device), drawn and mirrored by the CPU generator."""
    index = torch.randint(0, reals.shape[0], (options.batch_size,), generator=rng).to(reals.device)
    batch = reals[index]
    if options.mirror:
        flip = (torch.rand(options.batch_size, generator=rng) < 0.5).to(reals.device)
        batch = torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)
    return batch


def training_step(nets: Networks, reals: torch.Tensor, options: GANOptions, step: int, device: torch.device) -> StepStats:
    """One discriminator step (with the R1 penalty every `r1_interval` steps), one generator step
    and the EMA update. Step `step` (0-based) draws all its randomness from seed (seed, step)."""
    rng = torch.Generator().manual_seed(item_seed(options.seed, step, STEP_STREAM))
    G, D = nets.generator, nets.discriminator

    def latents() -> torch.Tensor:
        return torch.randn(options.batch_size, options.z_dim, generator=rng).to(device)

    # discriminator
    D.requires_grad_(True)
    real = diff_augment(_real_batch(reals, options, rng), options.augment, rng)
    with torch.no_grad():
        fake = G(latents())
    fake_logits = D(diff_augment(fake, options.augment, rng))
    regularize = step % options.r1_interval == 0
    real.requires_grad_(regularize)
    real_logits = D(real)
    loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    total_d = loss_d
    r1 = torch.zeros((), device=device)
    if regularize:
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        r1 = grad.square().sum(dim=(1, 2, 3)).mean()
        total_d = total_d + r1 * (options.r1_gamma / 2 * options.r1_interval)
    nets.opt_d.zero_grad(set_to_none=True)
    total_d.backward()
    nets.opt_d.step()

    # generator
    D.requires_grad_(False)
    loss_g = F.softplus(-D(diff_augment(G(latents()), options.augment, rng))).mean()
    nets.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    nets.opt_g.step()

    _update_ema(nets.generator_ema, G, _ema_beta(options, (step + 1) * options.batch_size))
    values = torch.stack([t.detach() for t in (loss_d, loss_g, r1, real_logits.mean(), fake_logits.mean())])
    return StepStats(values, regularize)


# ---------------------------------------------------------------------------------------------
# outputs


def grid_latents(options: GANOptions) -> torch.Tensor:
    rng = torch.Generator().manual_seed(item_seed(options.seed, 0, GRID_STREAM))
    return torch.randn(options.grid_size**2, options.z_dim, generator=rng)


def write_grid(path: Path, images: torch.Tensor, columns: int) -> None:
    """Images in [-1, 1] (clamped) as one PNG grid, `columns` per row, 2-pixel white gutters."""
    grid = make_grid(images.detach().float().cpu().add(1).div(2).clamp(0, 1), nrow=columns, padding=2, pad_value=1.0)
    imageio.write_png(path, imageio.uint8_from_float(grid).transpose(1, 2, 0))


@torch.no_grad()
def write_samples(path: Path, generator: PGGANGenerator, options: GANOptions, device: torch.device) -> None:
    z = grid_latents(options).to(device)
    images = torch.cat([generator(chunk) for chunk in z.split(options.batch_size)])
    write_grid(path, images, options.grid_size)


def _write_stats(folder: Path, stats: list[dict]) -> None:
    imageio.write_text(folder / STATS_FILE, "".join(json.dumps(imageio.finite_or_null(row), allow_nan=False) + "\n" for row in stats))


def _summarize(window: list[StepStats], step: int, seconds: float, images_seen: int) -> dict:
    """One line of stats.jsonl: the window's statistics, copied to the host at once."""
    flat = host_values(torch.stack([s.values for s in window]))
    rows = [dict(zip(STAT_KEYS, flat[k * len(STAT_KEYS) : (k + 1) * len(STAT_KEYS)])) for k in range(len(window))]
    r1_values = [row["r1"] for row, s in zip(rows, window) if s.regularized]
    mean = lambda key: sum(row[key] for row in rows) / len(rows)  # noqa: E731
    return {
        "step": step,
        "kimg": images_seen / 1000,
        "loss_d": mean("loss_d"),
        "loss_g": mean("loss_g"),
        "r1": sum(r1_values) / len(r1_values) if r1_values else None,
        "real_logit": mean("real_logit"),
        "fake_logit": mean("fake_logit"),
        "seconds_per_step": seconds / len(window),
    }


# ---------------------------------------------------------------------------------------------
# runs


@dataclass
class RunState:
    step: int = 0
    train_seconds: float = 0.0
    stats: list[dict] = field(default_factory=list)


def _save_checkpoint(run: Run, nets: Networks, state: RunState) -> None:
    generators = {GENERATOR_FILE: generator_state(nets.generator_ema, torch.float32),
                  GENERATOR_FP16_FILE: generator_state(nets.generator_ema, torch.float16)}
    run.save_state({**nets.state_dict(), **asdict(state)}, generators)


def _train_steps(
    run: Run,
    options: GANOptions,
    reals: torch.Tensor,
    nets: Networks,
    state: RunState,
    device: torch.device,
    on_log: Callable[[dict], None] | None,
) -> RunState:
    folder, window = run.folder, []
    seconds_before, session_start = state.train_seconds, time.perf_counter()
    window_start = session_start
    bar = progress_bar(range(state.step, options.steps), desc=f"training {folder.name}", initial=state.step, total=options.steps)
    for step in bar:
        window.append(training_step(nets, reals, options, step, device))
        done = step + 1
        if done % options.log_every == 0 or done == options.steps:
            seconds = time.perf_counter() - window_start
            row = _summarize(window, done, seconds, done * options.batch_size)
            state.stats.append(row)
            _write_stats(folder, state.stats)
            bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}", s_per_step=f"{row['seconds_per_step']:.2f}")
            if on_log is not None:
                on_log(row)
            window, window_start = [], time.perf_counter()
        if done % options.sample_every == 0 or done == options.steps:
            write_samples(folder / SAMPLES_DIR / f"step_{done:06d}.png", nets.generator_ema, options, device)
        if done % options.checkpoint_every == 0 or done == options.steps:
            state.step = done
            state.train_seconds = seconds_before + time.perf_counter() - session_start
            _save_checkpoint(run, nets, state)
    return state


def _report(folder: Path, options: GANOptions, state: RunState, count: int) -> None:
    last = state.stats[-1] if state.stats else {}
    print(
        f"{folder}: {state.step} steps ({state.step * options.batch_size / 1000:.1f} kimg) on {count} images "
        f"in {state.train_seconds / 3600:.2f} h of training; last losses D {last.get('loss_d', float('nan')):.3f} "
        f"G {last.get('loss_g', float('nan')):.3f}\n"
        f"generator (EMA, load_pggan layout): {folder / GENERATOR_FILE}\n"
        f"samples: {folder / SAMPLES_DIR / f'step_{state.step:06d}.png'}"
    )


def train(
    options: GANOptions, runs_dir: Path, device: torch.device, workers: int = 2, on_log: Callable[[dict], None] | None = None
) -> Path:
    """Train into a new `<runs_dir>/gan_<ID>/`. All images are read and checked first, so a bad input
    leaves no run folder behind. Returns the run folder."""
    options.check()
    reals = load_image_folders(options.data, options.resolution, options.count, workers)
    nets = build_networks(options, device)
    run = Run.create(Path(runs_dir), RUN_PREFIX, options, state_file=CHECKPOINT_FILE)
    spread = torch.linspace(0, reals.shape[0] - 1, min(options.grid_size**2, reals.shape[0])).long()
    write_grid(run.folder / REALS_FILE, reals[spread], options.grid_size)  # evenly spaced: every folder shows
    g_params = sum(p.numel() for p in nets.generator.parameters())
    d_params = sum(p.numel() for p in nets.discriminator.parameters())
    print(f"{run.folder}: {reals.shape[0]} images at {options.resolution}px; generator {g_params} parameters "
          f"(channels {options.generator_channels()}), discriminator {d_params}; device {device}")
    with numeric_mode(options.precision, device):
        state = _train_steps(run, options, reals.to(device), nets, RunState(), device, on_log)
    _report(run.folder, options, state, reals.shape[0])
    return run.folder


def resume(
    folder: Path, device: torch.device, steps: int | None = None, workers: int = 2, on_log: Callable[[dict], None] | None = None
) -> Path:
    """Continue a run from its last checkpoint (to `steps` in total if given, e.g. to train longer)."""
    run = Run.open(folder, state_file=CHECKPOINT_FILE)
    options = GANOptions.load(run.folder)
    if steps is not None:
        options.steps = steps
        options.check()
    reals = load_image_folders(options.data, options.resolution, options.count, workers)
    nets = build_networks(options, device)
    state = RunState()
    saved = run.load_state()  # None: interrupted before the first checkpoint, start over
    if saved is not None:
        load_part(nets, saved, run.folder / CHECKPOINT_FILE, "networks")
        state = RunState(saved["step"], saved["train_seconds"], saved["stats"])
    if steps is not None:
        options.save(run.folder)  # recorded once the run is known to continue
    print(f"{run.folder}: resuming at step {state.step} of {options.steps}")
    if state.step < options.steps:
        with numeric_mode(options.precision, device):
            state = _train_steps(run, options, reals.to(device), nets, state, device, on_log)
    _report(run.folder, options, state, reals.shape[0])
    return run.folder
