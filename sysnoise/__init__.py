"""sysnoise: how much system noise (decoders, resizers, precisions, backends) costs a model."""

__version__ = "0.1.0"
