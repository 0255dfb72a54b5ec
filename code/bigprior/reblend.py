"""`bigprior reblend <out>/<name> --out DIR [--prior_strength S] [--max_phi C] [--protect MASK] [--prior_region MASK]`:
steer the prior's share of a saved restoration, without any generator or fusion network.

`bigprior restore` writes, besides its images, the lossless state of each restoration (`<name>_phi.npy`,
`<name>_restoration.npz`: the observation, every source's share, the ground truth when the photo was
degraded there; `writer.py`). Reblend reads them back, blends the same sources with the steered shares
(`Restoration.reblend`) and writes into `--out` the files that `bigprior restore` would have written with
those settings, byte for byte. It never writes into the folder it reads from.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .errors import BIGPriorError
from .restore import add_steering_flags, steering_from_args
from .writer import OUTPUT_KINDS, check_output_folder, read_restoration, write_restoration


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior reblend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("restoration", help="<out>/<name> of a `bigprior restore` output (e.g. results/photo)")
    parser.add_argument("--out", required=True, help="output folder (not the one the restoration is read from)")
    add_steering_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> Path:
    args = build_parser().parse_args(argv)
    stem, out = Path(args.restoration), Path(args.out)
    if out.resolve() == stem.parent.resolve():
        raise BIGPriorError(f"--out {out}: the folder the restoration is read from; give another one (its files are kept)")
    check_output_folder(out)
    restoration = read_restoration(stem)
    steering = steering_from_args(args, restoration.size)
    steered = restoration.reblend(steering)
    for note in steered.notes[len(restoration.notes):]:
        print(f"note: {note}")
    write_restoration(steered, stem.name, out, steering)
    print(f"{stem.name}: re-blended into {out}/{stem.name}_{{{','.join(OUTPUT_KINDS)}}}.png; mean phi "
          f"{steered.scores()['phi_mean']:.3f} (was {restoration.scores()['phi_mean']:.3f})")
    return out
