import hashlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gclib.companion.kernel.draw import savefig, set_style  # noqa: E402
from gclib.companion.outputs import output_dir  # noqa: E402


def _figure():
    set_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0, 2], label="a")
    ax.legend()
    return fig


def test_savefig_writes_png_and_svg_deterministically(tmp_path):
    fig = _figure()
    a = savefig(fig, "demo", out_dir=tmp_path / "a")
    b = savefig(fig, "demo", out_dir=tmp_path / "b")
    plt.close(fig)
    assert set(a) == {"png", "svg"}
    for fmt in ("png", "svg"):
        assert a[fmt].stat().st_size > 1000
        assert hashlib.sha256(a[fmt].read_bytes()).digest() == hashlib.sha256(b[fmt].read_bytes()).digest()
    svg = a["svg"].read_text()
    assert "<dc:date>" not in svg


def test_output_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GCLIB_OUTPUT_DIR", str(tmp_path / "out"))
    assert output_dir() == tmp_path / "out" and (tmp_path / "out").is_dir()


@pytest.mark.parametrize("name", ["", "a/b", "x y"])
def test_savefig_rejects_bad_names(tmp_path, name):
    fig = _figure()
    with pytest.raises(ValueError, match="name"):
        savefig(fig, name, out_dir=tmp_path)
    plt.close(fig)


def test_savefig_rejects_non_figures(tmp_path):
    with pytest.raises(TypeError, match="Figure"):
        savefig("not a figure", "x", out_dir=tmp_path)


# a value whose mean over three equal copies lies one ulp above it: seaborn's errorbar=("pi", 100) drew a
# negative error bar there and matplotlib raised ("'yerr' must not contain negative values"): gc_l2 with three
# seeds that all ended on one test accuracy crashed its figure
ULP = 0.9563777886388609


def test_mean_range_keeps_the_mean_inside_its_bars_where_the_float_mean_overshoots():
    import pandas as pd

    from gclib.companion.kernel.draw import mean_range

    t = pd.DataFrame({"lr": [0.1] * 3 + [0.2] * 3, "acc": [ULP] * 3 + [0.5, float("nan"), 0.7]})
    assert t["acc"][:3].mean() > ULP  # the overshoot this guards against
    stats = mean_range(t, "lr", "acc")
    assert (stats["lo"] <= stats["mean"]).all() and (stats["mean"] <= stats["hi"]).all()
    assert stats["n"].tolist() == [3, 2] and stats["hi"].iloc[1] == 0.7


def test_sweep_and_level_figures_draw_runs_that_all_ended_on_one_value():
    import matplotlib.pyplot as plt
    import pandas as pd

    from gclib.companion.kernel import draw

    t = pd.DataFrame({"l2": [0.0] * 3 + [0.01] * 3, "seed": [0, 1, 2] * 2, "step": [10] * 6,
                      "gc": [1.0, 1.1, 1.2, 0.9, 0.8, 0.7], "test_acc": [ULP] * 6, "train_acc": [ULP] * 6,
                      "lr": [0.5] * 6})
    fig = draw.plot_sweep(t, "l2")
    _, ax = plt.subplots()
    draw.plot_levels(ax, t, "l2", "test_acc", hue="lr")  # one hue level: no side-by-side division by zero
    draw.plot_levels(ax, t, "l2", "test_acc")
    plt.close("all")
    assert len(fig.axes) == 3
