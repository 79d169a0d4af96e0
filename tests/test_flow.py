import torch

from zsl_app.core.heads.flow import Flow


def _trained_like_flow(dim=8, seed=0):
    torch.manual_seed(seed)
    flow = Flow(dim, steps=4, hidden=16, seed=seed).double()
    flow(torch.randn(64, dim, dtype=torch.float64) * 3 + 1)  # data-dependent init
    with torch.no_grad():  # move away from the identity start so the test means something
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return flow


def test_invertible():
    flow = _trained_like_flow(dim=32).float()
    x = torch.rand(50, 32)
    z, _ = flow(x)
    assert (z - x).abs().max() > 1e-2  # not the identity
    assert (flow.inverse(z) - x).abs().max() < 1e-4


def test_log_det_matches_autograd_jacobian():
    flow = _trained_like_flow(dim=6)
    x = torch.randn(1, 6, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: flow(v)[0], x).reshape(6, 6)
    _, log_det = flow(x)
    assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, log_det, atol=1e-8)


def test_starts_as_identity_after_init_up_to_actnorm():
    flow = Flow(8, steps=2, hidden=16)
    x = torch.rand(32, 8)
    z, _ = flow(x)  # ActNorm standardises; couplings add zero at the start
    assert torch.allclose(z.std(0).sort().values, torch.ones(8), atol=0.2)



def test_channels_constant_in_the_first_batch_are_centred_not_blown_up_over_many_steps():
    torch.manual_seed(0)
    x = torch.rand(64, 8)
    x[:, :3] = 0.5  # constant in the init batch: near-duplicate photos, sparse features
    flow = Flow(8, steps=8, hidden=16)
    flow(x)  # data-dependent init; the couplings add 0, so every step sees three constant channels
    assert torch.equal(flow.steps[0].norm.log_scale[:3], torch.zeros(3))  # only centred
    assert torch.allclose(flow.steps[0].norm.log_scale[3:], -torch.log(x[:, 3:].std(0)))  # the others standardised
    with torch.no_grad():  # a few training steps later the couplings write into those channels
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    z, log_det = flow(torch.rand(64, 8))
    assert z.abs().max() < 1e3 and torch.isfinite(log_det)  # a 1e-3 std floor scaled them by 1000 per step
