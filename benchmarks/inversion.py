"""Image-steps per second of the batched inversion against a faithful one-image reference loop.

The reference is mGANprior's loop as the paper ran it: one image, float32, the N codes run one by
one through the pre-composition layers, the target's VGG features recomputed at every step, plain
SGD. The batched loop is `bigprior.inversion.invert` (many images at once, target features cached,
optionally folded layers, bf16 autocast, channels-last, torch.compile). Both run in the same process
on a random-weight PGGAN and a random-weight VGG16 (or `--gan_weights` / `--images` for real ones);
a float32 check runs both from the same initial codes and compares the images they end at. In the same
run, a random-weight StyleGAN2 of the same resolution is timed in its latent spaces (`--stylegan2`,
batched loop only: mGANprior had no StyleGAN2 multi-code loop to compare with).

    # the paper's settings on a GPU (one line):
    python benchmarks/inversion.py --device cuda --batch_size 64 --steps 30 --fold --compile
    # reduced scale on a CPU:
    python benchmarks/inversion.py --device cpu --resolution 64 --fmaps_max 128 --batch_size 4 --steps 3 \
        --reference_steps 2 --check_steps 3
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "code"))

from bigprior import imageio  # noqa: E402
from bigprior.degradations import Colorization, Degradation, Inpainting, center_mask  # noqa: E402
from bigprior.generators import PGGANGenerator, StyleGAN2Config, StyleGAN2Generator, load_pggan  # noqa: E402
from bigprior.inversion import InversionLoss, MultiCodeGenerator, VGGFeatures, initial_codes, invert  # noqa: E402
from bigprior.inversion.spaces import build_latent_space  # noqa: E402
from bigprior.runtime import exact_batches, numeric_mode  # noqa: E402
from bigprior.inversion.losses import VGG16_LAYERS, VGG_LOSS_SCALE, vgg16_features  # noqa: E402
from bigprior.metrics import psnr_from_mse  # noqa: E402
from bigprior.runtime import resolve_device  # noqa: E402


@dataclass(frozen=True)
class Setting:
    name: str
    composing_layer: int
    z_number: int
    vgg_lambda: float
    degradation: Degradation
    latent_space: str = "multi"


def paper_settings(resolution: int) -> dict[str, Setting]:
    return {
        "col": Setting("colorization: layer 6, 20 codes, vgg 1.0", 6, 20, 1.0, Colorization()),
        "inp": Setting("inpainting: layer 4, 30 codes, vgg 0.1", 4, 30, 0.1, Inpainting(center_mask(resolution, resolution))),
    }


# StyleGAN2 with the colorization setting's loss; multi composes 16x16 features as PGGAN's layer 6 does
STYLEGAN2_SETTINGS = {
    space: Setting(f"StyleGAN2 {label}, colorization loss (vgg 1.0)", "b32", 20, 1.0, Colorization(), space)
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


def peak_memory_note(device: torch.device) -> str:
    """', peak memory X GiB' since the last reset (CUDA), else nothing."""
    return f", peak memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else ""


def batched_rate(latent, loss, setting, targets, masks, args) -> tuple[float, torch.Tensor]:
    """Image-steps per second of `invert` over `args.steps` steps after `args.warmup` (compile, autotune)."""
    stamps = []
    if targets.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(targets.device)

    def progress(_):
        synchronize(targets.device)
        stamps.append(time.perf_counter())

    result = invert(latent, loss, targets, degradation=setting.degradation, masks=masks, lr=args.lr,
                    iterations=args.warmup + args.steps, precision=args.precision, channels_last=args.channels_last,
                    compile=args.compile, progress=progress)
    return targets.shape[0] * args.steps / (stamps[-1] - stamps[args.warmup - 1]), result.image


def equality_check(generator, vgg, loss, setting, targets, masks, args) -> tuple[float, float, float]:
    """Reference and batched loop from image 0's initial codes in float32: max |difference| of the final
    images, that relative to the largest |pixel|, and their PSNR (images in [-1, 1] mapped to [0, 1])."""
    # invert(channels_last=True) converts the modules it runs in place: the batched loop gets its own copy,
    # so the reference loop and the float32 check keep the generator as the original code had it
    batched_generator = copy.deepcopy(generator) if args.channels_last else generator
    multicode = MultiCodeGenerator(batched_generator, setting.composing_layer, setting.z_number, fold=args.fold)
    z0, alpha0 = initial_codes(multicode, 0, seed=0)
    with numeric_mode("fp32", targets.device, batch_invariant=True):
        reference, _ = reference_loop(generator, vgg, setting, targets[:1], None if masks is None else masks[:1],
                                      z0.to(targets.device), alpha0.to(targets.device), args.check_steps, args.lr)
    batched = invert(multicode, loss, targets, degradation=setting.degradation, masks=masks, lr=args.lr,
                     iterations=args.check_steps, precision="fp32").image[:1]
    difference = (batched - reference).abs()
    largest = float(difference.max())
    return largest, largest / float(reference.abs().max()), float(psnr_from_mse(float((difference / 2).square().mean())))


def profile_steps(latent, loss, setting, targets, masks, args) -> None:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if targets.device.type == "cuda" else [])
    invert(latent, loss, targets, degradation=setting.degradation, masks=masks, lr=args.lr, iterations=args.warmup,
           precision=args.precision, channels_last=args.channels_last, compile=args.compile)
    with profile(activities=activities) as prof:
        invert(latent, loss, targets, degradation=setting.degradation, masks=masks, lr=args.lr, iterations=3,
               precision=args.precision, channels_last=args.channels_last, compile=args.compile)
    sort = "self_device_time_total" if targets.device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25))


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
    p.add_argument("--reference_steps", type=int, default=10, help="timed steps of the reference loop")
    p.add_argument("--check_steps", type=int, default=20, help="steps of the float32 equality check (0: skip)")
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--precision", choices=("default", "fp32", "bf16"), default="default")
    p.add_argument("--channels_last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the step")
    p.add_argument("--fold", action="store_true", help="folded PGGAN blocks (bigprior.inversion.folded)")
    p.add_argument("--stylegan2", default="w+,multi",
                   help="StyleGAN2 latent spaces to time after PGGAN's settings (z, w, w+, multi; empty: none), on a random "
                        "StyleGAN2 of --resolution with at most --fmaps_max channels")
    p.add_argument("--compare_bf16", action="store_true", help="PSNR of bf16 vs fp32 priors after --steps steps")
    p.add_argument("--profile", action="store_true", help="print the profiler's top operations of the batched loop")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
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


def precision_checks(latent, loss, setting, targets, masks, args) -> None:
    """--compare_bf16 and --profile, for any latent space."""
    if args.compare_bf16:
        fp32_args = argparse.Namespace(**{**vars(args), "precision": "fp32"})
        bf16_args = argparse.Namespace(**{**vars(args), "precision": "bf16"})
        _, fp32_image = batched_rate(latent, loss, setting, targets, masks, fp32_args)
        _, bf16_image = batched_rate(latent, loss, setting, targets, masks, bf16_args)
        to_unit = [((im.clamp(-1, 1) + 1) / 2).cpu().numpy() for im in (fp32_image, bf16_image)]
        per_image = np.mean((to_unit[0] - to_unit[1]) ** 2, axis=(1, 2, 3))
        print(f"  bf16 vs fp32 priors after {args.warmup + args.steps} steps: mean PSNR "
              f"{float(np.mean(psnr_from_mse(per_image))):.2f} dB over {len(per_image)} images")
    if args.profile:
        profile_steps(latent, loss, setting, targets, masks, args)


def time_pggan_setting(generator, vgg, setting: Setting, targets, args, device: torch.device) -> None:
    """The reference loop against the batched one for one of the paper's settings."""
    masks = masks_for(setting, args.batch_size, generator.resolution)
    masks = None if masks is None else masks.to(device)
    loss = InversionLoss(0.0, 1.0, setting.vgg_lambda, vgg)
    # invert(channels_last=True) converts the modules it runs in place: the batched loop gets its own copy,
    # so the reference loop and the float32 check keep the generator as the original code had it
    batched_generator = copy.deepcopy(generator) if args.channels_last else generator
    multicode = MultiCodeGenerator(batched_generator, setting.composing_layer, setting.z_number, fold=args.fold)
    z0, alpha0 = (t.to(device) for t in initial_codes(multicode, 0, seed=args.seed))
    with numeric_mode("default", device, batch_invariant=True):  # PyTorch's defaults, as the original code ran
        _, reference_seconds = reference_loop(generator, vgg, setting, targets[:1],
                                              None if masks is None else masks[:1], z0, alpha0,
                                              args.reference_steps + 1, args.lr)
    rate, _ = batched_rate(multicode, loss, setting, targets, masks, args)
    reference_rate = 1 / reference_seconds
    print(f"{setting.name}: reference {reference_rate:.3f} image-steps/s ({reference_seconds * 1000:.0f} ms per step), "
          f"batched {rate:.3f} image-steps/s: {rate / reference_rate:.1f}x{peak_memory_note(device)}")
    if args.check_steps:
        largest, relative, agreement = equality_check(generator, vgg, loss, setting, targets, masks, args)
        print(f"  float32 check after {args.check_steps} steps: max |batched - reference| = {largest:.2e} "
              f"({relative:.1e} of the largest |pixel|), PSNR {agreement:.1f} dB")
    precision_checks(multicode, loss, setting, targets, masks, args)


def time_stylegan2(vgg, args, device: torch.device) -> None:
    """The batched loop in each of `--stylegan2`'s latent spaces of a random StyleGAN2 (its own images as targets)."""
    generator = random_stylegan2(args.resolution, args.fmaps_max, args.seed).to(device)
    targets = target_images(generator, args.batch_size, args.images, args.seed).to(device)
    print(f"StyleGAN2 {generator.resolution}x{generator.resolution}, random weights (widest {args.fmaps_max} channels, "
          f"num_ws {generator.num_ws})")
    for space in args.stylegan2.split(","):
        setting = STYLEGAN2_SETTINGS[space]
        latent = build_latent_space(generator, space, setting.composing_layer, setting.z_number,
                                    fused=not exact_batches(args.precision, device))
        loss = InversionLoss(0.0, 1.0, setting.vgg_lambda, vgg)
        rate, _ = batched_rate(latent, loss, setting, targets, None, args)
        print(f"{setting.name}: batched {rate:.3f} image-steps/s ({1000 / rate:.0f} ms per image-step)")
        precision_checks(latent, loss, setting, targets, None, args)


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    unknown = set(args.stylegan2.split(",")) - set(STYLEGAN2_SETTINGS) - {""}
    if unknown:
        parser.error(f"--stylegan2: unknown latent space(s) {', '.join(sorted(unknown))}; expected some of "
                     f"{', '.join(STYLEGAN2_SETTINGS)}")
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
    print(f"device {name}; generator {resolution}x{resolution} (widest {max(generator.channels)} channels, "
          f"{'weights ' + args.gan_weights if args.gan_weights else 'random'}); batch {args.batch_size}; "
          f"precision {args.precision}{', channels_last' if args.channels_last else ''}"
          f"{', compile' if args.compile else ''}{', folded' if args.fold else ''}")
    for key in filter(None, args.settings.split(",")):
        time_pggan_setting(generator, vgg, paper_settings(resolution)[key], targets, args, device)
    if args.stylegan2:
        time_stylegan2(vgg, args, device)


if __name__ == "__main__":
    main()
