"""The recipe schema of image classification (``problem: classification``); no torch is imported here.

One recipe trains PR-Net (Algorithm 1 of the paper: four parameter groups with their own optimizers)
or a baseline (``model.kind: odenet | rknet | resnet | ...``: the network group with the task loss
only). Periods (``every``) and learning-rate milestones count epochs.

Examples
--------
>>> r = ClassificationRecipe.model_validate({"problem": "classification", "data": {"dataset": "digits"}})
>>> r.model.kind, r.training.epochs, r.training.equation.l1
('prnet', 160, 1e-05)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from .base import RecipeBase, StrictModel

__all__ = ["ClassificationRecipe", "ClassData", "ClassModel", "ClassLibrary", "ClassTraining", "SideGroup",
           "LOSSES"]

#: The losses of Algorithm 1: task, initial condition, governing equation, L1 of the coefficients.
LOSSES = ("L_T", "L_I", "L_G", "R_G")


class ClassData(StrictModel):
    """The data set (``pdelearn.vision.load_dataset``) and the batches."""

    dataset: str
    root: Optional[str] = None  #: folder of mnist/svhn/cifar/tinyimagenet files (relative to the recipe's folder)
    image_size: Optional[int] = Field(None, ge=4)
    augment: bool = False
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)  #: held out of the training set for "keep the best"
    split_seed: int = Field(0, ge=0)
    batch_size: int = Field(128, ge=1)
    eval_batch_size: int = Field(1000, ge=1)
    workers: int = Field(0, ge=0)
    max_batches: Optional[int] = Field(None, ge=1)  #: batches per epoch (smoke runs); None: the whole set
    options: dict = Field(default_factory=dict)  #: more keyword arguments of load_dataset (e.g. fake_train: 64)


class ClassModel(StrictModel):
    """The network: ``prnet`` or a baseline by name."""

    kind: str = "prnet"  #: prnet, prnet_mobilenetv3 (Algorithm 1) or a baseline: odenet, rknet, resnet, mobilenetv3, ...
    width: int = Field(64, ge=1)
    n_down: int = Field(2, ge=0)  #: stride-2 convolutions of the extractor (2: 28 x 28 -> 6 x 6)
    activation: str = "softplus"  #: inside the PDE block, where derivatives are taken
    skip: bool = True
    t_query: float = 1.0
    max_order: int = Field(3, ge=0)  #: highest d1/d2 derivative order the block is asked for
    options: dict = Field(default_factory=dict)  #: extra keyword arguments of a baseline's builder
    init_from: Optional[str] = None  #: transfer learning: a trained run folder whose weights (all but the head) start training


class ClassLibrary(StrictModel):
    """The candidate terms of the governing equation of the PDE block (field ``h``, coordinates ``d1, d2``)."""

    max_power: int = Field(3, ge=0)
    max_order: int = Field(3, ge=0)
    mixed: bool = False  #: mixed derivatives (h_d1d2) too; default: orders 0..max_order in each direction
    terms: Optional[list[str]] = None  #: explicit terms (e.g. ``["h", "h*h_d1", "h_d2d2"]``) instead


class SideGroup(StrictModel):
    """The query points ``H`` or the coefficients ``a``: Adam, updated every ``every`` epochs."""

    lr: float = Field(1e-3, gt=0)
    every: int = Field(1, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    l1: float = Field(1e-5, ge=0)  #: weight of R_G = sum |a| (coefficients only)


class ClassTraining(StrictModel):
    """Epochs, the network's optimizer and schedule, the side groups, loss weights, validation."""

    epochs: int = Field(160, ge=1)
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    milestones: list[int] = Field(default_factory=lambda: [60, 80, 140])  #: epochs where every lr is multiplied by gamma
    gamma: float = Field(0.1, gt=0)
    schedule: Literal["multistep", "cosine"] = "multistep"  #: cosine: the network and block groups (f) only
    warmup_epochs: int = Field(0, ge=0)  #: linear warm-up of the cosine schedule
    min_lr: float = Field(0.0, ge=0)  #: where the cosine schedule ends
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    weights: dict[str, float] = Field(default_factory=lambda: {"L_T": 1.0, "L_I": 1.0, "L_G": 1.0})
    queries: SideGroup = SideGroup(l1=0.0)
    equation: SideGroup = SideGroup()
    validate_every: int = Field(1, ge=1)
    keep_best: bool = True
    best_by: Literal["top1", "loss"] = "top1"  #: validation accuracy, or cross-entropy (when accuracy saturates)
    log_every: int = Field(50, ge=1)  #: batches between metrics lines
    max_minutes: Optional[float] = Field(None, gt=0)
    #: a run stopped by max_minutes counts as reliable only when its test top-1 accuracy meets this target
    target_top1: Optional[float] = Field(None, gt=0, le=1)
    amp: bool = False  #: mixed precision on CUDA (float16 autocast + GradScaler; PDE-block derivatives in float32)
    #: L_G (and the coefficient group's L_G_a) on the first this-many images of each shuffled batch, i.e. a random
    #: subsample, to make PR-Net's iteration cheaper (the Taylor pass is most of its cost); None: every image
    lg_samples: Optional[int] = Field(None, ge=1)

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(v) - set(LOSSES[:3]))
        if bad:
            raise ValueError(f"unknown loss name(s) {bad} in training.weights; the losses are L_T, L_I, L_G "
                             "(R_G's weight is training.equation.l1)")
        neg = {k: w for k, w in v.items() if w < 0}
        if neg:
            raise ValueError(f"loss weights must be >= 0, received {neg}")
        return v

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, v: list[int]) -> list[int]:
        if any(m < 1 for m in v) or sorted(set(v)) != v:
            raise ValueError(f"training.milestones must be increasing epoch numbers >= 1, received {v}")
        return v


class ClassificationRecipe(RecipeBase):
    """A validated classification recipe."""

    problem: Literal["classification"] = "classification"
    data: ClassData
    model: ClassModel = ClassModel()
    library: ClassLibrary = ClassLibrary()
    training: ClassTraining = ClassTraining()

    @model_validator(mode="after")
    def _check(self) -> "ClassificationRecipe":
        prnet = self.model.kind in ("prnet", "prnet_mobilenetv3")
        if prnet and self.library.terms is None and self.library.max_order > self.model.max_order:
            raise ValueError(f"library.max_order ({self.library.max_order}) needs derivatives the PDE block does not "
                             f"give (model.max_order = {self.model.max_order}); raise model.max_order or lower "
                             "library.max_order")
        return self

    @model_validator(mode="after")
    def _schedule(self) -> "ClassificationRecipe":
        t = self.training
        if t.schedule == "cosine":
            if t.milestones:
                raise ValueError(f"training.milestones ({t.milestones}) are for schedule: multistep; with schedule: cosine "
                                 "set training.milestones: []")
            if t.warmup_epochs >= t.epochs:
                raise ValueError(f"training.warmup_epochs ({t.warmup_epochs}) must be below training.epochs ({t.epochs})")
            if t.min_lr > t.lr:
                raise ValueError(f"training.min_lr ({t.min_lr}) must not exceed training.lr ({t.lr})")
        elif t.warmup_epochs or t.min_lr:
            raise ValueError("training.warmup_epochs and training.min_lr are for schedule: cosine")
        return self

    def resolve_paths(self, base: Path) -> None:
        """``data.root`` and ``model.init_from`` relative to the recipe's folder."""
        if self.data.root is not None and not Path(self.data.root).expanduser().is_absolute():
            self.data.root = str((base / self.data.root).resolve())
        if self.model.init_from is not None and not Path(self.model.init_from).expanduser().is_absolute():
            self.model.init_from = str((base / self.model.init_from).resolve())
