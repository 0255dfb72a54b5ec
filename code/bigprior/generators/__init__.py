"""Pretrained generators: the PGGAN generator, its loaders (converted, genforce, official pickles) (names and files of published weights: `bigprior.zoo`)."""

from .official import read_official_pickle
from .pggan import PGGANGenerator, load_pggan

__all__ = ["PGGANGenerator", "load_pggan", "read_official_pickle"]
