"""``python -m gclib`` = the ``gclib`` command."""

from gclib.companion.cli import main

if __name__ == "__main__":  # guard: Dask's spawned workers re-import the main module
    raise SystemExit(main())
