"""Inside a figure's kernel: what the figure notebooks import to judge their claims and draw their figures
(nothing here starts, reads or waits for a kernel; that is :mod:`gclib.companion.run`).

- :mod:`~gclib.companion.kernel.judge` — where a claim is judged: the scorecard, its claims and verdicts
- :mod:`~gclib.companion.kernel.draw` — where a figure is drawn: one style, ``savefig``, the sweep, regime
  and histogram panels

A notebook also runs the parameter check (:func:`gclib.companion.figures.check.check_parameters`) and saves
its per-run tables (:func:`gclib.companion.outputs.save_table`). The code under this folder is part of every
figure's cache key (:mod:`gclib.experiments.cache`, scope "figure"): an edit here reruns figures, never a
training run.
"""
