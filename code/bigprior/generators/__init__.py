"""Pretrained generators: the PGGAN generator, its loaders (converted, genforce, official pickles) and the model zoo."""

from .official import read_official_pickle
from .pggan import PGGANGenerator, load_pggan
from .zoo import MODEL_ZOO, resolve_generator_path

__all__ = ["MODEL_ZOO", "PGGANGenerator", "load_pggan", "read_official_pickle", "resolve_generator_path"]
