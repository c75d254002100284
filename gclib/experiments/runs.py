"""Runs described by a config: ``run_config`` builds data, model and regularizers from a dict of
``DEFAULT_CONFIG`` keys and trains; ``run_grid`` runs a grid of configs × seeds through the run cache
(``gclib.experiments.cache``: what edits invalidate a cached run); ``regularizer_sweep`` is the shared
recipe of the G2, G3 and G5 notebooks. [ours]
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from tqdm import tqdm

from gclib.experiments import cache, data, models
from gclib.experiments.readings import final_rows
from gclib.experiments.regularizers import make_regularizers
from gclib.experiments.train import train
from gclib.validate import check_positive_int, check_sizes

__all__ = ["DEFAULT_CONFIG", "run_config", "run_grid", "config_key", "regularizer_sweep", "CacheWarning"]

CacheWarning = cache.CacheWarning


DEFAULT_CONFIG: dict = {
    # data (gclib.experiments.data.load_dataset); the subset is drawn with data_seed (None: the run's seed)
    "dataset": "digits", "n_train": None, "n_test": None, "pca": None, "standardize": True,
    "data_label_noise": 0.0,  # fixed dataset-level label noise (double descent, G8)
    "data_seed": 0,
    "data_options": {},  # only for dataset "gaussian": d, n_classes (0 = regression), noise
    # model (gclib.experiments.models): "mlp" uses hidden (list of widths) and activation, "cnn"/"resnet"
    # use width
    # (use track_bounds=False for "resnet": BatchNorm and skips void the bounds); init: sampling registry
    "model": "mlp", "hidden": [128, 128], "activation": "relu", "width": 16, "init": "pytorch_default",
    # regularizer strengths (0 = off), see make_regularizers
    "l2": 0.0, "spectral": 0.0, "flatness": 0.0, "gc": 0.0, "label_noise": 0.0, "input_noise": 0.0,
    "gauss_newton": 0.0, "spectral_iters": 1, "gc_penalty_method": "hutchinson", "gc_penalty_probes": 1,
    "gn_penalty_probes": 1,
    # training loop (train)
    "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 64, "steps": 1000, "loss": "cross_entropy",
    "eval_every": 100, "eval_subset": 512, "gc_method": "exact", "device": "cpu", "track_bounds": True,
    "track_gn": False, "gn_probes": 8,  # log the Gauss–Newton trace (gn_trace) with this many probes
    # protocol v2: log-spaced rows, stop at a full-train loss (steps = cap), λ_max of the loss Hessian
    "evals_per_decade": None, "target_loss": None, "min_steps": 0, "track_sharpness": False,
    "sharpness_every": 1, "sharpness_iters": 20, "sharpness_tol": 1e-3,
}
_TRAIN_KEYS = ("optimizer", "lr", "momentum", "batch_size", "steps", "loss", "eval_every", "eval_subset",
               "gc_method", "device", "track_bounds", "track_gn", "gn_probes", "evals_per_decade",
               "target_loss", "min_steps", "track_sharpness", "sharpness_every", "sharpness_iters",
               "sharpness_tol")


def _full_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; valid: {', '.join(DEFAULT_CONFIG)}")
    return {**DEFAULT_CONFIG, **config}


def run_config(config: dict, *, seed: int) -> pd.DataFrame:
    """Build dataset, model and regularizers from ``config`` (keys of ``DEFAULT_CONFIG``; missing keys take
    the defaults, unknown keys raise) and ``train``; a pure function of ``(config, seed)``.

    ``seed`` drives the model initialisation, the minibatch order and the regularizer noise; the dataset
    subset uses ``data_seed`` (default 0: the same data in every seed; None: ``seed``).
    """
    check_positive_int("seed", seed, allow_zero=True)
    c = _full_config(config)
    name, hidden = c["model"], check_sizes("hidden", c["hidden"], min_len=0)
    if not isinstance(c["data_options"], dict):
        raise TypeError(f"data_options must be a dict, got {c['data_options']!r}")
    ds = data.load_dataset(c["dataset"], n_train=c["n_train"], n_test=c["n_test"],
                           seed=seed if c["data_seed"] is None else c["data_seed"], flatten=name == "mlp",
                           standardize=c["standardize"], pca=c["pca"], label_noise=c["data_label_noise"],
                           **c["data_options"])
    n_out = ds.n_classes if ds.n_classes > 0 else int(np.prod(ds.y_train.shape[1:], dtype=int))
    if name == "mlp":
        model = models.MLP([ds.input_dim, *hidden, n_out], activation=c["activation"], init=c["init"],
                           seed=seed)
    else:
        kw = {"image_size": ds.x_train.shape[-1]} if name == "cnn" else {}
        model = models.build_model(name, in_channels=ds.x_train.shape[1], n_classes=n_out, width=c["width"],
                                   init=c["init"], seed=seed, **kw)
    regs = make_regularizers(c["l2"], c["spectral"], c["flatness"], c["gc"], c["label_noise"],
                             c["input_noise"], c["gauss_newton"], spectral_iters=c["spectral_iters"],
                             gc_method=c["gc_penalty_method"], gc_probes=c["gc_penalty_probes"],
                             gn_probes=c["gn_penalty_probes"])
    df = train(model, ds, regularizers=regs, seed=seed, **{key: c[key] for key in _TRAIN_KEYS})
    df.attrs["config"] = {"run_config": c, "seed": seed, "train": df.attrs["config"]}
    return df


def config_key(config: dict, seed: int) -> str:
    """The run cache's key of ``run_config(config, seed=seed)``: the full config (defaults filled in) and the
    seed, under the "training" scope of ``gclib.experiments.cache`` (what edits invalidate it)."""
    return cache.cache_key({"config": _full_config(config), "seed": seed}, "training")


def run_grid(grid: dict, *, base: dict, seeds, cache_dir=None, progress: bool = True) -> pd.DataFrame:
    """``run_config({**base, **point}, seed=s)`` for every grid point (product over ``grid``'s keys, in
    order) and seed, concatenated with the grid keys and ``seed`` as columns (a grid key that is already a
    history column, e.g. ``lr``, keeps the history's value; list values become tuples).

    Each run is cached in ``cache_dir`` (``gclib.experiments.cache.cache_dir``: default env
    ``GCLIB_CACHE_DIR`` or ``~/.cache/gclib/sweeps``) as ``<config_key>.pkl``, written atomically, so a
    rerun loads it and an interrupted grid recomputes only the missing runs; an unreadable entry is
    recomputed with one ``CacheWarning``. A run that raises propagates the error and caches nothing.
    (``gclib sweep``, the companion's papermill grid on Dask, runs whole figures instead.)
    """
    if not isinstance(grid, dict) or not all(isinstance(v, (list, tuple)) and v for v in grid.values()):
        raise TypeError("grid must be a dict mapping config keys to non-empty lists of values")
    _full_config({**base, **{key: None for key in grid}})  # unknown keys raise before any compute
    if isinstance(seeds, int) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise TypeError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    directory = cache.cache_dir(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cells = [(dict(zip(grid, values)), s) for values in itertools.product(*grid.values()) for s in seeds]
    paths = [directory / f"{config_key({**base, **point}, s)}.pkl" for point, s in cells]
    frames = []
    for (point, s), path in tqdm(list(zip(cells, paths)), disable=not progress, desc="runs", leave=False):
        df = cache.load_entry(path, pd.DataFrame)
        if df is None:
            df = run_config({**base, **point}, seed=s)
            if df.attrs.get("interrupted"):
                raise KeyboardInterrupt("grid interrupted; finished runs are cached")
            cache.store_entry(path, df)
        df = df.copy()
        for key, v in {**point, "seed": s}.items():
            if key not in df.columns or key == "seed":
                df[key] = pd.Series([tuple(v) if isinstance(v, list) else v] * len(df), index=df.index)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out.attrs = {"grid": {key: list(v) for key, v in grid.items()}, "base": dict(base), "seeds": list(seeds)}
    return out


def regularizer_sweep(regularizer: str, strengths, *, seeds, progress: bool = False, cache_dir=None,
                      **config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The G2/G3/G5 recipe [ours]: train one run per strength of ``regularizer`` (a ``DEFAULT_CONFIG`` key:
    "l2", "spectral", "label_noise", …) and seed on the base ``config`` (other ``DEFAULT_CONFIG`` keys),
    through :func:`run_grid`. Returns ``(runs, final)``: every logged row, and each run's last row."""
    if regularizer not in DEFAULT_CONFIG:
        raise ValueError(f"unknown regularizer {regularizer!r}; valid: config keys such as l2, spectral, "
                         "flatness, gc, label_noise, input_noise, gauss_newton")
    runs = run_grid({regularizer: list(strengths)}, base=config, seeds=seeds, progress=progress,
                    cache_dir=cache_dir)
    return runs, final_rows(runs, [regularizer, "seed"])
