"""Resuming a classification run sees the batches of the interrupted epoch; keep-the-best on ties."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch.utils.data import TensorDataset

from pdelearn.problems.classification import ClassificationProblem, build_network
from pdelearn.recipes import resolve
from pdelearn.train import ParamGroup, Trainer


def _problem():
    r = resolve({"problem": "classification", "data": {"dataset": "digits", "batch_size": 4},
                 "model": {"width": 4, "n_down": 0}, "training": {"epochs": 3, "log_every": 1}})
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 1, 8, 8, generator=g), torch.arange(12)  # training labels 0..11 name the images
    data = SimpleNamespace(train=TensorDataset(x, y), val=None, test=TensorDataset(x, y % 3),
                           info=SimpleNamespace(name="t", num_classes=3, channels=1, image_size=8))
    torch.manual_seed(0)
    p = ClassificationProblem(r, build_network(r, data.info), data, torch.device("cpu"), 7)
    seen: dict[int, list[int]] = {}

    def losses(step, names, batch):
        x, y = batch
        seen.setdefault(step, y.tolist())
        return p.losses(step, names, (x, y % 3))

    return p, losses, seen


def _trainer(p, losses, folder):
    return Trainer(p.groups(), losses, state=p.state(), folder=folder, progress=False, **p.trainer_options())


def test_a_resumed_epoch_sees_the_same_batches_and_ends_bit_for_bit(tmp_path):
    p, losses, seen = _problem()
    _trainer(p, losses, tmp_path / "whole").run()
    assert len(seen) == 9 and seen[0] != seen[3]  # 3 epochs of 3 batches, reshuffled each epoch
    whole = {k: v.clone() for k, v in p.model.state_dict().items()}

    q, losses_q, seen_q = _problem()
    _trainer(q, losses_q, tmp_path / "cut").run(until=4)  # interrupted in the second epoch
    r, losses_r, seen_r = _problem()  # a new process: fresh problem and loader
    t = _trainer(r, losses_r, tmp_path / "cut")
    assert t.resume() == 4
    t.run()
    assert {**seen_q, **seen_r} == seen and sorted(seen_r) == [4, 5, 6, 7, 8]
    for k, v in r.model.state_dict().items():
        assert torch.equal(v, whole[k]), k


def test_keep_the_best_keeps_the_earlier_state_on_ties():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    module = torch.nn.Module()
    module.w = w
    scores = iter([0.5, 0.7, 0.7, 0.6])
    trainer = Trainer([ParamGroup("w", torch.optim.SGD([w], lr=0.1), ["L"])], lambda step, names: {"L": w.sum()},
                      steps=4, state={"m": module}, validate=lambda step: {"acc": next(scores)}, keep_best="acc",
                      progress=False)
    result = trainer.run()
    assert result.best == {"step": 2, "acc": 0.7}  # the tie at step 3 does not replace it
    assert abs(w.item() - 0.8) < 1e-6  # the state after step 2 is restored (step 3 would give 0.7)
