"""Benchmark: latent PGD and latent randomized-smoothing certification, each beside a plain-PyTorch loop doing the
same work in the same process.

    python benchmarks/bench_attacks.py            # GPU: batch 128, 50 steps; CPU: batch 32, 10 steps (about 1-2 minutes)
    python benchmarks/bench_attacks.py --full     # batch 128, 50 steps, 4 certified examples, also on CPU (slow there)
    python benchmarks/bench_attacks.py --quick    # linear CVAE, tiny sizes: a smoke test in seconds

Certification is always n0=100, n=1000. On CPU the default attack size is reduced and the time for a batch of 128 and
50 steps is also printed as a linear extrapolation (the cost is linear in batch and steps).

Reports seconds per batch for 50 latent PGD steps and seconds per certified example, and the ratio pertlearn / plain
(≈ 1 means the library adds no overhead). Uses the MNIST-RTS conv CVAE (1×42×42, latent 128) when
`pertlearn.models.mnist` is importable, else a linear CVAE. Weights are random: speed does not depend on training.
"""
from __future__ import annotations
import argparse, time
import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import beta, norm

from pertlearn.perturbation import PerturbationSet, sample_ball, project_l2
from pertlearn.attacks import LatentPGD
from pertlearn.certify import LatentSmoother
from pertlearn.models.classifiers import MNISTConvNet


def make_set(device, arch):
    if arch in ('conv', 'stn'):
        try:
            from pertlearn.models.mnist import ConvCVAE, STNCVAE
            cv = (ConvCVAE if arch == 'conv' else STNCVAE)(latent=128, size=42)
            return PerturbationSet(cv.to(device)), (1, 42, 42), f"{type(cv).__name__} (1×42×42, latent 128, {sum(p.numel() for p in cv.parameters())/1e6:.2f}M params)"
        except ImportError:
            print("pertlearn.models.mnist not available: falling back to LinearCVAE")
    from pertlearn.cvae import LinearCVAE
    cv = LinearCVAE(42 * 42, 128)
    return PerturbationSet(cv.to(device)), (42 * 42,), "LinearCVAE (1764-d, latent 128)"


class Flat2Img(torch.nn.Module):
    "Lets the image classifier read the linear CVAE's flat vectors."
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x): return self.m(x.view(-1, 1, 42, 42))


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def timeit(fn, device, reps, warmup=None):
    (warmup or fn)(); sync(device)  # warm-up (a small call: allocator, kernels, thread pool)
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); sync(device); ts.append(time.perf_counter() - t)
    return min(ts)


def plain_latent_pgd(model, ps, x, y, eps, steps, gen):
    "The same attack written out: random start, normalised-gradient steps of ε/20, per-example projection, best iterate."
    with torch.no_grad():
        mu, lv = ps.cvae.prior(x); mu, sd = mu.flatten(1), torch.exp(0.5 * lv).flatten(1)
    B, d = mu.shape
    u = sample_ball(B, d, eps, 'uniform', gen, device=x.device)
    best_u, best_v = u.clone(), torch.full((B,), -float('inf'), device=x.device)
    for t in range(steps + 1):
        u = u.detach().requires_grad_(True)
        logits = model(ps.cvae.generator(mu + sd * u, x))
        v = F.cross_entropy(logits, y, reduction='none')
        g, = torch.autograd.grad(v.sum(), u)
        with torch.no_grad():
            vt = v + 1e6 * (logits.argmax(1) != y).float()
            better = vt > best_v; best_v = torch.where(better, vt, best_v); best_u = torch.where(better[:, None], u, best_u)
            if t == steps: break
            gn = g.norm(dim=1, keepdim=True)
            u = project_l2(u + eps / 20 * torch.where(gn > 0, g / gn.clamp_min(1e-12), torch.zeros_like(g)), eps)
    return best_u


@torch.no_grad()
def plain_certify_one(model, ps, x1, sigma, n0, n, alpha, batch, gen, C=10):
    "Cohen et al.'s CERTIFY for one input, written out."
    mu, lv = ps.cvae.prior(x1); mu, sd = mu.flatten(1), torch.exp(0.5 * lv).flatten(1)
    def counts(num):
        c = torch.zeros(C, dtype=torch.long, device=x1.device); left = num
        while left > 0:
            m = min(batch, left)
            u = sigma * torch.randn(m, mu.shape[1], generator=gen, device=x1.device)
            pred = model(ps.cvae.generator(mu + sd * u, x1.expand(m, *x1.shape[1:]))).argmax(1)
            c += torch.bincount(pred, minlength=C); left -= m
        return c
    cA = int(counts(n0).argmax()); nA = int(counts(n)[cA])
    pA = beta.ppf(alpha, nA, n - nA + 1) if nA > 0 else 0.0
    return (cA, sigma * norm.ppf(pA)) if pA >= 0.5 else (-1, 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='linear CVAE, batch 8, 5 steps, 1 certified example')
    ap.add_argument('--full', action='store_true', help='batch 128, 50 steps, 4 certified examples, even on CPU')
    ap.add_argument('--arch', default=None, choices=['conv', 'stn', 'linear'], help='CVAE to attack through (default conv; linear with --quick)')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--batch', type=int, default=None); ap.add_argument('--steps', type=int, default=None)
    ap.add_argument('--n-cert', type=int, default=None, help='examples to certify')
    ap.add_argument('--reps', type=int, default=None, help='timed repetitions (the minimum is reported)')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch\'s choice)')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    gpu = args.device.startswith('cuda')
    B, steps, n_cert, reps = ((128, 50, 4, 3) if (args.full or gpu) and not args.quick else (8, 5, 1, 1) if args.quick else (32, 10, 1, 1))
    B, steps = args.batch or B, args.steps or steps
    n_cert, reps = args.n_cert or n_cert, args.reps or reps
    arch = args.arch or ('linear' if args.quick else 'conv')
    dev = torch.device(args.device)
    torch.manual_seed(0)
    ps, shape, desc = make_set(dev, arch)
    clf = MNISTConvNet().to(dev).eval()
    model = clf if len(shape) == 3 else Flat2Img(clf).eval()
    x = torch.rand(B, *shape, generator=torch.Generator().manual_seed(0)).to(dev)
    with torch.no_grad(): y = model(x).argmax(1)  # labels = clean predictions: every example gets attacked
    eps = 5.0
    print(f"device {dev}, threads {torch.get_num_threads()}; set: {desc}; classifier: MNISTConvNet")

    # --- latent PGD: early stop off so both do exactly `steps` steps on every example
    atk = LatentPGD(model, ps, eps, steps=steps, restarts=1, early_stop=False, generator=torch.Generator(dev).manual_seed(0))
    small = LatentPGD(model, ps, eps, steps=1, restarts=1, early_stop=False, generator=0)
    t_lib = timeit(lambda: atk(x, y), dev, reps, lambda: small(x[:2], y[:2]))
    t_plain = timeit(lambda: plain_latent_pgd(model, ps, x, y, eps, steps, torch.Generator(dev).manual_seed(0)), dev, reps,
                     lambda: plain_latent_pgd(model, ps, x[:2], y[:2], eps, 1, torch.Generator(dev).manual_seed(0)))
    print(f"latent PGD, batch {B}, {steps} steps:  pertlearn {t_lib:.3f} s   plain loop {t_plain:.3f} s   ratio {t_lib / t_plain:.2f}")
    if (B, steps) != (128, 50):
        f = 128 / B * 50 / steps
        print(f"   extrapolated to batch 128, 50 steps:  pertlearn {t_lib * f:.1f} s   plain loop {t_plain * f:.1f} s")

    # --- certification: n0=100, n=1000 per example, 1100 members per example in forward passes of up to 550
    n0, n, alpha, bsz, sigma = 100, 1000, 0.001, 550, 1.0
    xc = x[:n_cert]
    sm = LatentSmoother(model, ps, sigma, 10, batch=bsz)
    t_lib = timeit(lambda: [sm.certify(xc[i:i+1], n0, n, alpha, generator=torch.Generator(dev).manual_seed(i)) for i in range(n_cert)], dev, reps,
                   lambda: sm.certify(xc[:1], 2, 2, alpha, generator=0)) / n_cert
    t_plain = timeit(lambda: [plain_certify_one(model, ps, xc[i:i+1], sigma, n0, n, alpha, bsz, torch.Generator(dev).manual_seed(i)) for i in range(n_cert)], dev, reps,
                     lambda: plain_certify_one(model, ps, xc[:1], sigma, 2, 2, alpha, bsz, torch.Generator(dev).manual_seed(0))) / n_cert
    print(f"certify (n0={n0}, n={n}), per example:  pertlearn {t_lib:.3f} s   plain loop {t_plain:.3f} s   ratio {t_lib / t_plain:.2f}")


if __name__ == '__main__':
    main()
