"""Model-Agnostic Meta-Learning (MAML) with learn2learn's interface, on ``torch.func``.

MAML (Finn, Abbeel and Levine, ICML 2017) learns an initialisation :math:`\\theta` such that a
few gradient steps on a new task's loss give good parameters for that task. One inner step is

.. math:: \\theta' = \\theta - \\alpha \\nabla_\\theta L_{\\text{support}}(\\theta)

and the meta-loss is :math:`L_{\\text{query}}(\\theta')`, differentiated with respect to
:math:`\\theta` *through* the inner step (second order), or treating
:math:`\\nabla_\\theta L_{\\text{support}}` as a constant (first order, "FOMAML").

The interface follows ``learn2learn.algorithms.MAML`` so code written against either runs on
both::

    maml = MAML(net, lr=0.1)                  # wraps net; maml.parameters() are the meta-params
    for task in meta_batch:
        learner = maml.clone()                # shares net's parameters, differentiably
        learner.adapt(loss_fn(learner(x_s), y_s))   # theta' = theta - lr * grad
        loss_fn(learner(x_q), y_q).backward()       # meta-gradient accumulates on net
    meta_optimiser.step()

``backend="torch"`` (the default) needs nothing beyond PyTorch: the adapted parameters live in a
dict and the network runs with :func:`torch.func.functional_call`, so the wrapped module is never
copied or modified. ``backend="learn2learn"`` delegates to ``learn2learn.algorithms.MAML``
(learn2learn 0.2.0; see ``scripts/build_learn2learn.sh``) and exists so the two can be checked
against each other (``tests/test_maml_parity.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

__all__ = ["BACKENDS", "MAML", "MAMLLearner", "learn2learn_available", "sgd_step"]

#: Names accepted by ``MAML(..., backend=...)``.
BACKENDS: tuple[str, ...] = ("torch", "learn2learn")


def _check_lr(lr: Any) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"MAML lr must be a positive number (the inner-loop step), got {lr!r}.")
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"MAML lr must be a positive, finite number, got {lr!r}.")
    return float(lr)


def _load_learn2learn() -> Any:
    """``learn2learn.algorithms.MAML``, or an ImportError that says how to get it."""
    try:
        from learn2learn.algorithms import MAML as L2LMAML
    except Exception as exc:  # torchvision raises RuntimeError, not ImportError, on a bad pair
        raise ImportError(
            "backend='learn2learn' needs learn2learn 0.2.0 importable in this environment, and "
            f"importing it failed ({type(exc).__name__}: {exc}). learn2learn does not install "
            "from PyPI on Python >= 3.11 and imports torchvision: build it into a separate venv "
            "with scripts/build_learn2learn.sh and run there, or use backend='torch' (the "
            "default, same algorithm)."
        ) from exc
    return L2LMAML


def learn2learn_available() -> bool:
    """Whether ``backend="learn2learn"`` can be used in this environment."""
    try:
        _load_learn2learn()
    except ImportError:
        return False
    return True


def sgd_step(
    params: dict[str, torch.Tensor],
    loss: torch.Tensor,
    lr: float,
    *,
    first_order: bool = False,
    allow_unused: bool = False,
    allow_nograd: bool = False,
) -> dict[str, torch.Tensor]:
    """One differentiable SGD step: ``{name: p - lr * dloss/dp}``.

    Args:
        params: Named tensors the loss depends on.
        loss: A scalar computed from ``params``.
        lr: Step size.
        first_order: If True, the gradient is computed without a graph (detached), so the result
            depends on ``params`` only through the identity: first-order MAML.
        allow_unused: Keep parameters that ``loss`` does not depend on unchanged instead of
            raising.
        allow_nograd: Keep parameters with ``requires_grad=False`` unchanged instead of raising.

    Returns:
        New dict with the same keys; parameters that were not stepped are the same tensors.
    """
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"adapt(loss): loss must be a scalar tensor, got {shape}.")
    if not loss.requires_grad:
        raise ValueError(
            "adapt(loss): loss does not require grad; compute it from the learner's output "
            "(learner(x)), not from the wrapped module or under torch.no_grad()."
        )
    names = [n for n, p in params.items() if p.requires_grad]
    frozen = [n for n, p in params.items() if not p.requires_grad]
    if frozen and not allow_nograd:
        raise ValueError(
            f"adapt(loss): parameters {frozen} have requires_grad=False; pass allow_nograd=True "
            "to keep them fixed during adaptation."
        )
    grads = torch.autograd.grad(
        loss,
        [params[n] for n in names],
        create_graph=not first_order,
        retain_graph=not first_order,
        allow_unused=True,
    )
    unused = [n for n, g in zip(names, grads, strict=True) if g is None]
    if unused and not allow_unused:
        raise ValueError(
            f"adapt(loss): the loss does not depend on parameters {unused}; pass "
            "allow_unused=True to keep them unchanged."
        )
    new = dict(params)
    for name, grad in zip(names, grads, strict=True):
        if grad is not None:
            new[name] = params[name] - lr * grad
    return new


class MAMLLearner:
    """A task-specific copy of a :class:`MAML` model: the meta-parameters after zero or more
    differentiable :meth:`adapt` steps.

    Calling the learner runs the wrapped module with the adapted parameters through
    :func:`torch.func.functional_call`; gradients of anything computed from it flow back to the
    meta-parameters (through the inner steps, unless first order).
    """

    def __init__(
        self,
        module: nn.Module,
        params: dict[str, torch.Tensor],
        lr: float,
        first_order: bool,
        allow_unused: bool,
        allow_nograd: bool,
    ) -> None:
        self.module = module
        self.lr = lr
        self.first_order = first_order
        self.allow_unused = allow_unused
        self.allow_nograd = allow_nograd
        self._params = params

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped module with the adapted parameters."""
        return functional_call(self.module, self._params, args, kwargs)

    forward = __call__

    def adapt(
        self,
        loss: torch.Tensor,
        first_order: bool | None = None,
        allow_unused: bool | None = None,
        allow_nograd: bool | None = None,
    ) -> None:
        """Take one SGD step of size ``lr`` on ``loss``, in place (learn2learn's semantics).

        Arguments left None take the values given to :class:`MAML`.
        """
        self._params = sgd_step(
            self._params,
            loss,
            self.lr,
            first_order=self.first_order if first_order is None else first_order,
            allow_unused=self.allow_unused if allow_unused is None else allow_unused,
            allow_nograd=self.allow_nograd if allow_nograd is None else allow_nograd,
        )

    def clone(self, first_order: bool | None = None) -> MAMLLearner:
        """A further learner starting from this one's current (adapted) parameters."""
        return MAMLLearner(
            self.module,
            dict(self._params),
            self.lr,
            self.first_order if first_order is None else first_order,
            self.allow_unused,
            self.allow_nograd,
        )

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, tensor) of the adapted parameters, in the wrapped module's order."""
        return iter(self._params.items())

    def parameters(self) -> Iterator[torch.Tensor]:
        """The adapted parameters, in the wrapped module's order."""
        return iter(self._params.values())

    def adapted_state_dict(self) -> dict[str, torch.Tensor]:
        """Detached copies of the adapted parameters, loadable with ``load_state_dict``."""
        return {n: p.detach().clone() for n, p in self._params.items()}


class MAML(nn.Module):
    """Wrap ``module`` for MAML; its parameters are the meta-parameters.

    Args:
        module: The network to meta-learn. It is wrapped, not copied: ``maml.module is module``.
        lr: Inner-loop (adaptation) step size.
        first_order: Use the first-order approximation (no gradient through the inner
            gradients); cheaper, usually a little worse.
        allow_unused: Let :meth:`MAMLLearner.adapt` keep parameters the loss does not use.
        allow_nograd: Let :meth:`MAMLLearner.adapt` keep ``requires_grad=False`` parameters fixed.
        backend: ``"torch"`` (default, :func:`torch.func.functional_call`) or ``"learn2learn"``
            (``learn2learn.algorithms.MAML``, for checking the two against each other).

    Raises:
        ImportError: ``backend="learn2learn"`` and learn2learn cannot be imported.
    """

    def __init__(
        self,
        module: nn.Module,
        lr: float,
        first_order: bool = False,
        allow_unused: bool = False,
        allow_nograd: bool = False,
        backend: str = "torch",
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"MAML wraps a torch.nn.Module, got {type(module).__name__}.")
        if backend not in BACKENDS:
            raise ValueError(f"MAML backend must be one of {BACKENDS}, got {backend!r}.")
        self.module = module
        self.lr = _check_lr(lr)
        self.first_order = bool(first_order)
        self.allow_unused = bool(allow_unused)
        self.allow_nograd = bool(allow_nograd)
        self.backend = backend
        self._l2l: Any = None
        if backend == "learn2learn":
            # A plain attribute, not a submodule: the meta-parameters are module's either way.
            object.__setattr__(
                self,
                "_l2l",
                _load_learn2learn()(
                    module,
                    lr=self.lr,
                    first_order=self.first_order,
                    allow_unused=self.allow_unused,
                    allow_nograd=self.allow_nograd,
                ),
            )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped module with the meta-parameters."""
        return self.module(*args, **kwargs)

    def clone(self, first_order: bool | None = None) -> Any:
        """A learner for one task, starting at the meta-parameters.

        With ``backend="torch"`` a :class:`MAMLLearner`; with ``"learn2learn"`` learn2learn's
        own clone. Both have ``adapt(loss)``, ``parameters()`` and are called like the module.
        """
        fo = self.first_order if first_order is None else bool(first_order)
        if self._l2l is not None:
            return self._l2l.clone(first_order=fo)
        return MAMLLearner(
            self.module,
            dict(self.module.named_parameters()),
            self.lr,
            fo,
            self.allow_unused,
            self.allow_nograd,
        )

    def extra_repr(self) -> str:
        return f"lr={self.lr}, first_order={self.first_order}, backend={self.backend!r}"
