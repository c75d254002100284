"""Models: shapes, seeded initialisation through the sampling registry, init statistics, validation,
devices."""
import math

import pytest
import torch
from torch import nn

from gclib import sampling
from gclib.device import derive_generator, resolve_device
from gclib.experiments.models import MLP, MODELS, SmallCNN, SmallResNet, build_model


def _equal_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _cases():
    g = torch.Generator().manual_seed(0)
    return ((MLP([12, 8, 3], seed=0), torch.randn(5, 12, generator=g)),
            (SmallCNN(width=4, seed=0), torch.randn(2, 1, 28, 28, generator=g)),
            (SmallResNet(width=4, seed=0), torch.randn(2, 3, 16, 16, generator=g)))


# ----------------------------------------------------------------------------------------------- shapes
def test_mlp_shapes_and_flattening():
    m = MLP([784, 32, 16, 10], seed=0)
    assert isinstance(m.linears, nn.ModuleList) and [lin.out_features for lin in m.linears] == [32, 16, 10]
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out = m(x)
    assert out.shape == (5, 10) and out.dtype == torch.float32
    torch.testing.assert_close(out, m(x.reshape(5, 784)))
    torch.testing.assert_close(m(x.reshape(5, 784)[0]), out[0])  # one unbatched example


def test_mlp_output_layer_is_linear_and_activations_apply():
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(1))
    lin = MLP([6, 5, 4, 3], activation="linear", init="he_normal", bias=False, seed=0)
    w = lin.linears[2].weight @ lin.linears[1].weight @ lin.linears[0].weight
    torch.testing.assert_close(lin(x), x @ w.T)
    for act, ref in (("relu", torch.relu), ("tanh", torch.tanh), ("gelu", nn.functional.gelu)):
        m = MLP([6, 5, 3], activation=act, init="he_normal", seed=0)
        l0, l1 = m.linears
        torch.testing.assert_close(m(x), l1(ref(l0(x))))


def test_cnn_shapes():
    g = torch.Generator().manual_seed(0)
    m = SmallCNN(seed=0)
    assert m(torch.randn(4, 1, 28, 28, generator=g)).shape == (4, 10)
    x = torch.randn(4, 784, generator=g)
    torch.testing.assert_close(m(x), m(x.reshape(4, 1, 28, 28)))  # flattened input is reshaped
    c3 = SmallCNN(in_channels=3, n_classes=7, width=8, image_size=32, seed=0)
    assert c3(torch.randn(2, 3, 32, 32, generator=g)).shape == (2, 7)
    assert c3.fc.in_features == 2 * 8 * 8 * 8
    assert SmallCNN(seed=0)(torch.randn(3, 1, 8, 8, generator=g)).shape == (3, 10)  # other sizes resampled


def test_resnet_shapes_and_batchnorm_modes():
    g = torch.Generator().manual_seed(0)
    m = SmallResNet(width=8, seed=0)
    x = torch.randn(4, 3, 32, 32, generator=g)
    assert m(x).shape == (4, 10)
    assert sum(isinstance(mod, nn.BatchNorm2d) for mod in m.modules()) >= 3
    m2 = SmallResNet(in_channels=1, n_classes=5, width=4, blocks=(2, 1), seed=1)
    assert m2(torch.randn(3, 1, 28, 28, generator=g)).shape == (3, 5)
    m.eval()  # eval mode: each example's output is independent of the rest of the batch
    torch.testing.assert_close(m(x)[:1], m(x[:1]))


def test_build_model_names():
    assert set(MODELS) == {"mlp", "cnn", "resnet"}
    assert isinstance(build_model("mlp", sizes=[4, 3, 2], seed=0), MLP)
    assert isinstance(build_model("cnn", in_channels=3, n_classes=10, seed=0), SmallCNN)
    assert isinstance(build_model("resnet", width=4, seed=0), SmallResNet)
    assert _equal_state(build_model("mlp", sizes=[4, 3, 2], seed=3), MLP([4, 3, 2], seed=3))


def test_backward_reaches_every_parameter():
    for m, x in _cases():
        m(x).square().sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


# ------------------------------------------------------------------------------------------ seeding/init
@pytest.mark.parametrize("make", [lambda s: MLP([20, 16, 4], init="he_normal", seed=s),
                                  lambda s: SmallCNN(width=4, seed=s),
                                  lambda s: SmallResNet(width=4, seed=s)])
def test_seed_reproducibility(make):
    assert _equal_state(make(0), make(0))
    assert not _equal_state(make(0), make(1))


def test_construction_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    MLP([50, 20, 3], seed=0), SmallCNN(seed=0), SmallResNet(width=4, seed=0), MLP([5, 2], seed=None)
    assert torch.equal(state, torch.random.get_rng_state())


def test_seed_none_is_recorded_and_repeatable():
    a = MLP([8, 4, 2], seed=None)
    assert isinstance(a.seed, int) and _equal_state(a, MLP([8, 4, 2], seed=a.seed))


def test_init_uses_registry_streams():
    m = MLP([30, 20, 5], init="glorot_uniform", seed=7)
    gen = derive_generator(7, "model-init", 0)
    w0 = sampling.sample_weights("glorot_uniform", (20, 30), 30, 20, generator=gen)
    torch.testing.assert_close(m.linears[0].weight.detach(), w0, rtol=0, atol=0)
    # the bias stream is separate: changing bias_init leaves the weights unchanged
    z = MLP([30, 20, 5], init="glorot_uniform", seed=7, bias_init="sampled")
    assert torch.equal(z.linears[1].weight, m.linears[1].weight) and not torch.equal(z.linears[1].bias,
                                                                                     m.linears[1].bias)


@pytest.mark.parametrize("init", ["he_normal", "he_uniform", "he_truncated_normal", "glorot_normal",
                                  "glorot_uniform", "lecun_normal", "lecun_uniform", "pytorch_default"])
def test_mlp_weight_std_matches_scheme(init):
    fan_in, fan_out = 500, 200  # 10⁵ weights: relative SE of the sample std ≈ 1/√(2·10⁵) ≈ 0.22 %; tol 2 %
    w = MLP([fan_in, fan_out], init=init, seed=0).linears[0].weight.detach()
    assert w.shape == (fan_out, fan_in)
    assert w.std().item() == pytest.approx(sampling.init_std(init, fan_in, fan_out), rel=0.02)
    assert abs(w.mean().item()) < 4 * w.std().item() / math.sqrt(w.numel())


def test_he_normal_std_formula():
    w = MLP([800, 400], init="he_normal", seed=1).linears[0].weight.detach()
    assert w.std().item() == pytest.approx(math.sqrt(2 / 800), rel=0.02)
    # untruncated Gaussian: about 4.55 % of the weights beyond 2 std (4 SE of a binomial share at n = 3.2e5)
    share = (w.abs() > 2 * math.sqrt(2 / 800)).float().mean().item()
    assert share == pytest.approx(0.0455, abs=4 * math.sqrt(0.0455 * 0.9545 / w.numel()))


def test_normal_init_with_std():
    w = MLP([400, 300], init="normal", std=0.1, seed=0).linears[0].weight.detach()
    assert w.std().item() == pytest.approx(0.1, rel=0.02)


def test_bias_zero_and_sampled():
    he = MLP([100, 20000], init="he_normal", seed=0).linears[0]
    assert torch.count_nonzero(he.bias) == 0  # zero by default for Keras-style schemes
    hs = MLP([100, 20000], init="he_normal", seed=0, bias_init="sampled").linears[0]
    assert hs.bias.std().item() == pytest.approx(math.sqrt(2 / 100), rel=0.03)
    pt = MLP([100, 20000], seed=0).linears[0]  # pytorch_default: bias U(±1/√fan_in) like nn.Linear
    assert pt.bias.abs().max().item() <= 1 / math.sqrt(100)
    assert pt.bias.std().item() == pytest.approx(1 / math.sqrt(3 * 100), rel=0.03)
    pz = MLP([100, 50], seed=0, bias_init="zero").linears[0]
    assert torch.count_nonzero(pz.bias) == 0
    assert all(lin.bias is None for lin in MLP([10, 5, 2], bias=False, seed=0).linears)


def test_cnn_conv_init_uses_conv_fans():
    c = SmallCNN(width=64, init="he_normal", seed=0)
    w = c.conv2.weight.detach()  # fan_in = 64·3·3
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.02)
    assert torch.count_nonzero(c.conv2.bias) == 0


# ---------------------------------------------------------------------------------------------- devices
def test_device_move_keeps_weights_and_outputs():
    dev = resolve_device("auto")
    for m, x in _cases():
        m.eval()
        ref = m(x)
        moved = m.to(dev)
        out = moved(x.to(dev))
        assert out.device.type == dev.type
        torch.testing.assert_close(out.cpu(), ref, rtol=1e-4, atol=1e-5)
    m64 = MLP([4, 3], seed=0).to(torch.float64)
    assert m64(torch.randn(2, 4, dtype=torch.float64)).dtype == torch.float64


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("kw, err, match", [
    (dict(sizes=[5]), ValueError, "sizes must have at least 2"),
    (dict(sizes=[]), ValueError, "sizes must have at least 2"),
    (dict(sizes=[5, 0]), ValueError, r"sizes\[1\] must be a positive integer"),
    (dict(sizes=[5, 2.5]), ValueError, r"sizes\[1\] must be a positive integer"),
    (dict(sizes="784,10"), TypeError, "sizes must be a sequence"),
    (dict(sizes=[4, 2], activation="sigmoid"), ValueError, "unknown activation 'sigmoid'; valid: relu"),
    (dict(sizes=[4, 2], init="xavier"), ValueError, "unknown init 'xavier'; valid: he_normal"),
    (dict(sizes=[4, 2], init="normal"), ValueError, "needs std"),
    (dict(sizes=[4, 2], init="he_normal", std=0.1), ValueError, "std is only used"),
    (dict(sizes=[4, 2], bias="yes"), TypeError, "bias must be"),
    (dict(sizes=[4, 2], bias_init="ones"), ValueError, "unknown bias_init 'ones'"),
    (dict(sizes=[4, 2], seed=-1), ValueError, "seed must be"),
    (dict(sizes=[4, 2], seed=1.5), TypeError, "seed must be"),
])
def test_mlp_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        MLP(**kw)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="width must be"):
        SmallCNN(width=0)
    with pytest.raises(ValueError, match="image_size must be an integer >= 4"):
        SmallCNN(image_size=2)
    with pytest.raises(ValueError, match="unknown init"):
        SmallCNN(init="bogus")
    with pytest.raises(ValueError, match="blocks must have at least 1"):
        SmallResNet(blocks=())
    with pytest.raises(ValueError, match=r"blocks\[1\] must be a positive integer"):
        SmallResNet(blocks=(1, 0))
    with pytest.raises(ValueError, match="n_classes must be"):
        SmallResNet(n_classes=0)
    with pytest.raises(ValueError, match="unknown model 'vgg'; valid: mlp, cnn, resnet"):
        build_model("vgg")


def test_forward_shape_errors():
    with pytest.raises(ValueError, match="expects inputs with 10 features"):
        MLP([10, 2], seed=0)(torch.randn(3, 11))
    with pytest.raises(ValueError, match="SmallCNN expects"):
        SmallCNN(seed=0)(torch.randn(3, 3, 28, 28))
    with pytest.raises(ValueError, match="SmallResNet expects"):
        SmallResNet(width=4, seed=0)(torch.randn(3, 3 * 32 * 32))
