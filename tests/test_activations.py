"""The activation registry: values and gradients against direct formulas, thresholds, bands."""

import math

import pytest
import torch

from activation_study.activations._catalogue import catalogue
from activation_study.network.model import get_activation


def sigmoid(z):
    return 1 / (1 + torch.exp(-z))


def normal_cdf(z):
    return 0.5 * (1 + torch.erf(z / math.sqrt(2)))


def normal_pdf(z):
    return torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)


# name, shape, value(z), derivative(z), written out from the definitions
FORMULAS = [
    ("relu", None, lambda z: torch.where(z > 0, z, 0 * z),
     lambda z: (z > 0).double()),
    ("sigmoid", None, sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    ("tanh", None, lambda z: (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z)),
     lambda z: 1 - torch.tanh(z) ** 2),
    ("leaky_relu", 0.1, lambda z: torch.where(z > 0, z, 0.1 * z),
     lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, 0.1))),
    ("rescaled_sigmoid", None, lambda z: 4 * sigmoid(z) - 2,
     lambda z: 4 * sigmoid(z) * (1 - sigmoid(z))),
    ("leaky_tanh", 0.25, lambda z: torch.where(z >= 0, torch.tanh(z), 0.25 * torch.tanh(z)),
     lambda z: torch.where(z >= 0, 1.0, 0.25) * (1 - torch.tanh(z) ** 2)),
    ("prelu", 0.25, lambda z: torch.where(z > 0, z, 0.25 * z),
     lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, 0.25))),
    ("elu", None, lambda z: torch.where(z > 0, z, torch.exp(z) - 1),
     lambda z: torch.where(z > 0, 1.0, torch.exp(z))),
    ("gelu", None, lambda z: z * normal_cdf(z), lambda z: normal_cdf(z) + z * normal_pdf(z)),
    ("silu", None, lambda z: z * sigmoid(z),
     lambda z: sigmoid(z) * (1 + z * (1 - sigmoid(z)))),
    ("mish", None, lambda z: z * torch.tanh(torch.log1p(torch.exp(z))),
     lambda z: torch.tanh(torch.log1p(torch.exp(z)))
     + z * (1 - torch.tanh(torch.log1p(torch.exp(z))) ** 2) * sigmoid(z)),
]


def test_every_registered_function_is_checked():
    assert {name for name, *_ in FORMULAS} == set(catalogue())


@pytest.mark.parametrize("name,shape,value,derivative", FORMULAS, ids=[f[0] for f in FORMULAS])
def test_values_and_gradients_match_the_formula(name, shape, value, derivative):
    z = torch.linspace(-6, 6, 241, dtype=torch.float64)
    z = z[z != 0].requires_grad_()  # the kink of the ReLU family has no derivative
    out = get_activation(name, shape).fn(z)
    torch.testing.assert_close(out, value(z.detach()).to(torch.float64), rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(out.sum(), z)
    expected = derivative(z.detach()).to(torch.float64)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(catalogue()))
def test_on_exactly_where_the_preactivation_is_positive(name):
    # every threshold sits at the function's value at z = 0 (ch. 5 and STUDY.md item 2)
    act = get_activation(name)
    z = torch.tensor([-3.0, -1e-3, 1e-3, 3.0], dtype=torch.float64)
    assert (act.fn(z) > act.on_threshold).tolist() == [False, False, True, True]
    low, high = act.band
    assert low < act.fn(torch.tensor(1e-3, dtype=torch.float64)) < high  # near 0 unsaturated


def test_shape_parameters_bind_and_default():
    z = torch.tensor([-2.0])
    assert get_activation("leaky_relu").fn(z).item() == pytest.approx(-0.02)  # default 0.01
    assert get_activation("leaky_relu", 0.25).fn(z).item() == pytest.approx(-0.5)
    assert get_activation("leaky_tanh", 0.5).band == pytest.approx((-0.475, 0.95))
    assert get_activation("rescaled_sigmoid").band == pytest.approx((-1.9, 1.9))


def test_combined_system_only_where_the_magnitude_below_zero_is_discarded():
    assert [name for name in catalogue() if get_activation(name).combined_system] == ["relu"]


def test_unknown_activation_names_the_known_ones():
    with pytest.raises(KeyError, match="leaky_relu"):
        get_activation("swish")
