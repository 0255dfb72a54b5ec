"""Image-steps per second of the batched inversion against a faithful one-image reference loop.

The reference is mGANprior's loop as the paper ran it: one image, float32, the N codes run one by
one through the pre-composition layers, the target's VGG features recomputed at every step, plain
SGD. The batched loop is `bigprior.inversion.invert` (many images at once, target features cached,
optionally folded layers, bf16 autocast, channels-last, torch.compile). Both run in the same process
on a random-weight PGGAN and a random-weight VGG16 (or `--gan_weights` / `--images` for real ones);
a strict float32 check runs both from the same initial codes on a few images and judges the images they end
at (after one step: equal to rounding; later: priors of the same quality). Each rate comes with the FLOPs of
an image-step (torch.utils.flop_counter) and their share of the GPU's peak (`peaks.py`); `--compare` scores
the timed priors against an eager run in another precision, and `--record` keeps every figure as a JSON
line the moment it is measured (what `gpu_check` reads). In the same
run, a random-weight StyleGAN2 of the same resolution is timed in its latent spaces (`--stylegan2`,
batched loop only: mGANprior had no StyleGAN2 multi-code loop to compare with).

    # the paper's settings on a GPU (one line):
    python benchmarks/inversion.py --device cuda --batch_size 64 --steps 30 --fold --compile --settings col
    # reduced scale on a CPU:
    python benchmarks/inversion.py --device cpu --resolution 64 --fmaps_max 128 --batch_size 4 --steps 3 \
        --reference_steps 2 --check_steps 3
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch._dynamo.utils import counters as dynamo_counters
from torch.utils.flop_counter import FlopCounterMode

from peaks import peak_tflops, share_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "code"))

from bigprior import imageio  # noqa: E402
from bigprior.degradations import Colorization, Degradation, Inpainting, center_mask  # noqa: E402
from bigprior.generators import PGGANGenerator, StyleGAN2Config, StyleGAN2Generator, load_pggan  # noqa: E402
from bigprior.inversion import InversionLoss, MultiCodeGenerator, VGGFeatures, initial_codes, invert  # noqa: E402
from bigprior.inversion.compiled import COMPILE_MODES  # noqa: E402
from bigprior.inversion.invert import per_item_loss  # noqa: E402
from bigprior.inversion.losses import VGG16_LAYERS, VGG_LOSS_SCALE, vgg16_features  # noqa: E402
from bigprior.inversion.spaces import build_latent_space  # noqa: E402
from bigprior.metrics import psnr_from_mse  # noqa: E402
from bigprior.runtime import PRECISIONS, exact_batches, numeric_mode, resolve_device  # noqa: E402


@dataclass(frozen=True)
class Setting:
    key: str  # the records' name of the setting
    name: str
    composing_layer: int
    z_number: int
    vgg_lambda: float
    degradation: Degradation
    latent_space: str = "multi"


def paper_settings(resolution: int) -> dict[str, Setting]:
    return {
        "col": Setting("colorization", "colorization: layer 6, 20 codes, vgg 1.0", 6, 20, 1.0, Colorization()),
        "inp": Setting("inpainting", "inpainting: layer 4, 30 codes, vgg 0.1", 4, 30, 0.1, Inpainting(center_mask(resolution, resolution))),
    }


# StyleGAN2 with the colorization setting's loss; multi composes 16x16 features as PGGAN's layer 6 does
STYLEGAN2_SETTINGS = {
    space: Setting(f"stylegan2-{space}", f"StyleGAN2 {label}, colorization loss (vgg 1.0)", "b32", 20, 1.0, Colorization(), space)
    for space, label in (("z", "z"), ("w", "w"), ("w+", "w+"), ("multi", "multi: 20 codes at b32 (16x16 features)"))
}


def random_generator(resolution: int, fmaps_max: int, seed: int) -> PGGANGenerator:
    """A PGGAN with N(0, 1) conv weights (the equalized-learning-rate convention) and zero biases."""
    torch.manual_seed(seed)
    generator = PGGANGenerator(resolution, fmaps_max=fmaps_max)
    for name, parameter in generator.named_parameters():
        if name.endswith("conv.weight"):
            torch.nn.init.normal_(parameter)
    return generator.eval().requires_grad_(False)


def random_stylegan2(resolution: int, fmaps_max: int, seed: int) -> StyleGAN2Generator:
    """NVlabs' 256 px configuration (channel base 16384) with random weights, widest `fmaps_max`
    channels; w_avg is the mean w of 4096 random z (NVlabs' tracked mean, estimated)."""
    torch.manual_seed(seed)
    config = StyleGAN2Config(z_dim=512, c_dim=0, w_dim=512, resolution=resolution, channel_base=16384,
                             channel_max=fmaps_max, conv_clamp=256)
    generator = StyleGAN2Generator(config).eval().requires_grad_(False)
    with torch.no_grad():
        generator.mapping.w_avg.copy_(generator.mapping(torch.randn(4096, config.z_dim))[:, 0].mean(dim=0))
    return generator


def target_images(generator: torch.nn.Module, count: int, images: str | None, seed: int) -> torch.Tensor:
    """(count, 3, R, R) in [-1, 1]: the first files of `images`, else images of the generator itself."""
    if images:
        files = imageio.list_images(images)[:count]
        if len(files) < count:
            raise SystemExit(f"--images {images}: need {count} images, found {len(files)}")
        arrays = [imageio.float_from_uint8(imageio.read_rgb(f)) for f in files]
        return torch.stack([imageio.hwc_to_chw(a) for a in arrays]) * 2 - 1
    z = torch.randn(count, generator.z_dim, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        return generator(z.to(next(generator.parameters()).device)).clamp(-1, 1).cpu()


def masks_for(setting: Setting, count: int, resolution: int) -> torch.Tensor | None:
    if not setting.degradation.has_mask:
        return None
    return torch.stack([setting.degradation.observe(torch.zeros(3, resolution, resolution), i, 0).mask for i in range(count)])


def reference_loop(generator, vgg: VGGFeatures, setting: Setting, target, mask, z, alpha, steps: int, lr: float):
    """mGANprior's inversion of one image, as its code ran it: `steps` steps; returns the image and the
    seconds per step after the first (which warms up)."""
    layers = generator.composable_layers()
    pre = torch.nn.Sequential(*layers[: setting.composing_layer])
    post = torch.nn.Sequential(*layers[setting.composing_layer :])
    view = setting.degradation.loss_view
    z, alpha = z.clone().requires_grad_(True), alpha.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([z, alpha], lr=lr)

    def image_of(z, alpha):
        maps = [pre(z[:, j].view(-1, generator.z_dim, 1, 1)) * alpha[:, j].view(1, -1, 1, 1) for j in range(z.shape[1])]
        return post(sum(maps) / z.shape[1])

    started = time.perf_counter()
    for step in range(steps):
        if step == 1:
            synchronize(target.device)
            started = time.perf_counter()
        output = image_of(z, alpha)
        optimizer.zero_grad()
        out_view, target_view = view(output, mask), view(target, mask)
        loss = F.mse_loss(out_view, target_view)
        if setting.vgg_lambda:
            loss = loss + setting.vgg_lambda * VGG_LOSS_SCALE * F.l1_loss(vgg(out_view), vgg(target_view))
        loss.backward()
        optimizer.step()
    synchronize(target.device)
    seconds = (time.perf_counter() - started) / max(steps - 1, 1)
    with torch.no_grad():
        return image_of(z, alpha), seconds


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def emit(args: argparse.Namespace, kind: str, text: str, **fields: object) -> None:
    """Print a measurement and append it to --record as one JSON line, written at once: a run stopped at a
    time limit keeps every figure it printed."""
    print(text, flush=True)
    if args.record:
        with open(args.record, "a") as file:
            file.write(json.dumps({"kind": kind, **fields}) + "\n")


def mode_label(args: argparse.Namespace) -> str:
    return f"{args.precision}{', channels-last' if args.channels_last else ''}{f', compiled ({args.compile})' if args.compile else ''}"


def flops_per_image_step(latent, loss, setting: Setting, targets: torch.Tensor, masks) -> float:
    """FLOPs of one step of the batched loop for one image, forward and backward (torch.utils.flop_counter; the
    target's features cached, as `invert` has them): the work a figure in image-steps/s stands for."""
    codes = [c.to(targets.device).requires_grad_(True) for c in initial_codes(latent, 0, seed=0)]
    view = setting.degradation.loss_view(targets[:1], None if masks is None else masks[:1])
    target = loss.prepare(view)
    with FlopCounterMode(display=False) as counter:
        per_item_loss(latent, loss, setting.degradation, codes, None if masks is None else masks[:1], target.view,
                      target.features).sum().backward()
    return float(counter.get_total_flops())


def batched_rate(latent, loss, setting, targets, masks, args) -> tuple[float, torch.Tensor, int]:
    """Image-steps per second of `invert` over `args.steps` steps after `args.warmup` (compile, autotune), its
    final images, and the graphs torch.compile made during the run."""
    stamps = []
    if targets.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(targets.device)
    graphs = dynamo_counters["stats"]["unique_graphs"]

    def progress(_):
        synchronize(targets.device)
        stamps.append(time.perf_counter())

    result = invert(latent, loss, targets, degradation=setting.degradation, masks=masks, lr=args.lr,
                    iterations=args.warmup + args.steps, precision=args.precision, channels_last=args.channels_last,
                    compile=args.compile or False, progress=progress)
    if not torch.isfinite(result.image).all():
        raise SystemExit(f"{setting.name}: the batched loop ({mode_label(args)}) ended at non-finite images")
    rate = targets.shape[0] * args.steps / (stamps[-1] - stamps[args.warmup - 1])
    return rate, result.image, dynamo_counters["stats"]["unique_graphs"] - graphs


def report_rate(args, setting: Setting, rate: float, flops: float, graphs: int, device: torch.device,
                device_name: str) -> None:
    tflops = rate * flops / 1e12
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    peak = peak_tflops(device_name, args.precision) if device.type == "cuda" else None
    share = share_text(tflops, device_name, args.precision) if device.type == "cuda" else "share of peak n/a (CPU)"
    emit(args, "rate", f"{setting.name}: batched ({mode_label(args)}) {rate:.3f} image-steps/s x {flops / 1e9:.1f} GFLOP "
                       f"per image-step = {tflops:.3g} TFLOP/s, {share}"
                       f"{f'; peak memory {memory:.2f} GiB' if memory is not None else ''}"
                       f"{f'; {graphs} compiled graph(s)' if args.compile else ''}",
         setting=setting.key, precision=args.precision, compile=args.compile, channels_last=args.channels_last,
         fold=args.fold, batch=args.batch_size, steps=args.steps, rate=rate, gflop=flops / 1e9, tflops=tflops,
         peak=peak, share=None if peak is None else tflops / peak, peak_memory_gib=memory,
         compiled_graphs=graphs if args.compile else None)


def psnr_to_targets(images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Per-image PSNR (dB) of images against the targets, both in [-1, 1] mapped to [0, 1] (images clamped)."""
    error = ((images.clamp(-1, 1) - targets) / 2).square().mean(dim=(1, 2, 3))
    return np.asarray(psnr_from_mse(error.double().cpu().numpy()))


def compare_priors(latent, loss, setting, targets, masks, timed: torch.Tensor, args) -> None:
    """--compare: the timed run's priors (reused, not recomputed) against an eager pass in another precision
    (or the same one: a check of the compiled step) on the first --compare_images images, both scored
    against the targets. Images are independent problems, so the first k of a batch are the k alone."""
    k = min(args.compare_images, targets.shape[0])
    other = invert(latent, loss, targets[:k], degradation=setting.degradation, masks=None if masks is None else masks[:k],
                   lr=args.lr, iterations=args.warmup + args.steps, precision=args.compare,
                   channels_last=args.channels_last and args.compare == args.precision).image
    timed_psnr, other_psnr = (float(psnr_to_targets(im, targets[:k]).mean()) for im in (timed[:k], other))
    mutual = float(np.mean(psnr_to_targets(timed[:k], other.clamp(-1, 1))))
    emit(args, "compare", f"  {mode_label(args)} vs {args.compare} (eager) after {args.warmup + args.steps} steps, {k} images: "
                          f"PSNR to the targets {timed_psnr:.2f} vs {other_psnr:.2f} dB (gap {timed_psnr - other_psnr:+.3f} dB); "
                          f"the two priors agree to {mutual:.1f} dB PSNR",
         setting=setting.key, precision=args.precision, compile=args.compile, against=args.compare,
         steps=args.warmup + args.steps, images=k, psnr=timed_psnr, psnr_against=other_psnr, gap=timed_psnr - other_psnr,
         mutual_psnr=mutual)


ROUNDING = 1e-4  # of the largest |pixel|: one step of two loops that differ only in float rounding
SAME_QUALITY_DB = 0.1


def agreement_checks(generator, vgg, loss, setting, latent, targets, masks, args) -> None:
    """The batched loop against the reference loop in strict fp32, from the same initial codes, on the first
    --check_images images (the reference one at a time), after each of --check_steps steps, with a verdict.
    After one step the two must agree to rounding: they compute the same function, but cuDNN picks other
    algorithms at batch 1 and at the batch's size. Later the images drift apart (the L1 VGG term's subgradient
    flips where features differ by rounding, and lr 1 amplifies it), so the verdict is then on what matters:
    both loops reach priors of the same quality (PSNR to the targets within 0.1 dB)."""
    device, n = targets.device, min(args.check_images, targets.shape[0])
    first = None if masks is None else masks[:n]
    for steps in args.check_steps:
        references = []
        for i in range(n):
            z0, alpha0 = (t.to(device) for t in initial_codes(latent, i, seed=args.seed))
            with numeric_mode("fp32", device, batch_invariant=True):
                references.append(reference_loop(generator, vgg, setting, targets[i : i + 1],
                                                 None if first is None else first[i : i + 1], z0, alpha0, steps, args.lr)[0])
        reference = torch.cat(references)
        batched = invert(latent, loss, targets[:n], degradation=setting.degradation, masks=first, lr=args.lr,
                         iterations=steps, precision="fp32", seed=args.seed).image
        largest = float((batched - reference).abs().max())
        relative = largest / float(reference.abs().max())
        psnr_reference, psnr_batched = (float(psnr_to_targets(im, targets[:n]).mean()) for im in (reference, batched))
        gap = psnr_batched - psnr_reference
        if steps == 1:
            agree = relative <= ROUNDING
            verdict = (f"{'agree to rounding' if agree else 'DIFFER'} (expected <= {ROUNDING:.0e} of the largest |pixel|: "
                       f"the same function; other convolution algorithms at batch 1 and {n})")
        else:
            agree = abs(gap) <= SAME_QUALITY_DB
            verdict = (f"PSNR to the targets {psnr_reference:.2f} (reference) vs {psnr_batched:.2f} dB (batched): "
                       f"{'same quality' if agree else 'DIFFER'} (expected within {SAME_QUALITY_DB} dB; the images "
                       f"themselves drift apart with the steps)")
        emit(args, "check", f"  float32 check, {steps} step(s), {n} image(s): max |batched - reference| = {largest:.2e} "
                            f"({relative:.1e} of the largest |pixel|): {verdict}",
             setting=setting.key, steps=steps, images=n, max_difference=largest, relative=relative,
             psnr_reference=psnr_reference, psnr_batched=psnr_batched, gap=gap, agree=agree)


def profile_steps(latent, loss, setting, targets, masks, args) -> None:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if targets.device.type == "cuda" else [])
    run = dict(degradation=setting.degradation, masks=masks, lr=args.lr, precision=args.precision,
               channels_last=args.channels_last, compile=args.compile or False)
    invert(latent, loss, targets, iterations=args.warmup, **run)
    with profile(activities=activities) as prof:
        invert(latent, loss, targets, iterations=3, **run)
    sort = "self_device_time_total" if targets.device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25))


def step_list(text: str) -> list[int]:
    """--check_steps: comma-separated step counts, each at least 1 (empty or 0: no check)."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip() and int(part) != 0]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated step counts, got {text!r}") from None
    if any(step < 0 for step in steps):
        raise argparse.ArgumentTypeError(f"step counts must be positive, got {text!r}")
    return steps


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--settings", default="col,inp",
                   help="col (layer 6/20 codes/vgg 1.0) and/or inp (layer 4/30 codes/vgg 0.1); empty: StyleGAN2 only")
    p.add_argument("--resolution", type=int, default=256, help="random generator's resolution (the paper: 256)")
    p.add_argument("--fmaps_max", type=int, default=512, help="random generator's widest layer (the paper: 512)")
    p.add_argument("--gan_weights", default=None, help="a real generator instead of the random one")
    p.add_argument("--vgg_weights", default=None, help="torchvision's VGG16 file instead of random weights")
    p.add_argument("--images", default=None, help="folder of target images instead of generated ones")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=30, help="timed steps of the batched loop")
    p.add_argument("--warmup", type=int, default=3, help="untimed first steps (compilation, autotuning; at least 1)")
    p.add_argument("--reference_steps", type=int, default=10, help="timed steps of the reference loop (0: no reference)")
    p.add_argument("--check_steps", type=step_list, default=[1, 20],
                   help="strict fp32 agreement of the batched and reference loops after each of these step counts "
                        "(comma-separated; empty: none)")
    p.add_argument("--check_images", type=int, default=2, help="images of the agreement check")
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--precision", choices=PRECISIONS, default="default")
    p.add_argument("--channels_last", action="store_true")
    p.add_argument("--compile", nargs="?", const="static", choices=COMPILE_MODES, default=None,
                   help="torch.compile the step: static (the default: shapes fixed, one batch size) or dynamic")
    p.add_argument("--compile_backend", default="inductor",
                   help="torch.compile's backend; eager: dynamo traces the step as for inductor and runs the graph "
                        "eagerly (a quick CPU run of the compiled path: inductor takes minutes there)")
    p.add_argument("--fold", action="store_true", help="folded PGGAN blocks (bigprior.inversion.folded)")
    p.add_argument("--stylegan2", default="w+,multi",
                   help="StyleGAN2 latent spaces to time after PGGAN's settings (z, w, w+, multi; empty: none), on a random "
                        "StyleGAN2 of --resolution with at most --fmaps_max channels")
    p.add_argument("--compare", choices=PRECISIONS, default=None,
                   help="the timed priors against an eager run in this precision on --compare_images images (PSNR to "
                        "the targets of both): fp32 for bf16's quality, the timed precision for a compiled step's")
    p.add_argument("--compare_images", type=int, default=8)
    p.add_argument("--profile", action="store_true", help="print the profiler's top operations of the batched loop")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", type=Path, default=None, metavar="FILE",
                   help="append every measurement to FILE as a JSON line, as soon as it is made")
    p.add_argument("--save_random", default=None, metavar="FOLDER",
                   help="only write the random generator and VGG16 as random_pggan<R>.pth and random_vgg16.pth "
                        "into FOLDER (loadable by --gan_weights/--vgg_weights of the inversion scripts) and stop")
    return p


def save_random_weights(folder: Path, generator: PGGANGenerator, vgg_features: torch.nn.Sequential) -> None:
    """Write the benchmark's random networks in the published files' layouts, so that the inversion scripts and
    `bigprior check-inversion` can time the paper's settings without the published weights."""
    folder.mkdir(parents=True, exist_ok=True)
    files = (folder / f"random_pggan{generator.resolution}.pth", folder / "random_vgg16.pth")
    torch.save(generator.state_dict(), files[0])
    torch.save({f"features.{key}": value for key, value in vgg_features.state_dict().items()}, files[1])
    print(f"wrote {files[0]} and {files[1]}")


def time_latent(latent, loss, setting: Setting, targets, masks, args, device: torch.device, device_name: str) -> None:
    """The batched loop of one latent space: its rate (with FLOPs and share of peak), then --compare and --profile."""
    flops = flops_per_image_step(latent, loss, setting, targets, masks)
    rate, image, graphs = batched_rate(latent, loss, setting, targets, masks, args)
    report_rate(args, setting, rate, flops, graphs, device, device_name)
    if args.compare:
        compare_priors(latent, loss, setting, targets, masks, image, args)
    if args.profile:
        profile_steps(latent, loss, setting, targets, masks, args)


def time_pggan_setting(generator, vgg, setting: Setting, targets, args, device: torch.device, device_name: str) -> None:
    """The reference loop, the batched one (and its --compare), then the agreement checks, for one paper setting."""
    masks = masks_for(setting, args.batch_size, generator.resolution)
    masks = None if masks is None else masks.to(device)
    loss = InversionLoss(0.0, 1.0, setting.vgg_lambda, vgg)
    multicode = MultiCodeGenerator(generator, setting.composing_layer, setting.z_number, fold=args.fold)
    if args.reference_steps:
        z0, alpha0 = (t.to(device) for t in initial_codes(multicode, 0, seed=args.seed))
        with numeric_mode("default", device, batch_invariant=True):  # PyTorch's defaults, as the original code ran
            _, seconds = reference_loop(generator, vgg, setting, targets[:1], None if masks is None else masks[:1], z0,
                                        alpha0, args.reference_steps + 1, args.lr)
        emit(args, "reference", f"{setting.name}: reference (one image, mGANprior's loop, PyTorch's default numerics) "
                                f"{1 / seconds:.3f} image-steps/s ({seconds * 1000:.0f} ms per step)",
             setting=setting.key, rate=1 / seconds, ms=seconds * 1000)
    time_latent(multicode, loss, setting, targets, masks, args, device, device_name)
    if args.check_steps:
        agreement_checks(generator, vgg, loss, setting, multicode, targets, masks, args)


def time_stylegan2(vgg, args, device: torch.device, device_name: str) -> None:
    """The batched loop in each of `--stylegan2`'s latent spaces of a random StyleGAN2 (its own images as targets)."""
    generator = random_stylegan2(args.resolution, args.fmaps_max, args.seed).to(device)
    targets = target_images(generator, args.batch_size, args.images, args.seed).to(device)
    print(f"StyleGAN2 {generator.resolution}x{generator.resolution}, random weights (widest {args.fmaps_max} channels, "
          f"num_ws {generator.num_ws})")
    for space in args.stylegan2.split(","):
        setting = STYLEGAN2_SETTINGS[space]
        latent = build_latent_space(generator, space, setting.composing_layer, setting.z_number,
                                    fused=not exact_batches(args.precision, device))
        time_latent(latent, InversionLoss(0.0, 1.0, setting.vgg_lambda, vgg), setting, targets, None, args, device,
                    device_name)


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    if min(args.check_images, args.compare_images) < 1:
        parser.error("--check_images and --compare_images must be at least 1")
    unknown = set(args.stylegan2.split(",")) - set(STYLEGAN2_SETTINGS) - {""}
    if unknown:
        parser.error(f"--stylegan2: unknown latent space(s) {', '.join(sorted(unknown))}; expected some of "
                     f"{', '.join(STYLEGAN2_SETTINGS)}")


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    check_args(parser, args)
    if args.compile and args.compile_backend != "inductor":  # the library compiles with torch.compile's default
        torch.compile = functools.partial(torch.compile, backend=args.compile_backend)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    generator = (load_pggan(args.gan_weights) if args.gan_weights
                 else random_generator(args.resolution, args.fmaps_max, args.seed)).to(device)
    resolution = generator.resolution
    torch.manual_seed(args.seed)
    if args.save_random:
        save_random_weights(Path(args.save_random), generator.cpu(), vgg16_features(VGG16_LAYERS))
        return
    vgg = VGGFeatures(vgg16_features(16, args.vgg_weights), resolution).to(device)
    targets = target_images(generator, args.batch_size, args.images, args.seed).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device {name}; torch {torch.__version__}, Python {platform.python_version()}; generator {resolution}x{resolution} "
          f"(widest {max(generator.channels)} channels, {'weights ' + args.gan_weights if args.gan_weights else 'random'}); "
          f"batch {args.batch_size}; precision {args.precision}{', channels_last' if args.channels_last else ''}"
          f"{f', compile ({args.compile})' if args.compile else ''}{', folded' if args.fold else ''}")
    for key in filter(None, args.settings.split(",")):
        time_pggan_setting(generator, vgg, paper_settings(resolution)[key], targets, args, device, name)
    if args.stylegan2:
        time_stylegan2(vgg, args, device, name)


if __name__ == "__main__":
    main()
