"""The experiments wing: what the figure notebooks train and sample with (adds pandas, scikit-learn, mlxtend).

- :mod:`~gclib.experiments.models`, :mod:`~gclib.experiments.data` — networks and offline datasets
- :mod:`~gclib.experiments.regularizers`, :mod:`~gclib.experiments.train` — one training loop, its
  regularizers, configs and the cached grid runner
- :mod:`~gclib.experiments.readings` — reading runs: final rows, values at a loss, crossings, regimes
- :mod:`~gclib.experiments.init_loss`, :mod:`~gclib.experiments.double_descent` — init-loss dominance
  sweeps (Teague 2022) and the double-descent link
- :mod:`~gclib.experiments.dirichlet_1d` — one-dimensional interpolation (G9)
- :mod:`~gclib.experiments.cache` — the one cache key (what edits invalidate what) and the run cache
- :mod:`~gclib.experiments.calibration` — the protocol-v2 calibration records

Depends on the core (:mod:`gclib`) only; never on :mod:`gclib.companion`.
"""
