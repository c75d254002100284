"""The companion wing: run figures, judge their claims, build the book (adds matplotlib, seaborn, papermill,
Dask, PyYAML; the book adds jupyter-book). Depends on :mod:`gclib.experiments` and the core; nothing else
imports it.

Its rooms, from the ground floor up (every import runs down a floor, never up; ``tests/test_package.py``
checks it):

- leaves — :mod:`~gclib.companion.errors` (every exception and the error table),
  :mod:`~gclib.companion.format` (numbers, times, tables for people), :mod:`~gclib.companion.locations`
  (where things are), :mod:`~gclib.companion.outputs` (a figure's output folder, saved tables, atomic JSON)
- :mod:`~gclib.companion.figures` — the catalogue of figures and the one path of their parameters; where a
  parameter is checked
- :mod:`~gclib.companion.kernel` — **inside** a figure's kernel: :mod:`~gclib.companion.kernel.judge`
  (where a claim is judged) and :mod:`~gclib.companion.kernel.draw` (where a figure is drawn)
- :mod:`~gclib.companion.run` — **outside**, driving kernels: the runner, rejudging, Dask, the committed
  results
- :mod:`~gclib.companion.book` — the book generator (outside: reads what runs left)
- :mod:`~gclib.companion.cli` — the ``gclib`` command

The module names of release 0.2 (``gclib.companion.plotting``, ``scorecard``, ``params``, ``runner``, …)
still import, with one ``DeprecationWarning``: :mod:`gclib.companion.aliases`.
"""
from gclib.companion import aliases

aliases.install()
