"Mechanisms every result rests on: projection, zero gradients, resumption, clear errors on bad input."
import gzip, json, math
from pathlib import Path
import pytest, torch
from pertlearn.cvae import LinearCVAE, CVAELoss, save_cvae
from pertlearn.architectures import load_cvae
from pertlearn.perturbation import PerturbationSet, project_l2, latent_pgd
from pertlearn.theory import approximation_error
from pertlearn.models.mnist import ConvCVAE, STNCVAE
from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls
from pertlearn.train import train_cvae, InterruptAfter, _Interrupt


def test_projection_mixed_norms_per_example():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([1e-3, 0.5, 1., 2., 7., 1e3]).repeat(20)
    u = torch.randn(len(scales), 128, generator=g) * scales[:, None] / math.sqrt(128)
    for eps in (0.1, 1.0, 5.0):
        p = project_l2(u, eps)
        assert (p.norm(dim=1) <= eps * (1 + 1e-5)).all()
        inside = u.norm(dim=1) <= eps
        assert torch.allclose(p[inside], u[inside])          # identity inside the ball
        # each example only rescaled, never mixed with others (the reference's batch-wise renorm bug)
        cos = torch.nn.functional.cosine_similarity(p, u, dim=1)
        assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)
    # image-shaped latents are projected per example too
    v = torch.randn(4, 3, 8, 8, generator=g) * 10
    assert (project_l2(v, 1.0).flatten(1).norm(dim=1) <= 1 + 1e-5).all()


def _linear_set():
    torch.manual_seed(0)
    return PerturbationSet(LinearCVAE(6, 3), eps=2.0)


def test_zero_gradient_gives_no_nan():
    ps = _linear_set(); x = torch.randn(8, 6)
    flat = lambda xm, u: (xm * 0).sum(1)        # gradient exactly zero everywhere
    u, v = latent_pgd(flat, ps, x, steps=10, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(u).all() and torch.isfinite(v).all()
    # a search started exactly at its optimum: the gradient of the distance vanishes there, the step is zero
    xt = ps.decode(torch.zeros(8, 3), x).detach()
    u, negd = latent_pgd(lambda xm, u: -((xm - xt)**2).mean(1), ps, x, steps=10, init=torch.zeros(8, 3))
    assert torch.isfinite(u).all() and torch.equal(negd, torch.zeros(8))
    err = approximation_error(ps, x, xt, steps=10, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(err).all()


def test_bad_inputs_raise_clear_errors(tmp_path):
    m = STNCVAE(latent=8, ch=4, n_stn=1)
    x = torch.rand(2, 1, 42, 42)
    with pytest.raises(ValueError, match='expects'): m(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match='NaN'): m(torch.full_like(x, float('nan')), x)
    with pytest.raises(TypeError, match='float'): m((x * 255).to(torch.uint8), x)
    with pytest.raises(ValueError, match='same shape'): m(x, torch.rand(3, 1, 42, 42))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'nowhere')): load_mnist('raw', tmp_path / 'nowhere')
    with pytest.raises((FileNotFoundError, ValueError), match='mnist'): load_mnist('pickle', tmp_path / 'mnist.pkl.gz')
    # a truncated checkpoint is reported as such, and loading never unpickles
    p = tmp_path / 'm.safetensors'; save_cvae(m, p)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(ValueError, match='corrupt or truncated'): load_cvae(p)
    ps = PerturbationSet(m, eps=1.)
    with pytest.raises(ValueError, match='latent_dim'): ps.decode(torch.zeros(2, 9), x)


def test_resume_after_interruption_gives_identical_weights(tmp_path):
    def tiny(): return ConvCVAE(latent=8, ch=4, enc_ch=4), mnist_rts_dls(n_train=128, n_valid=32, bs=32, seed=0, device='cpu')
    torch.manual_seed(0); m, dls = tiny()
    train_cvae(m, dls, epochs=3, lr_max=2e-3, ckpt_dir=tmp_path / 'a', progress=False)
    full = m.state_dict()
    torch.manual_seed(0); m, dls = tiny()
    with pytest.raises(_Interrupt):
        train_cvae(m, dls, epochs=3, lr_max=2e-3, ckpt_dir=tmp_path / 'b', progress=False, cbs=[InterruptAfter(1)])
    torch.manual_seed(999); m, dls = tiny()          # a new process: other RNG state, fresh weights
    learn = train_cvae(m, dls, epochs=3, lr_max=2e-3, ckpt_dir=tmp_path / 'b', progress=False)
    assert len(learn.history.rows) == 3
    for k, v in full.items(): assert torch.equal(v, m.state_dict()[k]), k
    meta = json.loads((tmp_path / 'b' / 'last.json').read_text())
    assert meta['epoch'] == 2


def test_same_seed_same_numbers():
    def run():
        torch.manual_seed(0); m = ConvCVAE(latent=8, ch=4, enc_ch=4)
        learn = train_cvae(m, mnist_rts_dls(n_train=64, n_valid=32, bs=32, seed=0, device='cpu'), epochs=1, progress=False)
        return learn.history.rows[-1]['valid_loss']
    assert run() == run()
