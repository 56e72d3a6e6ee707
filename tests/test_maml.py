"""The MAML wrapper (edgecloud_agents.maml): inner steps, meta-gradients, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgecloud_agents.maml import MAML, MAMLLearner, learn2learn_available, sgd_step


def _linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(3, 1).double()


def _data(seed: int, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, 3, generator=g, dtype=torch.float64),
        torch.randn(n, 1, generator=g, dtype=torch.float64),
    )


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).mean()


def test_adapt_is_a_hand_computed_sgd_step() -> None:
    net, (x, y), lr = _linear(), _data(1), 0.3
    w, b = net.weight.detach().clone(), net.bias.detach().clone()
    err = x @ w.T + b - y  # (n, 1)
    grad_w = 2.0 * (err * x).mean(dim=0, keepdim=True)
    grad_b = 2.0 * err.mean(dim=0)

    learner = MAML(net, lr=lr).clone()
    learner.adapt(_mse(learner(x), y))
    adapted = learner.adapted_state_dict()

    torch.testing.assert_close(adapted["weight"], w - lr * grad_w, rtol=0, atol=1e-12)
    torch.testing.assert_close(adapted["bias"], b - lr * grad_b, rtol=0, atol=1e-12)
    # The wrapped module is untouched and the learner runs with the adapted parameters.
    torch.testing.assert_close(net.weight.detach(), w)
    torch.testing.assert_close(learner(x), x @ adapted["weight"].T + adapted["bias"])


def test_two_steps_compose() -> None:
    net, (x, y) = _linear(), _data(2)
    learner = MAML(net, lr=0.1).clone()
    learner.adapt(_mse(learner(x), y))
    after_one = learner.adapted_state_dict()
    learner.adapt(_mse(learner(x), y))
    expected = sgd_step(
        {k: v.requires_grad_() for k, v in after_one.items()},
        _mse(x @ after_one["weight"].T + after_one["bias"], y),
        0.1,
    )
    for name, value in learner.adapted_state_dict().items():
        torch.testing.assert_close(value, expected[name].detach(), rtol=0, atol=1e-12)


def _meta_grads(first_order: bool, net: nn.Module, lr: float = 0.2) -> list[torch.Tensor]:
    (xs, ys), (xq, yq) = _data(3), _data(4)
    net.zero_grad()
    learner = MAML(net, lr=lr, first_order=first_order).clone()
    learner.adapt(_mse(learner(xs), ys))
    _mse(learner(xq), yq).backward()
    return [p.grad.detach().clone() for p in net.parameters()]


def test_second_order_matches_the_closed_form_and_first_order_drops_the_hessian() -> None:
    # For a linear model with MSE the Hessian H of the support loss is 2 X^T X / n (in the
    # augmented input [x, 1]), so the exact meta-gradient is (I - lr H) g_q(theta') while the
    # first-order one is g_q(theta').
    net, lr = _linear(), 0.2
    (xs, _), (xq, yq) = _data(3), _data(4)
    second = torch.cat([g.flatten() for g in _meta_grads(False, net, lr)])
    first = torch.cat([g.flatten() for g in _meta_grads(True, net, lr)])

    learner = MAML(net, lr=lr).clone()
    learner.adapt(_mse(learner(xs), _data(3)[1]))
    adapted = learner.adapted_state_dict()
    aq = torch.cat([xq, torch.ones(len(xq), 1, dtype=xq.dtype)], dim=1)
    theta = torch.cat([adapted["weight"].flatten(), adapted["bias"]])
    g_query = 2.0 * aq.T @ (aq @ theta - yq.flatten()) / len(xq)
    a_s = torch.cat([xs, torch.ones(len(xs), 1, dtype=xs.dtype)], dim=1)
    hessian = 2.0 * a_s.T @ a_s / len(xs)

    torch.testing.assert_close(first, g_query, rtol=0, atol=1e-10)
    torch.testing.assert_close(second, (torch.eye(4, dtype=xs.dtype) - lr * hessian) @ g_query)
    assert (second - first).abs().max() > 1e-3


def test_first_and_second_order_agree_when_the_inner_loss_is_linear() -> None:
    # A support loss linear in the parameters has zero Hessian: both orders coincide.
    net = _linear()
    (xs, _), (xq, yq) = _data(5), _data(6)
    grads = {}
    for first_order in (False, True):
        net.zero_grad()
        learner = MAML(net, lr=0.5, first_order=first_order).clone()
        learner.adapt(learner(xs).sum())
        _mse(learner(xq), yq).backward()
        grads[first_order] = [p.grad.clone() for p in net.parameters()]
    for a, b in zip(grads[False], grads[True], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_meta_training_lowers_the_post_adaptation_loss() -> None:
    # Toy family: y = a * sin(x + phase) with a task-specific amplitude and phase.
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    maml = MAML(net, lr=0.05)
    opt = torch.optim.Adam(maml.parameters(), lr=3e-3)

    def task(g: torch.Generator) -> tuple[torch.Tensor, ...]:
        amp, phase = 0.5 + 2 * torch.rand(1, generator=g), 3 * torch.rand(1, generator=g)
        x = 6 * torch.rand(20, 1, generator=g) - 3
        y = amp * torch.sin(x + phase)
        return x[:10], y[:10], x[10:], y[10:]

    eval_tasks = [task(torch.Generator().manual_seed(1000 + i)) for i in range(16)]

    def post_adaptation_loss() -> float:
        total = 0.0
        for xs, ys, xq, yq in eval_tasks:
            learner = maml.clone()
            for _ in range(2):
                learner.adapt(_mse(learner(xs), ys))
            total += float(_mse(learner(xq), yq).detach())
        return total / len(eval_tasks)

    before = post_adaptation_loss()
    for _ in range(150):
        opt.zero_grad()
        for _ in range(4):
            xs, ys, xq, yq = task(gen)
            learner = maml.clone()
            for _ in range(2):
                learner.adapt(_mse(learner(xs), ys))
            (_mse(learner(xq), yq) / 4).backward()
        opt.step()
    after = post_adaptation_loss()
    assert after < 0.7 * before, (before, after)


def test_clone_of_an_adapted_learner_continues_from_it() -> None:
    net, (x, y) = _linear(), _data(7)
    learner = MAML(net, lr=0.1).clone()
    learner.adapt(_mse(learner(x), y))
    again = learner.clone()
    assert isinstance(again, MAMLLearner)
    for (na, a), (nb, b) in zip(learner.named_parameters(), again.named_parameters(), strict=True):
        assert na == nb and a is b
    again.adapt(_mse(again(x), y))
    assert not torch.equal(again.adapted_state_dict()["bias"], learner.adapted_state_dict()["bias"])


def test_forward_and_parameters_are_the_modules() -> None:
    net = _linear()
    maml = MAML(net, lr=0.1)
    x = _data(8)[0]
    torch.testing.assert_close(maml(x), net(x))
    assert [id(p) for p in maml.parameters()] == [id(p) for p in net.parameters()]
    assert maml.module is net


def test_frozen_and_unused_parameters() -> None:
    x, y = _data(9)
    # Unused: a loss that reads only layer "a" of a module with two layers.
    first_only = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)}).double()

    def run(learner: MAMLLearner) -> torch.Tensor:
        return torch.func.functional_call(
            first_only["a"], {k[2:]: v for k, v in learner.named_parameters() if k[0] == "a"}, (x,)
        )

    learner = MAML(first_only, lr=0.1).clone()
    with pytest.raises(ValueError, match="allow_unused=True"):
        learner.adapt(_mse(run(learner), y))
    learner = MAML(first_only, lr=0.1, allow_unused=True).clone()
    before_b = dict(learner.named_parameters())["b.weight"]
    learner.adapt(_mse(run(learner), y))
    assert dict(learner.named_parameters())["b.weight"] is before_b

    frozen = _linear()
    frozen.bias.requires_grad_(False)
    learner = MAML(frozen, lr=0.1).clone()
    with pytest.raises(ValueError, match="allow_nograd=True"):
        learner.adapt(_mse(learner(x), y))
    learner = MAML(frozen, lr=0.1, allow_nograd=True).clone()
    learner.adapt(_mse(learner(x), y))
    assert dict(learner.named_parameters())["bias"] is frozen.bias


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": 0.0}, ValueError, "positive"),
        ({"lr": float("nan")}, ValueError, "finite"),
        ({"lr": "0.1"}, TypeError, "positive number"),
        ({"lr": 0.1, "backend": "jax"}, ValueError, "backend must be one of"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        MAML(_linear(), **kwargs)


def test_bad_module_and_losses() -> None:
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        MAML(lambda x: x, lr=0.1)  # type: ignore[arg-type]
    net, (x, y) = _linear(), _data(10)
    learner = MAML(net, lr=0.1).clone()
    with pytest.raises(ValueError, match="scalar"):
        learner.adapt((learner(x) - y) ** 2)
    with pytest.raises(ValueError, match="does not require grad"):
        with torch.no_grad():
            loss = _mse(learner(x), y)
        learner.adapt(loss)


@pytest.mark.skipif(learn2learn_available(), reason="learn2learn is importable here")
def test_learn2learn_backend_says_how_to_get_it() -> None:
    with pytest.raises(ImportError, match=r"scripts/build_learn2learn\.sh"):
        MAML(_linear(), lr=0.1, backend="learn2learn")
