"""PGGAN (Karras et al. 2018): the generator (`network.py`), the official TensorFlow pickles read
without running them (`official.py`) and `bigprior convert-pggan` (`convert.py`)."""

from .network import GENERATOR_CHOICES, PGGANGenerator, load_pggan, pggan_from_file
from .official import read_official_pickle

__all__ = ["GENERATOR_CHOICES", "PGGANGenerator", "load_pggan", "pggan_from_file", "read_official_pickle"]
