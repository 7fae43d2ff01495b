"""Networks: coordinate MLPs with exact periodic embeddings and random Fourier features."""

from .mlp import (
           MLP,
           CoordinateEmbedding,
           CoordinateNetwork,
           CoordinateSpec,
           FourierFeatures,
           JointModel,
           ModifiedMLP,
           activation,
)

__all__ = ["MLP", "JointModel", "ModifiedMLP", "CoordinateEmbedding", "CoordinateNetwork", "CoordinateSpec", "FourierFeatures",
           "activation"]
