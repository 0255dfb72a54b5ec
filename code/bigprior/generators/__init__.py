"""Pretrained generators: the PGGAN generator, its loader and the model zoo of published files."""

from .pggan import PGGANGenerator, load_pggan
from .zoo import MODEL_ZOO, resolve_generator_path

__all__ = ["MODEL_ZOO", "PGGANGenerator", "load_pggan", "resolve_generator_path"]
