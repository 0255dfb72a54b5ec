"""Pretrained generators: PGGAN and StyleGAN2(-ADA), their loaders (converted files, genforce, official
pickles read without running them) and the generic `load_generator` (names and files of published
weights: `bigprior.zoo`)."""

from .load import load_generator
from .pggan import PGGANGenerator, load_pggan, read_official_pickle
from .stylegan2 import StyleGAN2Config, StyleGAN2Generator, load_stylegan2

__all__ = ["PGGANGenerator", "StyleGAN2Config", "StyleGAN2Generator", "load_generator", "load_pggan",
           "load_stylegan2", "read_official_pickle"]
