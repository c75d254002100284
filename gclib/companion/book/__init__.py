"""The book generator (outside every kernel: it reads what the runs left, never computes a number).

- :mod:`gclib.companion.book.runs` — what a run left for the book: one figure folder as a ``FigureRun``
- :mod:`gclib.companion.book.paper` — the committed paper-scale results beside the book's profile
- :mod:`gclib.companion.book.strength` — how strong each verdict is: Page's test, per-block ρ, intervals, Holm
- :mod:`gclib.companion.book.pages` — a figure's page: its executed notebook with the reproduction record
- :mod:`gclib.companion.book.scorecard` — the scorecard page, the landing page's tally, the downloads
- :mod:`gclib.companion.book.index` — the other index pages: gallery, family table, paper times, errors
- :mod:`gclib.companion.book.records` — committed measurement records (benchmarks) as includes
- :mod:`gclib.companion.book.prose` — a result's discussion, its numbers filled from the result's records
- :mod:`gclib.companion.book.forest` — the forest plot of claims, for the scorecard and each figure page
- :mod:`gclib.companion.book.build` — write the generated pages, then ``jupyter-book build -W``
"""
