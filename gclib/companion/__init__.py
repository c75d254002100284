"""The companion wing: run figures, check claims, build the book (adds matplotlib, seaborn, papermill, Dask,
PyYAML; the book adds jupyter-book).

- :mod:`~gclib.companion.scorecard` — claim records and their verdicts
- :mod:`~gclib.companion.plotting`, :mod:`~gclib.companion.regime_plots` — the figures' style and panels
- :mod:`~gclib.companion.figures` — figures, profiles and parameters of the notebooks
- :mod:`~gclib.companion.runner` — papermill execution, provenance, parallel runs and Dask sweeps
- :mod:`~gclib.companion.cli` — the ``gclib`` command; :mod:`~gclib.companion.errors` its error table
- :mod:`~gclib.companion.format` — the one place numbers, times and tables are formatted for people
- :mod:`~gclib.companion.book` — the generated book pages and the Jupyter Book build

Depends on :mod:`gclib.experiments` and the core; nothing else imports it.
"""
