"""Networks: coordinate MLPs with exact periodic embeddings and random Fourier features."""

from .mlp import MLP, JointModel, CoordinateEmbedding, CoordinateNetwork, CoordinateSpec, FourierFeatures, ModifiedMLP, activation

__all__ = ["MLP", "JointModel", "ModifiedMLP", "CoordinateEmbedding", "CoordinateNetwork", "CoordinateSpec", "FourierFeatures",
           "activation"]
