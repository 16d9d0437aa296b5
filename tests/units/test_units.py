"""The arithmetic units as torch modules: formulas, initialisation, regularisers."""

import numpy as np
import pytest
import torch
from conftest import set_weights

from sknalu import ArithmeticNetwork
from sknalu.units import (
    INALU,
    NAC,
    NALU,
    NAU,
    NMRU,
    NMU,
    UNITS,
    Linear,
    NACMul,
    RealNPU,
    nac_init_range,
)

pytestmark = pytest.mark.usefixtures("float64")


def test_nac_init_range_matches_the_published_values():
    assert nac_init_range(100, 2) == pytest.approx(0.504, abs=1e-3)
    assert nac_init_range(2, 1) == pytest.approx(9.47, abs=1e-2)


def test_nac_init_gives_the_target_variance():
    torch.manual_seed(0)
    unit = NAC(100, 2, n_copies=2000)
    assert unit.weight.var().item() == pytest.approx(2 / 102, rel=0.05)
    r = nac_init_range(100, 2)
    assert unit.W_hat.abs().max().item() <= r


@pytest.mark.parametrize(("shape", "r"), [((100, 2), 0.2425), ((2, 1), 0.5)])
def test_nau_init_is_capped_glorot_uniform(shape, r):
    unit = NAU(*shape, n_copies=500, generator=torch.Generator().manual_seed(0))
    w = unit.W.detach()
    assert w.abs().max().item() <= r + 1e-4
    assert w.abs().max().item() > 0.98 * r


def test_nmu_init_is_uniform_quarter_to_three_quarters():
    w = NMU(100, 2, n_copies=100, generator=torch.Generator().manual_seed(0)).W.detach()
    assert w.min().item() >= 0.25 and w.max().item() <= 0.75
    assert w.mean().item() == pytest.approx(0.5, abs=0.01)


def test_same_generator_seed_gives_same_weights():
    a = NMU(5, 3, generator=torch.Generator().manual_seed(7))
    b = NMU(5, 3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.W, b.W)


def test_nau_adds_with_clamped_weights():
    unit = NAU(3, 1)
    set_weights(unit.W, [1.7, -1.0, 0.5])  # 1.7 acts as 1
    x = torch.tensor([[2.0, 3.0, 4.0]])
    assert unit(x).item() == pytest.approx(2 - 3 + 2)


def test_nmu_multiplies_selected_inputs():
    unit = NMU(3, 2)
    set_weights(unit.W, [[1.0, 1.0, 0.0], [0.5, 0.0, 1.0]])
    x = torch.tensor([[2.0, 3.0, 5.0]])
    expected = [2 * 3, (0.5 * 2 + 0.5) * 5]
    assert unit(x).detach().numpy().ravel() == pytest.approx(expected)


def test_nmu_gradient_matches_the_closed_form():
    unit = NMU(3, 1)
    set_weights(unit.W, [0.3, 0.6, 0.9])
    x = torch.tensor([[1.5, -2.0, 3.0]])
    z = unit(x)
    z.sum().backward()
    w = unit.W.detach()[0]
    factor = w * x[0] + 1 - w
    expected = z.item() / factor * (x[0] - 1)
    assert unit.W.grad[0].numpy() == pytest.approx(expected.numpy())


def test_nac_weight_is_tanh_times_sigmoid():
    unit = NAC(2, 1)
    set_weights(unit.W_hat, [0.3, -2.0])
    set_weights(unit.M_hat, [1.0, 0.5])
    expected = np.tanh([0.3, -2.0]) / (1 + np.exp(-np.array([1.0, 0.5])))
    assert unit.weight.detach().numpy().ravel() == pytest.approx(expected)


def test_nac_mul_computes_exp_of_weighted_logs():
    unit = NACMul(2, 1)
    set_weights(unit.W_hat, [0.3, -2.0])
    set_weights(unit.M_hat, [1.0, 0.5])
    w = unit.weight.detach().numpy().ravel()
    x = np.array([2.0, -3.0])
    expected = np.exp(w @ np.log(np.abs(x) + 1e-7))
    assert unit(torch.tensor(x[None])).item() == pytest.approx(expected)


def test_nalu_mixes_add_and_mul_paths_by_its_gate():
    unit = NALU(2, 1)
    x = torch.tensor([[2.0, 3.0]])
    w = unit.weight.detach()
    a = (x @ w.T).item()
    m = torch.exp(torch.log(x.abs() + 1e-7) @ w.T).item()
    g = torch.sigmoid(x @ unit.G.detach().T).item()
    assert unit(x).item() == pytest.approx(g * a + (1 - g) * m)


def test_nalu_with_separate_weights_has_its_own_multiplicative_weights():
    unit = NALU(2, 1, shared_weights=False)
    names = {n for n, _ in unit.named_parameters()}
    assert {"W_hat_mul", "M_hat_mul"} <= names
    assert not torch.equal(unit.weight, unit.weight_mul)


def test_inalu_recovers_the_sign_of_a_product():
    unit = INALU(2, 1)
    for p in (unit.W_hat_mul, unit.M_hat_mul):
        set_weights(p, [30.0, 30.0])  # weight 1 on both inputs
    set_weights(unit.g_hat, [-40.0])  # gate closed: multiplicative path only
    x = torch.tensor([[-2.0, 3.0], [-2.0, -3.0]])
    assert unit(x).detach().numpy().ravel() == pytest.approx([-6.0, 6.0], rel=1e-6)


def test_real_npu_divides_negative_inputs():
    unit = RealNPU(2, 1)
    set_weights(unit.W, [1.0, -1.0])
    set_weights(unit.g, [1.0, 1.0])
    assert unit(torch.tensor([[-6.0, 3.0]])).item() == pytest.approx(-2.0, rel=1e-6)


def test_nmru_divides_by_a_reciprocal_weight():
    unit = NMRU(2, 1).eval()
    set_weights(unit.W, [1.0, 0.0, 0.0, 1.0])
    assert unit(torch.tensor([[-6.0, 3.0]])).item() == pytest.approx(-2.0)
    assert unit(torch.tensor([[6.0, -3.0]])).item() == pytest.approx(-2.0)


@pytest.mark.parametrize("Unit", [NMU, NMRU])
def test_a_multiplicative_unit_keeps_every_digit_of_small_inputs(Unit):
    unit = Unit(2, 1).double().eval()
    set_weights(unit.W, [1.0, 1.0] + [0.0, 0.0] * (Unit is NMRU))
    x = torch.tensor([[3.3e-10, 7.1e-9]], dtype=torch.float64)
    assert unit(x).item() == 3.3e-10 * 7.1e-9


@pytest.mark.parametrize("name", sorted(UNITS))
@pytest.mark.parametrize("n_copies", [None, 3])
def test_every_parameter_receives_a_gradient(name, n_copies):
    unit = UNITS[name](4, 2, n_copies=n_copies, generator=torch.Generator().manual_seed(0))
    x = torch.rand(16, 4) + 1
    loss = unit(x).square().mean() + unit.sparsity_loss().sum()
    loss.backward()
    for pname, p in unit.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", sorted(UNITS))
def test_copies_compute_what_each_copy_would_alone(name):
    batched = UNITS[name](4, 3, n_copies=5, generator=torch.Generator().manual_seed(1))
    x = torch.rand(8, 4) + 0.5
    out = batched(x)
    assert out.shape == (5, 8, 3)
    for k in range(5):
        single = UNITS[name](4, 3)
        single.load_state_dict({n: p[k] for n, p in batched.state_dict().items()})
        torch.testing.assert_close(out[k], single(x))


@pytest.mark.parametrize(
    ("unit", "values", "linear", "squared"),
    [
        (NAU, [0.0, 1.0, -1.0, 0.2, -0.7], [0, 0, 0, 0.2, 0.3], None),
        (NMU, [0.0, 1.0, 0.2, 0.7], [0, 0, 0.2, 0.3], None),
    ],
)
def test_sparsity_regularizer_shapes(unit, values, linear, squared):
    w = np.array(values)
    a = np.abs(w)
    for shape, expected in [("linear", linear), ("squared", w**2 * (1 - a) ** 2)]:
        layer = unit(len(values), 1, regularizer_shape=shape)
        set_weights(layer.W, values)
        assert layer.sparsity_loss().item() == pytest.approx(np.mean(expected))


def test_oob_regularizers_measure_distance_outside_the_bounds():
    nau = NAU(3, 1, oob_mode="regularized")
    set_weights(nau.W, [1.5, -2.0, 0.5])
    assert nau.oob_loss().item() == pytest.approx((0.5 + 1.0) / 3)
    nmu = NMU(3, 1, oob_mode="regularized")
    set_weights(nmu.W, [1.5, -0.25, 0.5])
    assert nmu.oob_loss().item() == pytest.approx((0.5 + 0.25) / 3)


@pytest.mark.parametrize(("unit", "low", "high"), [(NAU, -1.0, 1.0), (NMU, 0.0, 1.0)])
def test_clip_mode_projects_and_regularized_mode_does_not(unit, low, high):
    clipped = unit(2, 1, oob_mode="clip")
    free = unit(2, 1, oob_mode="regularized")
    for layer in (clipped, free):
        set_weights(layer.W, [3.0, -3.0])
        layer.constrain_()
    assert clipped.W.detach().numpy().ravel().tolist() == [high, low]
    assert free.W.detach().numpy().ravel().tolist() == [3.0, -3.0]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_a_projected_network_computes_what_the_clipping_one_does(name):
    network = ArithmeticNetwork(4, 1, units=(name, name), n_copies=3, seed=0)
    x = torch.rand(16, 4) + 0.5
    for unit in network.layers:
        for pname in unit.bounds:
            with torch.no_grad():
                getattr(unit, pname).mul_(3.0)  # out of bounds, for constrain_ to fix

    def output_and_gradients():
        network.zero_grad()
        out = network(x)
        out.square().mean().backward()
        return out.detach(), [p.grad.clone() for p in network.parameters()]

    with network.projected():
        assert all(u.within_bounds for u in network.layers)
        inside = output_and_gradients()
    assert not any(u.within_bounds for u in network.layers)
    outside = output_and_gradients()
    torch.testing.assert_close(inside[0], outside[0], rtol=0, atol=0)
    for a, b in zip(inside[1], outside[1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_regularized_unit_clips_its_weight_even_when_projected():
    network = ArithmeticNetwork(2, 1, units=("nau", "nmu"), oob_mode="regularized", seed=0)
    set_weights(network.layers[1].W, [3.0, -3.0])
    with network.projected():
        assert network.layers[1].weight.reshape(-1).tolist() == [1.0, 0.0]
    assert network.layers[1].W.reshape(-1).tolist() == [3.0, -3.0]


def test_unit_rejects_unknown_modes():
    with pytest.raises(ValueError, match="oob_mode"):
        NAU(2, 1, oob_mode="wrap")
    with pytest.raises(ValueError, match="regularizer_shape"):
        NMU(2, 1, regularizer_shape="cubic")


def test_network_keeps_one_copy():
    net = ArithmeticNetwork(3, 1, units=("nau", "nmu"), n_copies=4, seed=3)
    x = torch.rand(6, 3)
    before = net(x).detach()
    net.keep_copy_(2)
    torch.testing.assert_close(net(x).detach(), before[2])
    assert all(p.shape[0] == 1 for p in net.parameters())


def test_network_sparsity_error_is_max_distance_to_discrete():
    net = ArithmeticNetwork(2, 1, units=("nau", "nmu"), hidden_size=2)
    set_weights(net.layers[0].W, [[1.0, 0.0], [0.0, -0.9]])
    set_weights(net.layers[1].W, [[1.0, 0.97]])
    assert net.sparsity_error().item() == pytest.approx(0.1)


def test_linear_unit_is_plain_matrix_product():
    unit = Linear(2, 1)
    set_weights(unit.W, [2.0, -3.5])
    assert unit(torch.tensor([[1.0, 2.0]])).item() == pytest.approx(-5.0)


@pytest.mark.parametrize("unit", [NAU, NMU])
@pytest.mark.parametrize("shape", ["linear", "squared"])
def test_sparsity_regularizer_gradient_matches_its_formula(unit, shape):
    layer = unit(5, 4, n_copies=3, regularizer_shape=shape, oob_mode="regularized")
    set_weights(layer.W, torch.linspace(-1.4, 1.6, 60))
    layer.sparsity_loss().sum().backward()
    w = layer.W.detach().clone().requires_grad_(True)
    v = w.abs() if unit is NAU else w
    if shape == "linear":
        d = torch.minimum(v.abs(), (1 - v).abs())
    else:
        d = v.square() * (1 - v).square()
    d.mean(dim=(-1, -2)).sum().backward()
    torch.testing.assert_close(layer.W.grad, w.grad)


@pytest.mark.parametrize("unit", [NAU, NMU, NMRU, Linear, RealNPU])
@pytest.mark.parametrize("shape", ["linear", "squared"])
def test_closed_form_sparsity_gradient_equals_backpropagation(unit, shape):
    layer = unit(5, 4, n_copies=3, regularizer_shape=shape, oob_mode="regularized")
    set_weights(layer.W, torch.linspace(-2.4, 2.6, layer.W.numel()))
    (0.7 * layer.sparsity_loss().sum()).backward()
    w = layer.W.detach().clone().requires_grad_(True)
    t = layer.weight_targets
    step = 0.5 if t == "half-integer" else 1.0
    if t == "half-integer":
        v = w / step - torch.floor(w / step)
    else:
        v = w.abs() if -1.0 in t else w
    # The elementwise formula through autograd: the distance to {0, 1} of v, in
    # units of the weight.
    if shape == "linear":
        d = torch.minimum(v.abs(), (1 - v).abs()) * step
    else:
        d = v.square() * (1 - v).square() * step**4
    (0.7 * d.mean(dim=(-1, -2)).sum()).backward()
    torch.testing.assert_close(layer.W.grad, w.grad)
    torch.testing.assert_close(layer.sparsity_loss().detach(), d.mean(dim=(-1, -2)).detach())


@pytest.mark.parametrize("shape", ["linear", "squared"])
def test_sparsity_regularizer_of_any_set_of_targets(shape):
    class Halves(Linear):
        weight_targets = (-0.5, 0.0, 0.5, 1.0)

    layer = Halves(3, 1, regularizer_shape=shape)
    set_weights(layer.W, [0.3, -0.4, 1.2])
    layer.sparsity_loss().backward()
    w = torch.tensor([0.3, -0.4, 1.2], requires_grad=True)
    if shape == "linear":  # distance to the nearest target
        d = torch.stack([(w[0] - 0.5).abs(), (w[1] + 0.5).abs(), (w[2] - 1.0).abs()])
    else:  # product of the distances to the two nearest, squared
        d = torch.stack(
            [(w[0] - 0.5) * w[0], (w[1] + 0.5) * w[1], (w[2] - 1.0) * (w[2] - 0.5)]
        ).square()
    d.mean().backward()
    torch.testing.assert_close(layer.W.grad.ravel(), w.grad)


def test_real_npu_sparsity_is_measured_against_the_multiples_of_a_half():
    net = ArithmeticNetwork(1, 1, units=("npu",), hidden_size=1)
    for power in (2.0, 0.5, -1.5):
        set_weights(net.layers[0].W, [[power]])
        set_weights(net.layers[0].g, [1.0])
        assert net.sparsity_error().item() == 0.0
        assert net.layers[0].sparsity_loss().item() == 0.0
    set_weights(net.layers[0].W, [[1.7]])
    assert net.sparsity_error().item() == pytest.approx(0.2)


@pytest.mark.parametrize("unit", [NAU, NAC, Linear])
def test_load_linear_map_writes_the_map_exactly(unit):
    layer = unit(3, 2, n_copies=1)
    weight = torch.tensor([[[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]])
    layer.load_linear_map_(weight)
    assert torch.equal(layer.linear_map().detach(), weight)


def _outside(unit, x):
    """The rows of ``x`` outside the unit's domain, for any reason, as a list of bools."""
    x = torch.as_tensor(x, dtype=torch.get_default_dtype())
    rows = torch.zeros(x.shape[-2], dtype=torch.bool)
    for violation in unit.domain_violations(x):
        rows |= violation.rows.reshape(-1, x.shape[-2]).any(0)
    return rows.tolist()


@pytest.mark.parametrize("unit", [NAU, NAC, NMU, Linear])
def test_units_defined_everywhere_have_no_domain(unit):
    layer = unit(2, 1)
    assert layer.domain_violations(torch.tensor([[-3.0, 0.0], [1e-300, -1e300]])) == []


@pytest.mark.parametrize("name", sorted(UNITS))
@pytest.mark.parametrize("n_copies", [None, 3])
def test_every_unit_reports_one_flag_per_row(name, n_copies):
    unit = UNITS[name](4, 2, n_copies=n_copies, generator=torch.Generator().manual_seed(0))
    x = torch.tensor([[-2.0, 0.0, 1e-9, 3.0]]).repeat(5, 1)
    if n_copies is not None:
        x = x.expand(n_copies, 5, 4)
    for violation in unit.domain_violations(x, ["a", "b", "c", "d"]):
        assert violation.rows.dtype == torch.bool and violation.rows.shape[-1] == 5
        assert isinstance(violation.reason, str) and violation.reason


def test_real_npu_flags_a_square_root_of_a_negative_input():
    unit = RealNPU(1, 1)
    set_weights(unit.W, [0.5])
    set_weights(unit.g, [1.0])
    assert _outside(unit, [[-4.0], [0.0], [4.0]]) == [True, False, False]
    (violation,) = unit.domain_violations(torch.tensor([[-4.0]]), ["a"])
    assert "a to the power 1/2 (a square root)" in violation.reason
    assert "negative input" in violation.reason


def test_real_npu_integer_powers_and_closed_gates_are_defined_everywhere():
    unit = RealNPU(2, 1)
    set_weights(unit.W, [2.0, 0.5])
    set_weights(unit.g, [1.0, 0.0])  # the root's input is switched off
    assert _outside(unit, [[-3.0, -4.0], [0.0, 0.0]]) == [False, False]


def test_real_npu_flags_a_division_by_zero_unless_the_product_is_zero():
    unit = RealNPU(2, 1)
    set_weights(unit.W, [1.0, -1.0])
    set_weights(unit.g, [1.0, 1.0])
    assert _outside(unit, [[1.0, 0.0], [0.0, 0.0], [1.0, 1e-300]]) == [True, True, False]
    # x · x^(-1/2) is √x, 0 at 0: a positive total power of the zero inputs.
    set_weights(unit.W, [1.0, -0.5])
    assert _outside(unit, [[0.0, 0.0], [1.0, 0.0]]) == [False, True]


def test_nmru_flags_a_divisor_within_its_eps_of_zero():
    unit = NMRU(2, 1)
    set_weights(unit.W, [1.0, 0.0, 0.0, 1.0])  # a / b
    rows = [[0.0, 2.0], [1.0, 0.0], [1.0, -5e-8], [1.0, 1e-6]]
    assert _outside(unit, rows) == [False, True, True, False]
    set_weights(unit.W, [1.0, 1.0, 0.0, 0.0])  # a · b: no division
    assert _outside(unit, rows) == [False, False, False, False]


def test_nac_mul_flags_inputs_near_zero_and_an_odd_number_of_negative_factors():
    unit = NACMul(2, 1)
    set_weights(unit.W_hat, [1000.0, 1000.0])
    set_weights(unit.M_hat, [1000.0, 1000.0])  # |x0| · |x1|
    rows = [[2.0, 3.0], [1e-7, 3.0], [-2.0, 3.0], [-2.0, -3.0], [0.5, 0.5]]
    assert _outside(unit, rows) == [False, True, True, False, False]
    reasons = [v.reason for v in unit.domain_violations(torch.tensor(rows), ["a", "b"])]
    assert any("log(|a| + ε)" in r for r in reasons) and any("sign" in r for r in reasons)


def test_nalu_flags_its_multiplicative_path_only_where_the_gate_opens_it():
    unit = NALU(2, 1)
    set_weights(unit.W_hat, [1000.0, 1000.0])
    set_weights(unit.M_hat, [1000.0, 1000.0])
    rows = [[-2.0, 3.0], [1e-8, 3.0]]
    set_weights(unit.G, [0.0, -1000.0])  # the gate picks the product
    assert _outside(unit, rows) == [True, True]
    set_weights(unit.G, [0.0, 1000.0])  # the gate picks the sum
    assert _outside(unit, rows) == [False, False]


def test_inalu_flags_clamped_inputs_and_its_clip_but_not_negative_inputs():
    unit = INALU(2, 1)
    for p in (unit.W_hat_mul, unit.M_hat_mul):
        set_weights(p, [1000.0, 1000.0])
    set_weights(unit.g_hat, [-1000.0])  # the product path only
    rows = [[-2.0, 3.0], [0.0, 3.0], [1e-9, 3.0], [1e5, 1e5]]
    assert _outside(unit, rows) == [False, False, True, True]
    set_weights(unit.g_hat, [1000.0])  # the sum path only
    assert _outside(unit, rows) == [False, False, False, False]
