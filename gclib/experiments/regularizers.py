"""Composable regularizers for ``gclib.experiments.train``: explicit penalties add ``strength · penalty`` to
the minibatch loss (L2, spectral norm, loss-gradient flatness, explicit GC, Gauss–Newton); data transforms
perturb each minibatch afresh every step (label noise, input noise) [paper: G2–G5; protocol v2: G4].

Each regularizer gets its own random stream from the run's seed (``derive_generator(seed, "reg", name,
k)``), so adding one never shifts another's draws.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gclib import complexity, curvature
from gclib.experiments import data
from gclib.validate import check_choice, check_optional_positive_int, check_positive_int, check_real

__all__ = ["Regularizer", "L2", "SpectralNorm", "Flatness", "GCPenalty", "GaussNewton", "LabelNoise",
           "InputNoise", "make_regularizers"]


def _weights(model: nn.Module) -> list[torch.Tensor]:
    """Weight tensors of the weight-bearing layers (``complexity.layer_weights``), biases excluded."""
    return [layer.weight for layer in complexity.layer_weights(model)]


class Regularizer:
    """Protocol. Penalties define ``penalty`` (raw value; ``loss_term = strength · penalty``); data
    transforms define ``transform(xb, yb, generator) -> (xb, yb)``. ``setup`` resets per-run state."""

    name, strength, is_penalty, _generator = "regularizer", 0.0, False, None

    def __init__(self, strength: float = 0.0):
        self.strength = check_real("strength", strength, low=0.0)

    def setup(self, model: nn.Module, dataset, generator: torch.Generator) -> None:
        """Reset per-run state; ``generator`` is this regularizer's own stream."""
        self._generator = generator

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not a penalty")

    def loss_term(self, model, xb, yb, loss_fn, *, data_loss=None) -> torch.Tensor:
        """``strength · penalty(...)``, a differentiable scalar added to the minibatch loss."""
        return self.strength * self.penalty(model, xb, yb, loss_fn, data_loss=data_loss)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class L2(Regularizer):
    """Explicit parameter-norm penalty ``strength · Σ_l ‖W_l‖_F²`` over layer weights [paper: G2].

    Biases (and normalisation parameters) are excluded. This is a loss term, not the optimizer's
    ``weight_decay`` (the two differ for Adam and momentum).
    """

    name, is_penalty = "l2", True

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        return sum(w.pow(2).sum() for w in _weights(model))


class SpectralNorm(Regularizer):
    """Spectral penalty ``strength · Σ_l σ_max(W_l)²`` by power iteration [paper: G3; Miyato et al. 2018].

    ``n_iter`` power iterations per call with persistent vectors u_l, v_l (kept across steps, reset by
    ``setup``); the gradient flows through σ = uᵀ W v with u, v detached, which is the exact gradient
    ``2σ u vᵀ`` of σ_max² once the iteration has converged. Conv kernels are reshaped to
    ``(out, in·kh·kw)`` matrices (Miyato's convention [ours], not the conv operator norm).
    """

    name, is_penalty = "spectral", True

    def __init__(self, strength: float, n_iter: int = 1):
        super().__init__(strength)
        self.n_iter = check_positive_int("n_iter", n_iter)
        self._uv = None

    def setup(self, model, dataset, generator):
        super().setup(model, dataset, generator)
        self._uv = None

    def sigmas(self, model: nn.Module) -> list[torch.Tensor]:
        """Run ``n_iter`` power iterations and return the differentiable estimates σ_l = u_lᵀ W_l v_l."""
        mats = [w.reshape(w.shape[0], -1) for w in _weights(model)]
        if self._uv is None or len(self._uv) != len(mats):
            gen = self._generator or torch.Generator().manual_seed(0)
            self._uv = [[F.normalize(torch.randn(m.shape[0], generator=gen, device=gen.device)
                                     .to(m.device, m.dtype), dim=0), None] for m in mats]
        with torch.no_grad():
            for uv, m in zip(self._uv, mats):
                for _ in range(self.n_iter):
                    uv[1] = F.normalize(m.t() @ uv[0], dim=0)
                    uv[0] = F.normalize(m @ uv[1], dim=0)
        return [u @ m @ v for (u, v), m in zip(self._uv, mats)]

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        return sum(s.pow(2) for s in self.sigmas(model))


class Flatness(Regularizer):
    """Flatness penalty ``strength · ‖∇_θ L_B(θ)‖²`` by double backprop [paper: G4].

    L_B is the minibatch data loss (no other penalties); θ = all trainable parameters. Costs about two
    extra backward passes. ``data_loss`` (the already computed L_B with its graph) avoids a second forward.
    """

    name, is_penalty = "flatness", True

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        loss = loss_fn(model(xb), yb) if data_loss is None else data_loss
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params, create_graph=True)
        return sum(g.pow(2).sum() for g in grads)


class GCPenalty(Regularizer):
    """Explicit geometric-complexity penalty ``strength · GC(f_θ, batch)`` via ``complexity.gc_penalty``
    (Hutchinson probes from this regularizer's stream, or exact) [paper: explicit GC regularization]."""

    name, is_penalty = "gc", True

    def __init__(self, strength: float, method: str = "hutchinson", n_probes: int = 1):
        super().__init__(strength)
        self.method = check_choice("method", method, ("exact", "hutchinson"))
        self.n_probes = check_positive_int("n_probes", n_probes)

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        kw = {"generator": self._generator} if self.method == "hutchinson" else {}
        return complexity.gc_penalty(model, xb, method=self.method, n_probes=self.n_probes, **kw)


class GaussNewton(Regularizer):
    """Gauss–Newton flatness penalty ``strength · (1/B) Σ_i ‖∇_θ f(x_i)‖_F²`` on the minibatch logits
    [protocol v2 of G4: the flatness term of the transfer bound GC ≤ ‖W₁‖_op² · mean_x ‖∇_θ f‖² / ‖x‖²],
    by ``n_probes`` Rademacher probes from this regularizer's stream (``curvature.gn_penalty``: unbiased,
    differentiable by double backprop; unlike ``Flatness`` it does not vanish as the loss is fitted)."""

    name, is_penalty = "gauss_newton", True

    def __init__(self, strength: float, n_probes: int = 1):
        super().__init__(strength)
        self.n_probes = check_positive_int("n_probes", n_probes)

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        return curvature.gn_penalty(model, xb, n_probes=self.n_probes, generator=self._generator)


class LabelNoise(Regularizer):
    """SGD label noise [paper: G5]: each label of the minibatch is, with probability ``p``, replaced by a
    uniformly drawn *different* class (``data.add_label_noise``), afresh every step."""

    name = "label_noise"

    def __init__(self, p: float, n_classes: int | None = None):
        self.p = check_real("p", p, low=0.0, high=1.0)
        self.n_classes = check_optional_positive_int("n_classes", n_classes)
        if n_classes == 1:
            raise ValueError("n_classes must be >= 2 for label noise (or None: taken from the dataset)")

    def setup(self, model, dataset, generator):
        super().setup(model, dataset, generator)
        if self.n_classes is None:
            if dataset.n_classes < 2:
                raise ValueError(f"LabelNoise needs a classification dataset, {dataset.name!r} has "
                                 f"n_classes={dataset.n_classes}")
            self.n_classes = dataset.n_classes

    def transform(self, xb, yb, generator):
        return xb, data.add_label_noise(yb, self.p, self.n_classes, generator=generator)[0]


class InputNoise(Regularizer):
    """Gaussian input noise ``x + σ ε``, ε ~ N(0, I) afresh every step; with MSE it adds
    ``σ² ‖∇_x f‖_F²`` to the expected loss (Bishop 1995) — an implicit GC penalty [ours]."""

    name = "input_noise"

    def __init__(self, sigma: float):
        self.sigma = check_real("sigma", sigma, low=0.0)

    def transform(self, xb, yb, generator):
        eps = torch.randn(xb.shape, generator=generator, device=generator.device).to(xb.device, xb.dtype)
        return xb + self.sigma * eps, yb


def make_regularizers(l2=0.0, spectral=0.0, flatness=0.0, gc=0.0, label_noise=0.0, input_noise=0.0,
                      gauss_newton=0.0, *, spectral_iters: int = 1, gc_method: str = "hutchinson",
                      gc_probes: int = 1, gn_probes: int = 1) -> list:
    """The regularizers with a non-zero strength (zeros skipped), in this fixed order."""
    makers = {"l2": L2, "spectral": lambda s: SpectralNorm(s, spectral_iters), "flatness": Flatness,
              "gc": lambda s: GCPenalty(s, gc_method, gc_probes), "label_noise": LabelNoise,
              "input_noise": InputNoise, "gauss_newton": lambda s: GaussNewton(s, gn_probes)}
    values = dict(zip(makers, (l2, spectral, flatness, gc, label_noise, input_noise, gauss_newton)))
    for n, v in values.items():
        check_real(n, v, low=0.0, high=1.0 if n == "label_noise" else None)
    return [makers[n](v) for n, v in values.items() if v != 0]
