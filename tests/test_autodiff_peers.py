"""Values and gradients against PyTorch and JAX autodiff, where installed (skipped cleanly otherwise)."""

import numpy as np
import pytest


RNG = np.random.default_rng(42)
Z = RNG.standard_normal((6, 9)) * 3
LABELS = RNG.integers(0, 9, 6)
T = RNG.random((6, 9))
T /= T.sum(axis=-1, keepdims=True)
V = RNG.standard_normal((6, 9))


def _close(ours, theirs):
    scale = np.max(np.abs(theirs), axis=-1, keepdims=True) if np.ndim(theirs) else abs(theirs)
    assert np.all(np.abs(ours - theirs) <= 1e-13 * (scale + 1e-300))


def test_against_pytorch(g):
    torch = pytest.importorskip("torch")
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    _close(g.softmax(Z), torch.softmax(z, -1).detach().numpy())
    _close(g.log_softmax(Z), torch.log_softmax(z, -1).detach().numpy())
    for target, torch_target in ((LABELS, torch.tensor(LABELS)), (T, torch.tensor(T))):
        loss = torch.nn.functional.cross_entropy(z, torch_target, reduction="none")
        _close(g.cross_entropy(Z, target), loss.detach().numpy())
        (grad,) = torch.autograd.grad(loss.sum(), z)
        _close(g.cross_entropy_grad(Z, target), grad.numpy())
    (vjp,) = torch.autograd.grad(torch.softmax(z, -1), z, torch.tensor(V))
    _close(g.softmax_vjp(Z, V), vjp.numpy())
    jac = torch.autograd.functional.jacobian(lambda x: torch.softmax(x, -1), z[0].detach())  # [k, j] = dy_k/dz_j
    _close(g.softmax_jacobian(Z[0]), jac.numpy().T)


def test_against_jax(g):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    _close(g.softmax(Z), np.asarray(jax.nn.softmax(Z)))
    _close(g.log_softmax(Z), np.asarray(jax.nn.log_softmax(Z)))

    def loss(z, t):
        return -jnp.sum(t * jax.nn.log_softmax(z), axis=-1)

    onehot = np.eye(9)[LABELS]
    for target, dense in ((LABELS, onehot), (T, T)):
        _close(g.cross_entropy(Z, target), np.asarray(loss(Z, dense)))
        _close(g.cross_entropy_grad(Z, target), np.asarray(jax.grad(lambda z, d=dense: loss(z, d).sum())(Z)))
    _, pullback = jax.vjp(jax.nn.softmax, Z)
    _close(g.softmax_vjp(Z, V), np.asarray(pullback(V)[0]))
    _close(g.softmax_jacobian(Z[0]), np.asarray(jax.jacobian(jax.nn.softmax)(Z[0])).T)
