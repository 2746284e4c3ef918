"""How fast does the approximation error's search converge? The fixed normalised steps the package used until issue 28
(ε/20 at 50 steps, `latent_pgd` on −d from the encoder's code and from random starts) against the spectral projected
gradient steps `approximation_error` takes now, at several budgets, on the shipped MNIST-RTS set.

Pairs: the first 200 validation pairs of the embedded digits (`mnist_rts_dls(load_mnist('embedded'), seed=0)`); ε is
the median offset of the other validation pairs. Every number is the mean MSE approximation error over the 200 pairs
(lower is better: each is an upper bound on the true minimum) and the search's wall time.

    python benchmarks/studies/quality_convergence.py            # writes benchmarks/results/quality_convergence.md
"""
from __future__ import annotations
import argparse, platform, time
from pathlib import Path
import torch

RESULTS = Path(__file__).resolve().parent.parent / 'results'


def fixed_step(ps, x, xt, eps, steps, restarts, seed):
    "The earlier search: normalised steps of `default_step_size(ε, steps)` from Π_ε(u_enc) and `restarts` random starts."
    from pertlearn.perturbation import latent_pgd, project_l2, default_step_size
    from pertlearn.metrics import mse_dist, _random_start
    g = torch.Generator().manual_seed(seed)
    obj = lambda xm, _: -mse_dist(xm, xt)
    with torch.no_grad(): u0 = project_l2(ps.encode(x, xt), eps)
    _, best = latent_pgd(obj, ps, x, eps, steps, default_step_size(eps, steps), restarts=1, init=u0)
    for _ in range(restarts):
        _, v = latent_pgd(obj, ps, x, eps, steps, default_step_size(eps, steps), restarts=1, init=_random_start(len(x), ps.latent_dim, eps, g, x))
        best = torch.maximum(best, v)
    return -best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n', type=int, default=200); ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls
    from pertlearn.metrics import approximation_error
    ps = PerturbationSet.pretrained('mnist-rts')
    dls = mnist_rts_dls(load_mnist('embedded'), bs=64, seed=0, device='cpu', n_test=8)
    xv, xtv = (torch.cat(t) for t in zip(*[(b[0], b[1]) for b in dls.valid]))
    x, xt = xv[:a.n], xtv[:a.n]
    ps.choose_eps((xv[a.n:], xtv[a.n:])); eps = float(ps.eps)
    rows = []
    def record(method, steps, restarts, fn):
        t0 = time.perf_counter(); v = fn(); s = time.perf_counter() - t0
        rows.append((method, steps, restarts, float(v.mean()), s)); print(rows[-1], flush=True)
    for steps, r in [(50, 1), (100, 1), (200, 1), (400, 3)]:
        record('fixed ε/20-style steps (before)', steps, r, lambda: fixed_step(ps, x, xt, eps, steps, r, 0))
    for steps, r in [(25, 1), (50, 1), (100, 1), (200, 2), (400, 3)]:
        record('spectral (now)', steps, r, lambda: approximation_error(ps, x, xt, eps, steps=steps, restarts=r, generator=torch.Generator().manual_seed(0)))
    lines = ['# Approximation error: fixed against spectral steps', '',
             f"Machine: {platform.machine()}, torch {torch.__version__}, {a.threads} threads. Set: the shipped `mnist-rts` "
             f"(latent {ps.latent_dim}); {a.n} validation pairs of the embedded digits, ε = {eps:.3f} (median offset of the other "
             "validation pairs). Mean MSE approximation error (lower is better; each is an upper bound on the minimum).", '',
             '    python benchmarks/studies/quality_convergence.py', '',
             '| search | steps | random starts (besides the encoder\'s) | mean error | seconds |', '|---|---|---|---|---|']
    lines += [f"| {m} | {s} | {r} | {v:.6f} | {t:.1f} |" for m, s, r, v, t in rows]
    RESULTS.mkdir(exist_ok=True); (RESULTS / 'quality_convergence.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
