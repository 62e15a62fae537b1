"""GANLoss and R1GradientPenalty against hand computations."""
import math

import pytest
import torch

from restorekit.models.losses.gan import GANLoss, R1GradientPenalty
from restorekit.registry import LOSSES

LOGITS = [-2.0, -0.5, 0.0, 1.5]
PRED = torch.tensor(LOGITS).view(1, 1, 2, 2)


def mean(values):
    return sum(values) / len(values)


def softplus(x):
    return math.log1p(math.exp(x))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def bce(x, label):
    return -(label * math.log(sigmoid(x)) + (1 - label) * math.log(1 - sigmoid(x)))


# (gan_type, kwargs, target_is_real, is_disc, expected value before loss_weight)
CASES = [
    ('vanilla', {}, True, True, mean([bce(x, 1.0) for x in LOGITS])),
    ('vanilla', {}, False, True, mean([bce(x, 0.0) for x in LOGITS])),
    ('vanilla', {}, True, False, mean([bce(x, 1.0) for x in LOGITS])),
    ('vanilla', dict(real_label=0.9,
                     fake_label=0.1), True, True, mean([bce(x, 0.9) for x in LOGITS])),
    ('vanilla', dict(real_label=0.9,
                     fake_label=0.1), False, True, mean([bce(x, 0.1) for x in LOGITS])),
    ('lsgan', {}, True, True, mean([(x - 1)**2 for x in LOGITS])),
    ('lsgan', {}, False, True, mean([x**2 for x in LOGITS])),
    ('lsgan', {}, True, False, mean([(x - 1)**2 for x in LOGITS])),
    ('lsgan', dict(real_label=0.5,
                   fake_label=-0.5), False, True, mean([(x + 0.5)**2 for x in LOGITS])),
    ('hinge', {}, True, True, mean([max(0.0, 1 - x) for x in LOGITS])),
    ('hinge', {}, False, True, mean([max(0.0, 1 + x) for x in LOGITS])),
    ('hinge', {}, True, False, -mean(LOGITS)),
    ('nonsaturating', {}, True, True, mean([softplus(-x) for x in LOGITS])),
    ('nonsaturating', {}, False, True, mean([softplus(x) for x in LOGITS])),
    ('nonsaturating', {}, True, False, mean([softplus(-x) for x in LOGITS])),
]


@pytest.mark.parametrize('gan_type, kwargs, target_is_real, is_disc, expected', CASES)
def test_values_by_hand(gan_type, kwargs, target_is_real, is_disc, expected):
    loss = GANLoss(gan_type=gan_type, loss_weight=3.0, **kwargs)
    value = loss(PRED, target_is_real=target_is_real, is_disc=is_disc)
    assert value.dim() == 0
    # loss_weight weights the generator's loss only.
    assert value.item() == pytest.approx(expected * (1.0 if is_disc else 3.0), rel=1e-5)


def test_vanilla_and_nonsaturating_agree_at_the_default_labels():
    for target_is_real in (True, False):
        vanilla = GANLoss('vanilla')(PRED, target_is_real, is_disc=True)
        nonsaturating = GANLoss('nonsaturating')(PRED, target_is_real, is_disc=True)
        assert vanilla.item() == pytest.approx(nonsaturating.item(), rel=1e-6)


def test_hinge_generator_and_discriminator_differ():
    loss = GANLoss('hinge')
    # A confident "real" logit: the discriminator's real term saturates at 0, the generator's
    # keeps pushing.
    confident = torch.tensor([3.0])
    assert loss(confident, True, is_disc=True).item() == 0.0
    assert loss(confident, True, is_disc=False).item() == -3.0


def test_gradients_flow_to_the_logits():
    pred = PRED.clone().requires_grad_(True)
    GANLoss('lsgan')(pred, True, is_disc=False).backward()
    expected = 2 * (PRED - 1) / PRED.numel()
    assert torch.allclose(pred.grad, expected)


def test_bfloat16_logits_give_a_float32_loss():
    value = GANLoss('vanilla')(PRED.bfloat16(), True, is_disc=True)
    assert value.dtype == torch.float32


def test_built_from_the_registry_with_a_name():
    loss = LOSSES.build(dict(type='GANLoss', gan_type='hinge', loss_weight=0.1))
    assert loss.name == 'gan' and loss.gan_type == 'hinge'
    assert LOSSES.build(dict(type='GANLoss', name='adv')).name == 'adv'
    assert LOSSES.build(dict(type='R1GradientPenalty')).name == 'r1'


def test_configuration_errors():
    with pytest.raises(ValueError, match='gan_type must be one of'):
        GANLoss('wgan')
    with pytest.raises(ValueError, match='only used by'):
        GANLoss('hinge', real_label=0.9)
    with pytest.raises(ValueError, match='target_is_real=True'):
        GANLoss('hinge')(PRED, target_is_real=False, is_disc=False)
    with pytest.raises(ValueError, match='interval must be a positive integer'):
        R1GradientPenalty(interval=0)


class QuadraticCritic(torch.nn.Module):
    """D(x) = a * sum(x^2) per image, so grad_x D = 2 a x and ||grad||^2 = 4 a^2 sum(x^2)."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x.square().flatten(1).sum(1)


@pytest.mark.parametrize('interval', [1, 4])
def test_r1_on_a_quadratic_critic_has_the_analytic_value(interval):
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(3, 2, 4, 5, generator=generator).requires_grad_(True)
    critic = QuadraticCritic(0.7)
    penalty = R1GradientPenalty(loss_weight=5.0, interval=interval)
    value = penalty(critic(real), real)
    squared_sums = real.detach().square().flatten(1).sum(1)
    expected = 5.0 * interval * (4 * 0.7**2 * squared_sums).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    # The penalty trains the critic: d/da = 5 * interval * mean(8 a sum(x^2)).
    value.backward()
    expected_grad = 5.0 * interval * (8 * 0.7 * squared_sums).mean()
    assert critic.a.grad.item() == pytest.approx(expected_grad.item(), rel=1e-5)


def test_r1_lazy_schedule_and_input_check():
    penalty = R1GradientPenalty(interval=3)
    assert [penalty.is_due(step)
            for step in range(7)] == [True, False, False, True, False, False, True]
    real = torch.randn(1, 1, 2, 2)
    with pytest.raises(ValueError, match='requires_grad_'):
        penalty(QuadraticCritic(1.0)(real), real)
