"""Parameter values outside a figure's declared ranges (profiles.yaml ``ranges:``, checked by
gclib.companion.params) are refused before any kernel starts: exit status 2, one line on stderr, no output
directory, no cache entry. The same check runs in each notebook's cell after ``parameters``."""

import contextlib
import io

import nbformat
import papermill
import pytest

from gclib.companion import cli, figures
from gclib.companion.figures import check
from gclib.companion.figures import ranges as grammar
from gclib.companion.run import parallel
from gclib.experiments import data

FIGURES = [f.id for f in figures.list_figures(figures.notebook_directory(None))]
CIFAR_HINT = ("download cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html), extract it and "
              "pass path= or set GCLIB_CIFAR10 to the cifar-10-batches-py directory; offline, "
              "load_dataset('cifar10_standin') gives a stated Fashion-MNIST stand-in")
INITS = ("he_normal, he_uniform, he_truncated_normal, glorot_normal, glorot_uniform, lecun_normal, "
         "lecun_uniform, pytorch_default")

# (command line, the one line after "gclib: error: ")
BAD = [
    (["run", "gc_l2", "-p", "seeds", "[-1, 0]"],
     "parameter 'seeds' of gc_l2 must be a nonempty, unique list of integers >= 0, got [-1, 0] "
     "(-1 at index 0)"),
    (["run", "gr_double_descent", "-p", "seed", "-1"],
     "parameter 'seed' of gr_double_descent must be an integer >= 0, got -1"),
    (["run", "gc_l2", "-p", "n_train", "0"], "parameter 'n_train' of gc_l2 must be an integer >= 1 and <= "
     "the training split (1,438 examples of digits), got 0"),
    (["run", "gc_l2", "-p", "n_train", "2000"], "parameter 'n_train' of gc_l2 must be an integer >= 1 and <= "
     "the training split (1,438 examples of digits), got 2000"),
    (["run", "gc_l2", "-p", "track_bounds", "3"],
     "parameter override: parameter 'track_bounds' of gc_l2 expects bool (default True), got int 3"),
    (["run", "gc_l2", "-p", "dataset", "gaussian", "-p", "model", "cnn"],
     "parameter 'model' of gc_l2 must be a model, got 'cnn' (cnn needs an image dataset; gaussian gives "
     "feature vectors)"),
    (["run", "gr_width", "-p", "targets", "[1.0, 0.0]"],
     "parameter 'targets' of gr_width must be a nonempty, unique list of finite numbers >= 1e-06 and <= "
     "1000000 or finite numbers >= -1000000 and <= -1e-06, got [1.0, 0.0] (0.0 at index 1)"),
    (["run", "gc_l2", "-p", "lr", "1e300"], "parameter 'lr' of gc_l2 must be a finite number > 0 and <= "
     "1000000, got 1e+300"),
    (["run", "gr_width", "-p", "widths", "[2, 0, 8]"],
     "parameter 'widths' of gr_width must be a nonempty, strictly increasing list of integers >= 1, "
     "got [2, 0, 8] (0 at index 1)"),
    (["run", "gr_loss_histograms", "-p", "n_inits", "-5"],
     "parameter 'n_inits' of gr_loss_histograms must be an integer >= 1, got -5"),
    (["run", "gr_width", "-p", "widths", "[]"],
     "parameter 'widths' of gr_width must be a nonempty, strictly increasing list of integers >= 1, got []"),
    (["run", "gc_l2", "-p", "dataset", "cifar10"],
     "parameter 'dataset' of gc_l2 must be a dataset installed on this machine, got 'cifar10': CIFAR-10 not "
     f"found: no path given and GCLIB_CIFAR10 is unset; {CIFAR_HINT}"),
    (["run", "gc_l2", "-p", "lr", "0"], "parameter 'lr' of gc_l2 must be a finite number > 0 and <= 1000000, "
     "got 0.0"),
    (["run", "gc_l2", "-p", "l2", "[0, 0.01, 0.01]"],
     "parameter 'l2' of gc_l2 must be a nonempty, strictly increasing list of finite numbers >= 0, "
     "got [0, 0.01, 0.01] (0.01 repeated)"),
    (["run", "gc_learning_rate", "-p", "lrs", "[0.05, 0.1, 0.1]"],
     "parameter 'lrs' of gc_learning_rate must be a nonempty, strictly increasing list of finite numbers "
     "> 0 and <= 1000000, got [0.05, 0.1, 0.1] (0.1 repeated)"),
    (["run", "gr_width", "-p", "widths", "[2, 32, 8]"],
     "parameter 'widths' of gr_width must be a nonempty, strictly increasing list of integers >= 1, "
     "got [2, 32, 8] (8 after 32)"),
    (["run", "gc_double_descent", "-p", "widths", "[4, 64, 16, 256]"],
     "parameter 'widths' of gc_double_descent must be a nonempty, strictly increasing list of integers >= 1, "
     "got [4, 64, 16, 256] (16 after 64)"),
    (["run", "gc_flatness", "-p", "gauss_newton", "[0.0, 1e-3, 1e-4]"],
     "parameter 'gauss_newton' of gc_flatness must be a nonempty, strictly increasing list of finite numbers "
     ">= 0, got [0.0, 0.001, 0.0001] (0.0001 after 0.001)"),
    (["run", "gr_width", "-p", "init", "he_norm"],
     f"parameter 'init' of gr_width must be an init scheme, got 'he_norm' (valid: {INITS})"),
    (["run", "gc_l2", "-p", "dataset", "imagenet"],
     "parameter 'dataset' of gc_l2 must be a dataset installed on this machine, got 'imagenet' "
     "(valid here: fashion_mnist, mnist5k, digits, gaussian, cifar10_standin)"),
    (["run", "gc_init_depth", "-p", "depths", "[1, 2, 4]"],
     "parameter 'depths' of gc_init_depth must be a nonempty, strictly increasing list of integers >= 1 "
     "containing 1 and 16, got [1, 2, 4] (missing 16)"),
    (["run", "gc_init_depth", "-p", "inits", "['glorot_normal', 'lecun_normal', 'he_normal', 'normal']"],
     "parameter 'inits' of gc_init_depth must be a nonempty, unique list of init schemes containing "
     "'glorot_normal', 'lecun_normal' and 'he_normal', got ['glorot_normal', 'lecun_normal', 'he_normal', "
     "'normal'] ('normal' at index 3)"),
    (["run", "gr_init", "-p", "inits", "['he_normal', 'he_uniform']"],
     "parameter 'inits' of gr_init must be a nonempty, unique list of init schemes containing 'he_normal', "
     "'glorot_normal' and 'lecun_normal', got ['he_normal', 'he_uniform'] (missing 'glorot_normal', "
     "'lecun_normal')"),
    (["run", "gc_batch_size", "-p", "batch_sizes", "[8, 32, 512]"],
     "parameter 'batch_sizes' of gc_batch_size must be a nonempty, strictly increasing list of integers >= 1 "
     "and <= n_train (256), got [8, 32, 512] (512 at index 2)"),
    (["run", "gc_learning_rate", "-p", "batch_size", "0"],
     "parameter 'batch_size' of gc_learning_rate must be None or an integer >= 1 and <= n_train (256), "
     "got 0"),
    (["run", "gc_dirichlet_1d", "-p", "snapshot_steps", "[0, 100, 10]"],
     "parameter 'snapshot_steps' of gc_dirichlet_1d must be a nonempty, strictly increasing list of integers "
     ">= 0, got [0, 100, 10] (10 after 100)"),
    (["run", "gc_dirichlet_1d", "-p", "rough_ratio", "1.0"],
     "parameter 'rough_ratio' of gc_dirichlet_1d must be a finite number >= 2, got 1.0"),
    (["run", "gr_hypersphere", "-p", "shell_eps", "[0.01, 1.5]"],
     "parameter 'shell_eps' of gr_hypersphere must be a nonempty, unique list of finite numbers > 0 and < 1, "
     "got [0.01, 1.5] (1.5 at index 1)"),
    (["run", "gr_hypersphere", "-p", "radii", "[0.0, 1.0]"],
     "parameter 'radii' of gr_hypersphere must be a nonempty, unique list of finite numbers >= 1e-06 and "
     "<= 1000000, got [0.0, 1.0] (0.0 at index 0)"),
    (["run", "gr_loss_histograms", "-p", "log_u_min", "200.0"],
     "parameter 'log_u_min' of gr_loss_histograms must be a finite number >= 1e-12 and < log_u_max (100.0), "
     "got 200.0"),
    # a log_u_max at or below log_u_min's floor leaves no valid log_u_min (the fuzz drew 1.1e-156)
    (["run", "gr_loss_histograms", "-p", "log_u_max", "1e-156"],
     "parameter 'log_u_max' of gr_loss_histograms must be a finite number > 1e-12 and <= 1000000, "
     "got 1e-156"),
    (["run", "gr_double_descent", "-p", "gc_method", "approx"],
     "parameter 'gc_method' of gr_double_descent must be None or one of exact, hutchinson, got 'approx'"),
    (["run", "gc_double_descent", "-p", "pca", "500"],
     "parameter 'pca' of gc_double_descent must be an integer >= 1 and <= n_train (200), got 500"),
    (["run", "gc_flatness", "-p", "v2_target_loss", "0"],
     "parameter 'v2_target_loss' of gc_flatness must be a finite number > 0 and < the chance loss (ln 10 = "
     "2.303, a uniform guess over the 10 classes of digits), got 0.0"),
    (["run", "gc_label_noise", "-p", "label_noise", "[0.0, 1.5]"],
     "parameter 'label_noise' of gc_label_noise must be a nonempty, strictly increasing list of finite "
     "numbers >= 0 and <= 1, got [0.0, 1.5] (1.5 at index 1)"),
    (["run", "gr_depth", "-p", "loss", "l1"],
     "parameter 'loss' of gr_depth must be a pointwise loss, got 'l1' (valid: mse, mae)"),
    (["run", "gc_spectral", "-p", "model", "transformer"],
     "parameter 'model' of gc_spectral must be a model, got 'transformer' (valid: mlp, cnn, resnet)"),
    (["run", "gc_batch_size", "-p", "optimizer", "rmsprop"],
     "parameter 'optimizer' of gc_batch_size must be an optimizer, got 'rmsprop' "
     "(valid: sgd, momentum, adam)"),
    (["run", "gc_l2", "-p", "hidden", "[64, 0]"],
     "parameter 'hidden' of gc_l2 must be a nonempty list of integers >= 1, got [64, 0] (0 at index 1)"),
    (["run", "gr_depth", "-p", "bin_counts", "[25, 25]"],
     "parameter 'bin_counts' of gr_depth must be a nonempty, unique list of integers >= 3, got [25, 25] "
     "(25 repeated)"),
    (["run", "gr_init", "-p", "n_bins", "0"], "parameter 'n_bins' of gr_init must be an integer >= 3, got 0"),
    (["run", "gc_l2", "--profile", "cpu", "-p", "steps", "0"],
     "parameter 'steps' of gc_l2 must be an integer >= 1, got 0"),
    (["sweep", "gc_l2", "-g", "n_train", "100,0"],
     "parameter 'n_train' of gc_l2 must be an integer >= 1 and <= the training split (1,438 examples of "
     "digits), got 0"),
    (["sweep", "gc_l2", "-g", "lr", "0.1,0.2,0.1"], "grid parameter 'lr' of gc_l2 repeats the value 0.1"),
    (["sweep", "gr_width", "-g", "widths", "[2, 8],[8, 2]"],
     "parameter 'widths' of gr_width must be a nonempty, strictly increasing list of integers >= 1, "
     "got [8, 2] (2 after 8)"),
    # a training target at or above chance (ln K, the cross-entropy of a uniform guess) asks for no learning
    (["run", "gc_learning_rate", "-p", "target_loss", "3.0"],
     "parameter 'target_loss' of gc_learning_rate must be a finite number > 0 and < the chance loss (ln 10 = "
     "2.303, a uniform guess over the 10 classes of digits), got 3.0"),
    (["run", "gc_batch_size", "-p", "v2_target_loss", "2.31"],
     "parameter 'v2_target_loss' of gc_batch_size must be a finite number > 0 and < the chance loss (ln 10 = "
     "2.303, a uniform guess over the 10 classes of digits), got 2.31"),
    (["run", "gc_flatness", "--profile", "cpu", "-p", "v2_target_loss", "2.5"],
     "parameter 'v2_target_loss' of gc_flatness must be a finite number > 0 and < the chance loss (ln 10 = "
     "2.303, a uniform guess over the 10 classes of mnist5k), got 2.5"),
]


@pytest.fixture
def no_kernel(tmp_path, monkeypatch):
    """No notebook may start and no Dask cluster may start; the cache lives in tmp_path/cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)
    monkeypatch.setattr(parallel, "_on_dask", refuse)
    monkeypatch.setenv("GCLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GCLIB_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("GCLIB_CIFAR10", raising=False)
    return tmp_path


def gclib(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _kinds(specs) -> set[str]:
    """Every spec form a parsed range uses: its alternatives' kinds, a list's element kinds, "list" itself,
    and the list modifiers and bounds that can refuse a value."""
    out = set()
    for sp in specs:
        out.add(sp.kind)
        out |= {f"bound {op}" for op, _ in sp.bounds}
        out |= {f"list {m}" for m in sp.modifiers} | ({"list contains"} if sp.contains else set())
        out |= _kinds(sp.element)
    return out


def test_every_form_of_range_is_refused_somewhere_in_the_bad_values():
    used, refused = set(), set()
    for fig in figures.list_figures():
        for name, text in fig.ranges.items():
            used |= _kinds(grammar.parse_spec(str(text)))
    for argv, _ in BAD:
        if argv[0] == "run" and "-p" in argv:
            fig = figures.get_figure(argv[1])
            name = argv[argv.index("-p") + 1]
            refused |= _kinds(grammar.parse_spec(str(fig.ranges[name])))
    assert used - refused - {"any", "str", "none", "device"} == set(), \
        "add a bad value for each of these range forms"


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[:1] + a[3:]) for a, _ in BAD])
def test_a_bad_value_exits_2_before_anything_is_written(argv, message, no_kernel):
    out = no_kernel / "out"
    code, stdout, stderr = gclib(*argv, "--out", out)
    assert (code, stderr) == (2, f"gclib: error: {message}\n")
    assert not out.exists() and not (no_kernel / "cache").exists()


def test_run_all_checks_every_figure_first(no_kernel, monkeypatch):
    # `run all` resolves (and so checks) every figure before the first kernel: here Fashion-MNIST is absent
    monkeypatch.setenv("GCLIB_FASHION_MNIST", str(no_kernel / "empty"))
    out = no_kernel / "out"
    code, _, stderr = gclib("run", "all", "--profile", "paper", "--out", out)
    assert code == 2 and stderr.count("\n") == 1
    assert stderr.startswith("gclib: error: parameter 'dataset' of gc_batch_size must be a dataset "
                             "installed on this machine, got 'fashion_mnist': Fashion-MNIST not found: no "
                             f"train-images-idx3-ubyte.gz in {no_kernel / 'empty'}; install it with")
    assert not out.exists()


def test_a_missing_fashion_mnist_is_refused_with_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("GCLIB_FASHION_MNIST", str(tmp_path))
    assert grammar.dataset_missing("fashion_mnist") == (
        f"Fashion-MNIST not found: no train-images-idx3-ubyte.gz in {tmp_path}; install it with `apt-get "
        "install dataset-fashion-mnist` or set GCLIB_FASHION_MNIST to the directory holding the four IDX "
        "files")
    assert grammar.dataset_missing("digits") is None and grammar.dataset_missing("gaussian") is None


@pytest.mark.parametrize("figure", FIGURES)
def test_every_parameter_has_a_range_and_every_range_a_parameter(figure):
    names = list(figures.notebook_parameters(figure))
    ranges = figures.get_figure(figure).ranges
    assert sorted(ranges) == sorted(names), f"profiles.yaml[{figure}][ranges] must name exactly {names}"
    for name, spec in ranges.items():
        grammar.parse_spec(spec, where=f"{figure}.{name}")


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper", "dry-run"])
@pytest.mark.parametrize("figure", FIGURES)
def test_every_profile_value_is_in_range(figure, profile):
    """The profiles themselves: their resolved values pass the check (a paper profile on device cpu here)."""
    on_cpu = "device" in figures.get_figure(figure).profiles["paper"] and profile in ("paper", "dry-run")
    resolved = figures.resolve_parameters(figure, "paper" if profile == "dry-run" else profile,
                                          device="cpu" if on_cpu else None, dry_run=profile == "dry-run")
    check.check_values(figure, resolved)


def test_the_notebook_check_cell_uses_the_same_rule():
    defaults = {n: p.default for n, p in figures.notebook_parameters("gc_l2").items()}
    check.check_parameters("gc_l2", defaults)
    with pytest.raises(figures.ParameterError) as err:
        check.check_parameters("gc_l2", {**defaults, "n_train": 0})
    assert str(err.value) == ("parameter 'n_train' of gc_l2 must be an integer >= 1 and <= the training "
                              "split (1,438 examples of digits), got 0")


@pytest.mark.parametrize("spec, words", [
    ("int>=1", "an integer >= 1"),
    ("float>0 <=1", "a finite number > 0 and <= 1"),
    ("float>=0<1", "a finite number >= 0 and < 1"),
    ("none | int>=1 <=n_train", "None or an integer >= 1 and <= n_train"),
    ("list[int>=1] nonempty increasing", "a nonempty, strictly increasing list of integers >= 1"),
    ("list[init] unique contains(he_normal)", "a unique list of init schemes containing 'he_normal'"),
    ("{exact, hutchinson}", "one of exact, hutchinson"),
    ("dataset", "a dataset installed on this machine"),
    ("float>0 <chance_loss", "a finite number > 0 and < the chance loss (ln K, a uniform guess over the "
                             "dataset's K classes)"),
])
def test_spec_grammar_in_words(spec, words):
    assert grammar.describe_spec(spec) == words


@pytest.mark.parametrize("spec", ["", "int>>1", "integer", "list[int] sorted", "list[int", "{a,}",
                                  "float>x y"])
def test_a_malformed_spec_is_refused(spec):
    with pytest.raises(figures.ParameterError, match=r"^here: bad range spec"):
        grammar.parse_spec(spec, where="here")


def test_params_shows_the_range_column():
    code, stdout, _ = gclib("params", "gc_learning_rate")
    assert code == 0
    header = stdout.splitlines()[1].split()
    assert header[:6] == ["name", "type", "smoke", "(default)", "cpu", "paper"] and header[6] == "range"
    assert "none | int>=1 <=n_train" in stdout and "list[float>0 <=1000000] nonempty increasing" in stdout


def test_params_shows_values_even_where_a_dataset_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("GCLIB_FASHION_MNIST", str(tmp_path))  # the paper profile's cifar10_standin is absent
    code, stdout, _ = gclib("params", "gc_l2")
    assert code == 0 and "'cifar10_standin'" in stdout


def test_the_book_table_shows_the_range():
    from gclib.companion.book.pages import parameters_table

    table = "\n".join(parameters_table({"batch_size": None, "lrs": [0.1], "other": 1}, "gc_learning_rate"))
    assert "| parameter | value | range |" in table
    assert "| `batch_size` | `null` | `none \\| int>=1 <=n_train` |" in table
    assert "| `other` | `1` | — |" in table


def test_a_papermill_run_stops_at_the_check_cell(tmp_path):
    """Started directly (no CLI), the notebook's own check cell refuses the value with the same line."""
    src = figures.get_figure("gc_l2").notebook
    with pytest.raises(papermill.PapermillExecutionError) as exc:
        papermill.execute_notebook(str(src), str(tmp_path / "gc_l2.ipynb"), parameters={"n_train": 0},
                                   kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    err = exc.value
    assert err.ename == "ParameterError"
    assert err.evalue == ("parameter 'n_train' of gc_l2 must be an integer >= 1 and <= the training split "
                          "(1,438 examples of digits), got 0")
    assert err.source.startswith('check_parameters("gc_l2", globals())')
    nb = nbformat.read(tmp_path / "gc_l2.ipynb", as_version=4)
    failed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and nb.cells[failed[0]].source.startswith('check_parameters("gc_l2"')
    later = [c for c in nb.cells[failed[0] + 1:] if c.cell_type == "code"]
    assert later and all(c.get("execution_count") is None for c in later)  # nothing ran after it
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.json"))


def test_dataset_names_match_the_loader():
    assert set(grammar.registry("dataset")) == set(data.DATASETS)


def test_the_chance_loss_and_the_split_sizes_are_each_dataset_s_own():
    for name in ("digits", "mnist5k"):   # the two that load in seconds; the rest share the 10 labels
        ds = data.load_dataset(name)
        assert grammar.DATASET_CLASSES[name] == ds.n_classes
        assert grammar.DATASET_SIZES[name] == (len(ds.x_train), len(ds.x_test))
    assert set(grammar.DATASET_CLASSES) == set(grammar.DATASET_SIZES) == set(data.DATASETS) - {"gaussian"}
    assert grammar.DATASET_SIZES["fashion_mnist"] == (60000, 10000)  # the standard IDX files
    assert grammar.DATASET_SIZES["cifar10"] == (50000, 10000) and grammar.DATASET_SIZES["cifar10_standin"] \
        == (60000, 10000)  # the stand-in is Fashion-MNIST, resized
    assert data.load_dataset("gaussian").x_train.dim() == 2 and grammar.VECTOR_DATASETS == ("gaussian",)


def test_the_chance_loss_bound_follows_the_dataset_and_skips_an_unknown_k():
    # at the chance loss itself: refused; just below it: accepted; with "gaussian" (K not fixed by the
    # name) the bound is skipped, so only > 0 applies
    ranges = {"dataset": "dataset", "target_loss": "float>0 <chance_loss"}
    ln10 = 2.302585092994046
    with pytest.raises(figures.ParameterError, match=r"< the chance loss \(ln 10 = 2\.303"):
        check.check_ranges("gc_learning_rate", {"dataset": "digits", "target_loss": ln10}, ranges=ranges)
    check.check_ranges("gc_learning_rate", {"dataset": "digits", "target_loss": 2.30}, ranges=ranges)
    check.check_ranges("gc_learning_rate", {"dataset": "gaussian", "target_loss": 5.0}, ranges=ranges)
    # without a dataset among the values, the notebook's default (digits) gives K
    with pytest.raises(figures.ParameterError, match="10 classes of digits"):
        check.check_ranges("gc_learning_rate", {"target_loss": 2.5}, ranges=ranges)
