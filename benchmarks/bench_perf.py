"""Issue-12 benchmark: today's code path against the faster defaults, in ONE process, as ratios.

For the default STN CVAE (`STNCVAE()`, ch=32, latent 128) and a reference-sized one (ch=5: generator 128→1764, five STN
MLPs 1764→512→128→6, head convs 5→5→1, as in the paper's code), with the `MNISTConvNet` classifier, it measures

  training   images/s of a plain-PyTorch CVAE training loop (fused Adam, negative ELBO, batch 128)
  PGD        s/batch of latent PGD (batch 128, 50 steps, no early stop): `LatentPGD` with the old layout
             (PERTLEARN_CHANNELS_LAST=0, "before") and the new default ("after"), and a plain-PyTorch loop of the same attack
  certify    s/example of `LatentSmoother.certify` (n0=100, n=1000): today's counting code (kept below as
             `legacy_counts`, batch 1000, "before") against the new default (batch 1000, channels-last, inference mode,
             broadcast views instead of copies)
  FLOPs      forward FLOPs per image (prior + recognition + generator, `torch.utils.flop_counter`)
  peak RSS   the process high-water mark after each model (monotone: read the increase)

The allocator (`pertlearn.utils.tune_allocator`) is process-wide and cannot be undone, so the run has two phases: phase 1
with glibc's default allocator runs before/after interleaved (the code speed-up); then `tune_allocator()` and phase 2 runs
them again (the allocator speed-up). Each time is the minimum over `--reps` interleaved repetitions, so a loaded machine
still gives meaningful ratios.

    python benchmarks/bench_perf.py                 # full sizes (make bench; ~10 min on 2 cores)
    python benchmarks/bench_perf.py --quick         # tiny sizes: a smoke test in seconds
    python benchmarks/bench_perf.py --steps 10      # fewer PGD steps (times are also given per 50 steps)
"""
from __future__ import annotations
import argparse, os, platform, resource, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from bench_attacks import plain_latent_pgd, plain_certify_one
from pertlearn.utils import tune_allocator
from pertlearn.models.mnist import STNCVAE
from pertlearn.models.classifiers import MNISTConvNet
from pertlearn.perturbation import PerturbationSet
from pertlearn.attacks import LatentPGD, frozen_eval, device_generator
from pertlearn.certify import LatentSmoother
from pertlearn.cvae import CVAELoss
from pertlearn.train import adam


@torch.no_grad()
def legacy_counts(sm, x, n, generator=None, batch=1000):
    "`LatentSmoother.counts` as it was before issue 12 (no_grad, repeat_interleave, default batch 1000), kept as the baseline."
    gen = device_generator(generator, x.device); C, d = sm.num_classes, sm.ps.latent_dim
    out = []
    with frozen_eval(sm.model, sm.ps.cvae):
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]; b = len(xb)
            mu, sd = sm.ps.prior(xb)
            k = max(1, batch // b); cnt = spatial = None; done = 0
            while done < n:
                m = min(k, n - done)
                u = sm.sigma * torch.randn(b * m, d, generator=gen, device=x.device)
                rep = lambda t: t.repeat_interleave(m, 0)
                pred = sm.model(sm.ps.decode(u, rep(xb), (rep(mu), rep(sd)))).argmax(1)
                if cnt is None:
                    spatial = tuple(pred.shape[1:]); P = pred[0].numel()
                    cnt = torch.zeros(b, C * P, dtype=torch.long, device=x.device)
                idx = pred.reshape(b, m, P) * P + torch.arange(P, device=x.device)
                cnt.scatter_add_(1, idx.reshape(b, m * P), torch.ones(b, m * P, dtype=torch.long, device=x.device))
                done += m
            out.append(cnt.view(b, C, *spatial))
    return torch.cat(out)


def legacy_certify(sm, x, n0, n, generator):
    "Today's certify: two rounds of `legacy_counts` (the counts are what cost; the statistics are shared code)."
    gen = device_generator(generator, x.device)
    cA = legacy_counts(sm, x, n0, gen).argmax(1)
    return cA, legacy_counts(sm, x, n, gen)


class old_layout:
    "Today's memory layout: channels-last conversion off inside the block."
    def __enter__(self): self.v = os.environ.get('PERTLEARN_CHANNELS_LAST'); os.environ['PERTLEARN_CHANNELS_LAST'] = '0'
    def __exit__(self, *a):
        if self.v is None: del os.environ['PERTLEARN_CHANNELS_LAST']
        else: os.environ['PERTLEARN_CHANNELS_LAST'] = self.v


def train_loop(model, x, xt, n):
    model.requires_grad_(True).train()
    opt = adam(model.parameters(), lr=1e-4); loss = CVAELoss('bce')
    for _ in range(n):
        l = loss(model(x, xt), xt); opt.zero_grad(); l.backward(); opt.step()
    model.requires_grad_(False).eval()  # frozen again for the attacks


def flops_per_image(cv, x, xt):
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as fc: cv.eval()(x, xt)
    return fc.get_total_flops() / len(x)  # FLOPs (2 per multiply-add)


def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def interleaved(fns:dict, reps:int)->dict:
    "Minimum wall time of each callable over `reps` rounds, the callables alternating within each round."
    best = {k: float('inf') for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t = time.perf_counter(); f(); best[k] = min(best[k], time.perf_counter() - t)
    return best


def measure(name, cv, clf, a):
    B, steps = a.batch, a.steps
    g = torch.Generator().manual_seed(0)
    x = torch.rand(B, 1, 42, 42, generator=g); xt = torch.rand(B, 1, 42, 42, generator=g)
    with torch.no_grad(): y = clf(x).argmax(1)
    ps = PerturbationSet(cv, eps=5.0)
    res = {}
    # training: images/s of the plain loop (the same in both phases: only the allocator differs)
    train_loop(cv, x[:8], xt[:8], 1)
    res['train'] = lambda: train_loop(cv, x, xt, a.train_batches)
    pgd = lambda: LatentPGD(clf, ps, 5.0, steps=steps, early_stop=False, generator=0)(x, y)
    def pgd_old():
        with old_layout(): pgd()
    res['pgd_before'], res['pgd_after'] = pgd_old, pgd
    res['pgd_plain'] = lambda: (ps.cvae.eval(), clf.eval(), plain_latent_pgd(clf, ps, x, y, 5.0, steps, torch.Generator().manual_seed(0)))
    xc = x[:a.n_cert]
    def cert_old():
        with old_layout(): [legacy_certify(sm_old, xc[i:i+1], a.n0, a.n, i) for i in range(len(xc))]
    sm_old = LatentSmoother(clf, ps, 1.0, 10, batch=1000); sm_new = LatentSmoother(clf, ps, 1.0, 10)
    res['cert_before'] = cert_old
    res['cert_after'] = lambda: [sm_new.certify(xc[i:i+1], a.n0, a.n, generator=i) for i in range(len(xc))]
    res['cert_plain'] = lambda: [plain_certify_one(clf, ps, xc[i:i+1], 1.0, a.n0, a.n, 0.001, 1000, torch.Generator().manual_seed(i)) for i in range(len(xc))]
    # warm-up: one small call of each
    LatentPGD(clf, ps, 5.0, steps=1, early_stop=False, generator=0)(x[:4], y[:4]); sm_new.certify(xc[:1], 2, 2, generator=0)
    return res, flops_per_image(cv, x[:8], xt[:8]) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='tiny sizes: batch 16, 2 PGD steps, n0=10, n=50, 2 training batches, 1 rep')
    ap.add_argument('--batch', type=int, default=128); ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--n0', type=int, default=100); ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--n-cert', type=int, default=1, help='examples to certify per repetition')
    ap.add_argument('--train-batches', type=int, default=3)
    ap.add_argument('--reps', type=int, default=2, help='interleaved repetitions per phase (the minimum is reported)')
    ap.add_argument('--models', default='default,reference', help='comma list of default (ch=32) and reference (ch=5)')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    if a.quick: a.batch, a.steps, a.n0, a.n, a.train_batches, a.reps = 16, 2, 10, 50, 2, 1
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    print(f"pertlearn issue-12 benchmark: torch {torch.__version__}, {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; batch {a.batch}, PGD {a.steps} steps, "
          f"certify n0={a.n0} n={a.n}, min over {a.reps} interleaved reps")
    clf = MNISTConvNet().eval()
    models = dict(default=lambda: STNCVAE(), reference=lambda: STNCVAE(ch=5))
    setups = {}
    for name in a.models.split(','):
        torch.manual_seed(0); cv = models[name]()
        setups[name] = measure(name, cv, clf, a)
    phases = {}
    for phase in ('glibc default', 'tuned allocator'):
        if phase == 'tuned allocator':
            applied = tune_allocator(children=False)
            if not applied: print("tune_allocator does not apply here (not glibc, or PERTLEARN_MALLOC=0): phase 2 repeats phase 1")
        for name, (fns, fl) in setups.items():
            r0 = rss_mb()
            phases[phase, name] = interleaved(fns, a.reps); phases[phase, name]['rss'] = rss_mb()
            print(f"  measured {name} / {phase}: " + ', '.join(f"{k} {v:.2f}" for k, v in phases[phase, name].items()), flush=True)
    f50 = 50 / a.steps
    lines = ["", f"| model | MFLOP/image | quantity | plain PyTorch | before (today) | after, glibc default | after, tuned allocator | after/before | plain/after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, (fns, fl) in setups.items():
        p1, p2 = phases['glibc default', name], phases['tuned allocator', name]
        tr = lambda p: a.train_batches * a.batch / p['train']
        lines.append(f"| {name} | {fl:.1f} | training images/s | {tr(p1):.0f} | {tr(p1):.0f} | {tr(p1):.0f} | {tr(p2):.0f} | {tr(p2) / tr(p1):.2f}× | – |")
        lines.append(f"| {name} | | latent PGD s/batch ({a.batch}, per 50 steps) | {p1['pgd_plain'] * f50:.2f} | {p1['pgd_before'] * f50:.2f} | "
                     f"{p1['pgd_after'] * f50:.2f} | {p2['pgd_after'] * f50:.2f} | {p1['pgd_before'] / p2['pgd_after']:.2f}× | {p2['pgd_plain'] / p2['pgd_after']:.2f} |")
        nc = a.n_cert
        lines.append(f"| {name} | | certify s/example (n0={a.n0}, n={a.n}) | {p1['cert_plain'] / nc:.2f} | {p1['cert_before'] / nc:.2f} | "
                     f"{p1['cert_after'] / nc:.2f} | {p2['cert_after'] / nc:.2f} | {p1['cert_before'] / p2['cert_after']:.2f}× | {p2['cert_plain'] / p2['cert_after']:.2f} |")
        lines.append(f"| {name} | | process peak RSS MB after (monotone) | | | {p1['rss']:.0f} | {p2['rss']:.0f} | | |")
    print('\n'.join(lines))
    print("\nafter/before: speed-up of the new defaults (tuned allocator) over today's path with glibc's default allocator;"
          "\nplain/after: > 1 means pertlearn is faster than the plain loop measured in the same phase.")


if __name__ == '__main__':
    main()
