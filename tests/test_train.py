"""The alternating trainer: schedules, NaN detection, checkpoints, resume, metrics, balancing."""

from __future__ import annotations

import json

import pytest
import torch

from pdelearn.errors import ConfigError, TrainingError
from pdelearn.train import CHECKPOINT, METRICS, ParamGroup, Trainer, load_checkpoint


class Toy(torch.nn.Module):
    """A tiny regression with fresh random data each step (uses the global torch RNG)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
        for p in self.net.parameters():
            p.data = torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5
        self.scale = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))

    def losses(self, step, names):
        x = torch.rand(32, 1, dtype=torch.float64)
        fit = ((self.net(x) * self.scale - torch.sin(3 * x)) ** 2).mean()
        return {"L_fit": fit, "R": self.scale.abs()}


def make(folder=None, steps=12, **kw):
    torch.manual_seed(1)
    toy = Toy()
    adam = torch.optim.Adam(toy.net.parameters(), lr=1e-2)
    groups = [
        ParamGroup("net", adam, ["L_fit"], start=0, stop=8,
                   scheduler=torch.optim.lr_scheduler.ExponentialLR(adam, 0.9)),
        ParamGroup("net_lbfgs", torch.optim.LBFGS(toy.net.parameters(), max_iter=3, line_search_fn="strong_wolfe"),
                   ["L_fit"], start=8),
        ParamGroup("scale", torch.optim.SGD([toy.scale], lr=1e-2), ["L_fit", "R"], weights={"R": 1e-3}, every=3),
    ]
    return toy, Trainer(groups, toy.losses, steps=steps, state={"toy": toy}, folder=folder, log_every=2,
                        checkpoint_every=4, **kw)


def flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def test_groups_follow_their_schedule():
    calls = []
    w = torch.nn.Parameter(torch.zeros(()))
    v = torch.nn.Parameter(torch.zeros(()))

    def loss_fn(step, names):
        calls.append((step, tuple(sorted(names))))
        return {"A": (w - 1) ** 2, "B": (v + 1) ** 2}

    groups = [ParamGroup("a", torch.optim.SGD([w], lr=0.1), ["A"], start=2, stop=5),
              ParamGroup("b", torch.optim.SGD([v], lr=0.1), ["B"], every=3)]
    Trainer(groups, loss_fn, steps=7).run()
    assert calls == [(0, ("B",)), (2, ("A",)), (3, ("A",)), (3, ("B",)), (4, ("A",)), (6, ("B",))]


def test_resume_continues_bit_for_bit(tmp_path):
    toy_a, trainer_a = make(tmp_path / "a")
    (tmp_path / "a").mkdir()
    trainer_a.run()
    (tmp_path / "b").mkdir()
    toy_b, trainer_b = make(tmp_path / "b")
    trainer_b.run(until=6)
    torch.manual_seed(123)  # a fresh process would start from another RNG state
    toy_c, trainer_c = make(tmp_path / "b")
    assert trainer_c.resume() == 6
    result = trainer_c.run()
    assert result.step == 12
    assert torch.equal(flat(toy_a), flat(toy_c))
    lines_a = [json.loads(x) for x in (tmp_path / "a" / METRICS).read_text().splitlines()]
    lines_c = [json.loads(x) for x in (tmp_path / "b" / METRICS).read_text().splitlines()]
    assert [x["losses"] for x in lines_a] == [x["losses"] for x in lines_c]
    assert [x["step"] for x in lines_c] == [2, 4, 6, 8, 10, 12]


def test_metrics_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    _, trainer = make(tmp_path, steps=12)
    trainer.run(until=7)  # checkpoint at 4, then a final one at 7; metrics at 2, 4, 6, 7
    data = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert data["step"] == 7
    _, again = make(tmp_path, steps=12)
    again.resume()
    steps = [json.loads(x)["step"] for x in (tmp_path / METRICS).read_text().splitlines()]
    assert steps == [2, 4, 6, 7]


def test_checkpoint_loads_with_weights_only(tmp_path):
    _, trainer = make(tmp_path)
    trainer.run()
    data = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert data["step"] == 12 and set(data["optimizers"]) == {"net", "net_lbfgs", "scale"}
    assert "net.0.weight" in data["state"]["toy"] and "torch" in data["rng"]
    assert not list(tmp_path.glob(".*tmp"))


def test_nan_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    w = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    module = torch.nn.Module()
    module.w = w

    def loss_fn(step, names):
        bad = float("nan") if step >= 5 else 0.0
        return {"L_G": (w**2).sum() + bad}

    trainer = Trainer([ParamGroup("g", torch.optim.SGD([w], lr=0.1), ["L_G"])], loss_fn, steps=10,
                      state={"m": module}, folder=tmp_path, checkpoint_every=2, log_every=1)
    with pytest.raises(TrainingError) as info:
        trainer.run()
    msg = str(info.value)
    assert "loss L_G became nan at step 5" in msg and str(tmp_path) in msg
    data = load_checkpoint(tmp_path / CHECKPOINT)
    assert data["step"] == 4
    assert torch.isfinite(data["state"]["m"]["w"]).all()


def test_nan_in_parameters_is_not_checkpointed(tmp_path):
    w = torch.nn.Parameter(torch.ones(1))
    module = torch.nn.Module()
    module.w = w

    def loss_fn(step, names):
        return {"L": w.sum()}

    trainer = Trainer([ParamGroup("g", torch.optim.SGD([w], lr=float("inf")), ["L"])], loss_fn, steps=5,
                      state={"m": module}, folder=tmp_path, checkpoint_every=1)
    with pytest.raises(TrainingError, match="parameter m.w became non-finite at step 1.*none was kept"):
        trainer.run()
    assert not (tmp_path / CHECKPOINT).exists()  # no good checkpoint existed: nothing is written


def test_no_checkpoint_before_the_first_completed_step(tmp_path):
    w = torch.nn.Parameter(torch.ones(1))
    module = torch.nn.Module()
    module.w = w
    trainer = Trainer([ParamGroup("g", torch.optim.SGD([w], lr=0.1), ["L"])], lambda step, names: {"L": w.sum() / 0},
                      steps=3, state={"m": module}, folder=tmp_path)
    with pytest.raises(TrainingError, match="became inf at step 0; no good checkpoint existed yet"):
        trainer.run()
    assert not list(tmp_path.iterdir())


def test_a_checkpoint_whose_state_gives_a_non_finite_loss_is_not_kept(tmp_path):
    w = torch.nn.Parameter(torch.ones(1))
    module = torch.nn.Module()
    module.w = w
    # a huge step: the state after step 0 is finite, but its loss overflows at step 1
    trainer = Trainer([ParamGroup("g", torch.optim.SGD([w], lr=1e30), ["L"])], lambda step, names: {"L": (w ** 2).sum()},
                      steps=5, state={"m": module}, folder=tmp_path, checkpoint_every=1)
    with pytest.raises(TrainingError, match="became inf at step 1; no good checkpoint existed yet"):
        trainer.run()
    assert not (tmp_path / CHECKPOINT).exists()


def test_checkpoints_carry_meta_and_a_mismatched_state_is_a_config_error(tmp_path):
    def build(width):
        net = torch.nn.Linear(2, width)
        g = ParamGroup("g", torch.optim.Adam(net.parameters(), lr=1e-3), ["L"])
        return Trainer([g], lambda step, names: {"L": net(torch.ones(1, 2)).square().sum()}, steps=2,
                       state={"net": net}, folder=tmp_path, meta={"recipe": {"model": {"width": width}}})

    build(3).run()
    assert load_checkpoint(tmp_path / CHECKPOINT)["meta"] == {"recipe": {"model": {"width": 3}}}
    with pytest.raises(ConfigError, match=r"the checkpoint in .* does not fit .*size mismatch"):
        build(4).resume()


def test_gradnorm_balances_weights():
    a = torch.nn.Parameter(torch.ones(()))

    def loss_fn(step, names):
        return {"big": 100 * a**2, "small": a**2}

    g = ParamGroup("g", torch.optim.SGD([a], lr=1e-4), ["big", "small"], balance="gradnorm", balance_every=1,
                   balance_alpha=0.0)
    Trainer([g], loss_fn, steps=1).run()
    assert g.balance_weights["small"] == pytest.approx(100 * g.balance_weights["big"])


def test_max_minutes_stops_and_saves(tmp_path):
    _, trainer = make(tmp_path, steps=1000, max_minutes=1e-9)
    result = trainer.run()
    assert result.stopped == "max_minutes" and result.step == 1
    assert load_checkpoint(tmp_path / CHECKPOINT)["step"] == 1


def test_bad_configuration():
    w = torch.nn.Parameter(torch.zeros(()))
    with pytest.raises(ConfigError, match="minimises no loss"):
        ParamGroup("g", torch.optim.SGD([w], lr=1), [])
    g = ParamGroup("g", torch.optim.SGD([w], lr=1), ["A"])
    with pytest.raises(ConfigError, match="unique names"):
        Trainer([g, g], lambda s, n: {}, steps=1)
    with pytest.raises(ConfigError, match=r"needs the losses \['A'\]"):
        Trainer([g], lambda s, n: {"B": w}, steps=1).run()


def test_resume_rejects_foreign_checkpoints(tmp_path):
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / CHECKPOINT)
    with pytest.raises(TrainingError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
