"""Every exception of the companion wing, and the command line's failures in one table (a leaf: it imports
nothing of the wing). ``gclib run --help`` and the book's pages show ``ERROR_TABLE``, and the tests check
each row against the command. [ours]

- :class:`ParameterError` — bad input (figure, profile, parameter, device, output directory), raised before
  any kernel starts: exit status 2.
- :class:`RunError` — a notebook could not be executed for a reason other than a failing cell (the kernel
  died, an I/O error): exit status 1.
- :class:`BookBuildError` — the book could not be generated or built.
- :class:`~gclib.experiments.cache.CacheWarning` — a cache entry could not be read back and is recomputed
  (defined by the run cache, :mod:`gclib.experiments.cache`, and imported here with the wing's other
  exceptions).
"""
from gclib.experiments.cache import CacheWarning

__all__ = ["ParameterError", "RunError", "BookBuildError", "CacheWarning", "ERROR_TABLE"]


class ParameterError(ValueError):
    """Bad input (figure, profile, parameter, device, output directory), raised before any notebook starts."""


class RunError(RuntimeError):
    """A notebook could not be executed for a reason other than a failing cell (kernel died, I/O error)."""


class BookBuildError(RuntimeError):
    """The book could not be generated or built; the message ends with the tail of the build log."""


ERROR_TABLE = """\
| Case | Example | Exit | Message on stderr (one line) |
|---|---|---|---|
| Unknown figure | `run gc_foo` | 2 | `unknown figure 'gc_foo'; valid: …` |
| Unknown profile | `run gc_l2 --profile big` | 2 | `argument --profile: invalid choice: 'big' …` |
| Unknown parameter | `run gc_l2 -p stepz 10` | 2 | `unknown parameter 'stepz' for gc_l2; valid: …` |
| Wrong type | `run gc_l2 -p steps ten` | 2 | `parameter 'steps' of gc_l2 expects int (default …), got …` |
| Value out of range | `run gc_l2 -p n_train 0`, `-p l2 "[0, 0.01, 0.01]"`, `-p dataset cifar10`, a sweep value | 2 | `parameter 'n_train' of gc_l2 must be an integer >= 1, got 0` (ranges: profiles.yaml, `gclib params`) |
| Unwritable `--out` | `run gc_l2 --out /proc/x` | 2 | `cannot write to output directory '/proc/x/gc_l2': …` |
| No CUDA | `run gc_l2 --device cuda` | 2 | `device 'cuda' requested but torch.cuda.is_available() is False` |
| A cell raises | a bug, or a bad value | 1 | `gc_l2 failed: cell 7 (In [5]) raised ValueError: …` |
| A sweep cell fails | `sweep gc_l2 -g n_train 600,99999` (more than the dataset holds) | 1 | the table (status `failed`), a line per failed cell |
| Bad `--jobs` / `--threads` | `run all --jobs 0` | 2 | `jobs must be an integer >= 1, got 0` |
| `--jobs` with one figure | `run gc_l2 --jobs 2` | 2 | ``--jobs applies to `run all` only (one figure is one kernel)`` |
| Same figure and `--out` already running | a second `run gc_l2` | 0 | `gc_l2 is being run into … by another gclib process (pid …); waiting for it to finish`, then the cached result |
| A run killed (SIGKILL, Ctrl-C) | `run all` killed mid-figure | — | nothing: the rerun redoes only the unfinished figure; a half-written notebook, provenance or scorecard never counts as a result |
| A sweep killed | `sweep gr_width …` killed mid-grid | — | nothing: the rerun recomputes only the unfinished cells |
| A corrupt cache entry | a truncated provenance JSON or training pickle | 0 | `CacheWarning: gc_l2: the cached provenance gc_l2.provenance.json is unreadable (truncated or garbage); rerunning the figure` |
| A dry run | `run all --profile paper --dry-run` | 0 | `dry run of the paper profile: … — not a result; written to …/_dry_run/<figure>` |

Exit status 2: nothing was executed (no output notebook is written). Exit status 1: the partial notebook
(papermill's, with the error at the top) stays for inspection, its path is printed, and
`FIGURE.provenance.json` records `"status": "failed"`, the failing cell (index in the source notebook) and
the exception line.
"""
