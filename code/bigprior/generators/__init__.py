"""Pretrained generators: PGGAN and StyleGAN2(-ADA), their loaders (converted files, genforce, official
pickles read without running them), the generic `load_generator` and the model zoo."""

from .load import load_generator
from .official import read_official_pickle
from .pggan import PGGANGenerator, load_pggan
from .stylegan2 import StyleGAN2Config, StyleGAN2Generator
from .stylegan2_files import load_stylegan2
from .zoo import MODEL_ZOO, resolve_generator_path

__all__ = ["MODEL_ZOO", "PGGANGenerator", "StyleGAN2Config", "StyleGAN2Generator", "load_generator", "load_pggan",
           "load_stylegan2", "read_official_pickle", "resolve_generator_path"]
