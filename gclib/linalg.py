"""Symmetric eigen-solvers on matrix-free operators: the top eigenpair by Lanczos or power iteration.

Used for the conv operator norms of the spectral bound (``gclib.complexity``) and for the sharpness of the
training loss (``gclib.curvature``). [ours: implementation of textbook methods; Golub & Van Loan ch. 10]
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gclib.validate import check_choice, check_positive_int, check_real

__all__ = ["EIGEN_METHODS", "Eigenpair", "top_eigenpair"]

EIGEN_METHODS = ("lanczos", "power")


@dataclass(frozen=True)
class Eigenpair:
    """Largest (algebraic) eigenvalue estimate, its unit vector, the operator applications used, whether the
    relative residual ‖Mv − λv‖ ≤ tol·abs(λ) was reached, and that residual (relative)."""

    value: float
    vector: torch.Tensor
    n_iter: int
    converged: bool
    residual: float


def top_eigenpair(matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, *, n_iter: int = 20,
                  tol: float = 1e-3, method: str = "lanczos") -> Eigenpair:
    """Top eigenpair of a symmetric operator ``matvec`` (1-D tensor → 1-D tensor) from the start ``v0``.

    lanczos: Krylov steps with full reorthogonalization (twice, Kahan–Parlett); after step j the top Ritz
        pair (θ, y) of the tridiagonal T_j has residual ‖My − θy‖ = β_j·abs(s_j) (s_j: last entry of T_j's
        eigenvector), so no extra product is needed to test convergence. The Krylov space contains the
        power iterate, so it converges at least as fast, and to the largest *algebraic* eigenvalue.
    power: v ← Mv/‖Mv‖, λ = vᵀMv; converges to the eigenvalue of largest magnitude (for a Hessian with
        abs(λ_min) > λ_max that is the negative one: prefer lanczos).

    Stops after ``n_iter`` products or when the relative residual ≤ ``tol`` (``tol=0``: all ``n_iter``).
    A warm start (``v0`` = a previous ``vector``) converges in a few products when the operator moved
    little. Works in ``v0``'s dtype and device. A product that is not finite (the parameters of a diverged
    run) ends the iteration with eigenvalue NaN, not converged: there is no eigenpair to report.
    """
    check_positive_int("n_iter", n_iter)
    check_real("tol", tol, low=0.0)
    check_choice("method", method, EIGEN_METHODS)
    if not isinstance(v0, torch.Tensor) or v0.dim() != 1 or not v0.is_floating_point():
        raise TypeError("v0 must be a 1-D floating tensor")
    norm = torch.linalg.vector_norm(v0)
    if not bool(torch.isfinite(norm)) or float(norm) == 0.0:
        raise ValueError("v0 must be finite and non-zero")
    q = v0 / norm
    return (_lanczos if method == "lanczos" else _power)(matvec, q, n_iter, tol)


def _power(matvec, v, n_iter, tol) -> Eigenpair:
    lam, resid = 0.0, math.inf
    for i in range(1, n_iter + 1):
        w = matvec(v)
        lam = float(torch.dot(w, v))
        if not math.isfinite(lam):  # a diverged operator: no eigenpair
            return Eigenpair(math.nan, v, i, False, math.inf)
        resid = float(torch.linalg.vector_norm(w - lam * v)) / max(abs(lam), 1e-300)
        if resid <= tol:
            return Eigenpair(lam, v, i, True, resid)
        norm = torch.linalg.vector_norm(w)
        if float(norm) == 0.0:  # M v = 0: v is an eigenvector with eigenvalue 0
            return Eigenpair(0.0, v, i, True, 0.0)
        v = w / norm
    return Eigenpair(lam, v, n_iter, False, resid)


def _lanczos(matvec, q, n_iter, tol) -> Eigenpair:
    dim = q.numel()
    steps = min(n_iter, dim)
    basis = torch.empty(steps, dim, dtype=q.dtype, device=q.device)  # row j is written before it is read
    alphas, betas = [], []
    theta, s, resid = 0.0, np.ones(1), math.inf
    for j in range(steps):
        basis[j] = q
        w = matvec(q)
        alphas.append(float(torch.dot(w, q)))
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(torch.linalg.vector_norm(w))
        if not (math.isfinite(alphas[-1]) and math.isfinite(beta)):  # a diverged operator: no eigenpair
            return Eigenpair(math.nan, q, j + 1, False, math.inf)
        t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        evals, evecs = np.linalg.eigh(t)
        theta, s = float(evals[-1]), evecs[:, -1]
        resid = beta * abs(s[-1]) / max(abs(theta), 1e-300)
        invariant = beta <= 1e-12 * max(abs(alphas[0]), 1e-300)  # Krylov space exhausted: exact
        if resid <= tol or invariant or j == steps - 1:
            resid = 0.0 if invariant else resid
            break
        betas.append(beta)
        q = w / beta
    k = len(alphas)
    vec = torch.as_tensor(s, dtype=basis.dtype, device=basis.device) @ basis[:k]
    vec = vec / torch.linalg.vector_norm(vec)
    return Eigenpair(theta, vec, k, resid <= tol, resid)
