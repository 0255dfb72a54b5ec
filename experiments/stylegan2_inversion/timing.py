"""CPU time per image-step of the StyleGAN2 latent spaces (the configurations of run.sh), one thread.

check-inversion's own timings are wall-clock and this 2-core machine is shared, so they include waiting;
this measures the process's CPU time over `--steps` steps of a batch of 8 after one warm-up step, at the
default precision (grouped convolutions) and in strict fp32 (per-sample path, bit-exact batches).

    python experiments/stylegan2_inversion/timing.py [--gan_weights ../shared/testvectors/stylegan2/tiny_r32_official.pkl]
"""

from __future__ import annotations

import argparse
import time

import torch


from bigprior.degradations import BlindAWGN
from bigprior.generators import load_generator
from bigprior.inversion import InversionLoss, build_latent_space, invert
from bigprior.runtime import exact_batches

CONFIGS = [("z", 4, 1), ("w", 4, 1), ("w+", 4, 1)] + [("multi", b, n) for n in (2, 4, 8) for b in ("b8", "b16", "b32")]


def cpu_seconds_per_image_step(generator, space: str, block: str | int, codes: int, targets: torch.Tensor,
                               precision: str, steps: int) -> float:
    latent = build_latent_space(generator, space, block, codes, fused=not exact_batches(precision, targets.device))
    stamps: list[float] = []
    invert(latent, InversionLoss(), targets, degradation=BlindAWGN(), optimization="Adam", lr=0.1, iterations=steps + 1,
           precision=precision, progress=lambda _: stamps.append(time.process_time()))
    return (stamps[-1] - stamps[0]) / steps / targets.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gan_weights", default="../shared/testvectors/stylegan2/tiny_r32_official.pkl")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = load_generator(args.gan_weights)
    with torch.no_grad():
        targets = generator(torch.randn(8, generator.z_dim, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    print("| latent space | ms CPU per image-step, default precision | strict fp32 |")
    print("| --- | --- | --- |")
    for space, block, codes in CONFIGS:
        times = [cpu_seconds_per_image_step(generator, space, block, codes, targets, precision, args.steps) * 1000
                 for precision in ("default", "fp32")]
        label = f"multi, N={codes}, at {block}" if space == "multi" else space
        print(f"| {label} | {times[0]:.1f} | {times[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
