import subprocess
import sys

import pytest

import gclib


def test_public_names_resolve():
    for name in gclib.__all__:
        assert getattr(gclib, name) is not None, name
    assert gclib.train.sweep is not None  # the submodule, not a function of the same name
    assert callable(gclib.geometric_complexity) and gclib.GCResult.__name__ == "GCResult"
    with pytest.raises(AttributeError):
        gclib.no_such_name  # noqa: B018


def test_gclib_does_not_import_the_runner():
    code = "import sys, gclib.train, gclib.sampling, gclib.plotting; print('gclib.runner' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_resolve_device():
    assert gclib.resolve_device("cpu").type == "cpu"
    assert gclib.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        gclib.resolve_device("tpu")
    with pytest.raises(TypeError):
        gclib.resolve_device(3)


def test_cuda_request_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        assert gclib.resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            gclib.resolve_device("cuda")


def test_derived_generators_are_independent_and_reproducible():
    import torch

    from gclib._device import derive_generator

    a = torch.randn(5, generator=derive_generator(0, "weights"))
    b = torch.randn(5, generator=derive_generator(0, "weights"))
    c = torch.randn(5, generator=derive_generator(0, "probes"))
    d = torch.randn(5, generator=derive_generator(1, "weights"))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, d)
