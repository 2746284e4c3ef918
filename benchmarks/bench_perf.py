"""Issue-12 benchmark: pertlearn today against pertlearn when the issue was filed, in ONE process, as ratios.

"Today's code" is the package at commit BASE (444aad6, the code the issue measured), taken from this repository's git
history into a temporary folder and imported as `pertlearn_base`, so both versions run side by side on the very same
model objects and inputs. For the STN CVAE that was the registered default then (`STNCVAE(ch=32)`: latent 128; the default is ch=5 since issue 28)
and a reference-sized one (ch=5: generator 128→1764, five STN MLPs 1764→512→128→6, head convs 5→5→1, as in the paper's
code), with the `MNISTConvNet` classifier, it measures

  training   images/s of a plain-PyTorch CVAE training loop (fused Adam, negative ELBO, batch 128): only the allocator
             differs between the phases
  PGD        s/batch of latent PGD (batch 128, 50 steps, one restart, no early stop) with `LatentPGD` of BASE ("before")
             and of today ("after"), and a plain-PyTorch loop of the same attack (frozen models, the same step rule)
  certify    s/example of `LatentSmoother.certify` (n0=100, n=1000) of BASE and of today, at today's default batch and
             at the other batches in --cert-batches (how the default was chosen), and a plain-PyTorch CERTIFY loop
  FLOPs      forward FLOPs per image (prior + recognition + generator, `torch.utils.flop_counter`)
  folding    today's PGD and certification with `folded_batchnorm` switched off (PERTLEARN_FOLD_BN=0), in phase 2
  peak RSS   the process high-water mark after each phase (monotone)

The allocator (`pertlearn.speed.tune_allocator`, which pertlearn's entry points apply) is process-wide and cannot be
undone, so the run has two phases: phase 1 with glibc's default allocator runs BASE and today interleaved (what the code
changes give); then `tune_allocator()` and phase 2 runs today's path again beside the plain loops. "after/before" is
today with the tuned allocator (phase 2) over BASE with glibc's default (phase 1): what a user of the `pertlearn` command
gets. Each time is the minimum over `--reps` interleaved repetitions. Run it on an idle machine: the phases run one after
the other, so load that changes between them shows in the cross-phase ratio.

    python benchmarks/bench_perf.py                 # full sizes (make bench; about 8 minutes on an idle 2-core machine)
    python benchmarks/bench_perf.py --quick         # tiny sizes: a smoke test in seconds
"""
from __future__ import annotations
import argparse, importlib, os, platform, resource, subprocess, sys, tarfile, tempfile, time, io
from pathlib import Path
import torch
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_attacks import plain_latent_pgd, plain_certify_one
import _git   # benchmarks/_git.py: reading old code from git history
from pertlearn.speed import tune_allocator
from pertlearn.models.mnist import STNCVAE
from pertlearn.models.classifiers import MNISTConvNet
from pertlearn.perturbation import PerturbationSet
from pertlearn.attacks import LatentPGD
from pertlearn.certify import LatentSmoother
from pertlearn.cvae import CVAELoss
from pertlearn.train import adam

BASE = '444aad6'  # pertlearn when issue 12 was filed (the end of issues 2-8)


def load_base(commit:str=BASE):
    "Import pertlearn at `commit` (from this repository's git history) as the package `pertlearn_base`."
    tar = _git.archive(commit, 'pertlearn')   # exits with a clear message without the git history (e.g. a shallow clone)
    tmp = Path(tempfile.mkdtemp(prefix='pertlearn_base_'))
    with tarfile.open(fileobj=io.BytesIO(tar)) as t: t.extractall(tmp, filter='data')
    (tmp / 'pertlearn').rename(tmp / 'pertlearn_base')
    sys.path.insert(0, str(tmp))
    return (importlib.import_module('pertlearn_base.perturbation'), importlib.import_module('pertlearn_base.attacks'),
            importlib.import_module('pertlearn_base.certify'))


class env:
    "Environment variables set inside the block (pertlearn's switches: PERTLEARN_FOLD_BN, PERTLEARN_CHANNELS_LAST)."
    def __init__(self, **kv): self.kv = kv
    def __enter__(self): self.old = {k: os.environ.get(k) for k in self.kv}; os.environ.update(self.kv)
    def __exit__(self, *a):
        for k, v in self.old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v


def off(fn, **kv):
    "`fn` with the given switches set."
    def g():
        with env(**kv): return fn()
    return g


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


def setup(cv, clf, base, a):
    "The timed callables of one model: {phase: {name: fn}}, and its forward MFLOP per image."
    bpert, batt, bcert = base
    B, steps, eps = a.batch, a.steps, 5.0
    g = torch.Generator().manual_seed(0)
    x = torch.rand(B, 1, 42, 42, generator=g); xt = torch.rand(B, 1, 42, 42, generator=g)
    with torch.no_grad(): y = clf(x).argmax(1)
    ps, bps = PerturbationSet(cv, eps=eps), bpert.PerturbationSet(cv, eps=eps)  # one model, both versions' sets
    xc = x[:a.n_cert]
    def certs(sm, **kw): return lambda: [sm.certify(xc[i:i+1], a.n0, a.n, generator=i, **kw) for i in range(len(xc))]
    bsm, sm = bcert.LatentSmoother(clf, bps, 1.0, 10), LatentSmoother(clf, ps, 1.0, 10)
    f = dict(train=lambda: train_loop(cv, x, xt, a.train_batches),
             pgd_before=lambda: batt.LatentPGD(clf, bps, eps, steps=steps, restarts=1, early_stop=False, generator=0)(x, y),
             pgd_after=lambda: LatentPGD(clf, ps, eps, steps=steps, restarts=1, early_stop=False, generator=0)(x, y),
             pgd_plain=lambda: plain_latent_pgd(clf, ps, x, y, eps, steps, torch.Generator().manual_seed(0)),
             cert_before=certs(bsm), cert_after=certs(sm),
             cert_plain=lambda: [plain_certify_one(clf, ps, xc[i:i+1], 1.0, a.n0, a.n, 0.001, sm.batch, torch.Generator().manual_seed(i)) for i in range(len(xc))])
    f['pgd_after_nofold'], f['cert_after_nofold'] = off(f['pgd_after'], PERTLEARN_FOLD_BN='0'), off(f['cert_after'], PERTLEARN_FOLD_BN='0')
    for b in a.cert_batches:
        if b != sm.batch: f[f'cert_after_b{b}'] = certs(LatentSmoother(clf, ps, 1.0, 10, batch=b))
    # warm-up: one small call of each path (thread pool, oneDNN primitives)
    train_loop(cv, x[:8], xt[:8], 1)
    batt.LatentPGD(clf, bps, eps, steps=1, generator=0)(x[:4], y[:4]); LatentPGD(clf, ps, eps, steps=1, restarts=1, generator=0)(x[:4], y[:4])
    bsm.certify(xc[:1], 2, 2, generator=0); sm.certify(xc[:1], 2, 2, generator=0)
    phase1 = {k: f[k] for k in ('train', 'pgd_before', 'pgd_after', 'cert_before', 'cert_after')}
    phase2 = {k: v for k, v in f.items() if k not in ('pgd_before', 'cert_before')}
    return dict(p1=phase1, p2=phase2), flops_per_image(cv, x[:8], xt[:8]) / 1e6, sm.batch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='tiny sizes: batch 16, 2 PGD steps, n0=10, n=50, 1 training batch, 1 rep')
    ap.add_argument('--batch', type=int, default=128); ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--n0', type=int, default=100); ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--n-cert', type=int, default=1, help='examples to certify per repetition')
    ap.add_argument('--cert-batches', default='128,250,500,1000', help="smoother batches measured in phase 2 (besides today's default)")
    ap.add_argument('--train-batches', type=int, default=3)
    ap.add_argument('--reps', type=int, default=2, help='interleaved repetitions per phase (the minimum is reported)')
    ap.add_argument('--models', default='default,reference', help="comma list of default (ch=32, issue 12's default) and reference (ch=5, today's default)")
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    a.cert_batches = [int(b) for b in a.cert_batches.split(',') if b]
    if a.quick: a.batch, a.steps, a.n0, a.n, a.train_batches, a.reps, a.cert_batches = 16, 2, 10, 50, 1, 1, [25]
    if os.environ.get('GLIBC_TUNABLES'):
        print(f"note: GLIBC_TUNABLES is set ({os.environ['GLIBC_TUNABLES']}): phase 1 is not glibc's default allocator")
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), platform.processor()) if Path('/proc/cpuinfo').exists() else platform.processor()
    print(f"pertlearn issue-12 benchmark: today against {BASE}; torch {torch.__version__}, {platform.machine()} {cpu}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; batch {a.batch}, PGD {a.steps} steps, "
          f"certify n0={a.n0} n={a.n}, min over {a.reps} interleaved reps", flush=True)
    base = load_base()
    clf = MNISTConvNet().eval().requires_grad_(False)
    models = dict(default=lambda: STNCVAE(ch=32), reference=lambda: STNCVAE(ch=5))   # 'default': issue 12's (ch 32, the default until issue 28)
    setups = {}
    for name in a.models.split(','):
        torch.manual_seed(0); setups[name] = setup(models[name](), clf, base, a)
    res = {}
    t0 = time.perf_counter()
    for phase in ('p1', 'p2'):
        if phase == 'p2':
            applied = tune_allocator(children=False)
            print(f"phase 2: tune_allocator() applied {applied}" if applied else
                  "tune_allocator does not apply here (not glibc, or PERTLEARN_MALLOC=0): phase 2 repeats phase 1's allocator")
        for name, (fns, fl, _) in setups.items():
            res[phase, name] = interleaved(fns[phase], a.reps); res[phase, name]['rss'] = rss_mb()
            print(f"  measured {name} / {'glibc default' if phase == 'p1' else 'tuned allocator'}: "
                  + ', '.join(f"{k} {v:.2f}" for k, v in res[phase, name].items()), flush=True)
    f50, nc = 50 / a.steps, a.n_cert
    lines = ["", "| model | MFLOP/image | quantity | plain PyTorch (tuned) | before: " + BASE + " (glibc) | after, glibc default | after, tuned allocator | after/before | after/plain |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, (fns, fl, bdef) in setups.items():
        p1, p2 = res['p1', name], res['p2', name]
        tr = lambda p: a.train_batches * a.batch / p['train']
        lines.append(f"| {name} | {fl:.1f} | training images/s (plain loop) | {tr(p2):.0f} | {tr(p1):.0f} | {tr(p1):.0f} | {tr(p2):.0f} | {tr(p2) / tr(p1):.2f}× | – |")
        lines.append(f"| {name} | | latent PGD s/batch ({a.batch}, per 50 steps) | {p2['pgd_plain'] * f50:.2f} | {p1['pgd_before'] * f50:.2f} | "
                     f"{p1['pgd_after'] * f50:.2f} | {p2['pgd_after'] * f50:.2f} | {p1['pgd_before'] / p2['pgd_after']:.2f}× | {p2['pgd_plain'] / p2['pgd_after']:.2f}× |")
        lines.append(f"| {name} | | certify s/example (n0={a.n0}, n={a.n}, batch {bdef}) | {p2['cert_plain'] / nc:.2f} | {p1['cert_before'] / nc:.2f} | "
                     f"{p1['cert_after'] / nc:.2f} | {p2['cert_after'] / nc:.2f} | {p1['cert_before'] / p2['cert_after']:.2f}× | {p2['cert_plain'] / p2['cert_after']:.2f}× |")
        for b in a.cert_batches:
            if b != bdef: lines.append(f"| {name} | | certify s/example at batch {b} | | | | {p2[f'cert_after_b{b}'] / nc:.2f} | {p1['cert_before'] / p2[f'cert_after_b{b}']:.2f}× | |")
        lines.append(f"| {name} | | latent PGD / certify without batch-norm folding (PERTLEARN_FOLD_BN=0) | | | | "
                     f"{p2['pgd_after_nofold'] * f50:.2f} / {p2['cert_after_nofold'] / nc:.2f} | folding: {p2['pgd_after_nofold'] / p2['pgd_after']:.2f}× / {p2['cert_after_nofold'] / p2['cert_after']:.2f}× | |")
        lines.append(f"| {name} | | process peak RSS MB after the phase (monotone) | | {p1['rss']:.0f} | {p1['rss']:.0f} | {p2['rss']:.0f} | | |")
    print('\n'.join(lines))
    print(f"\nafter/before: today's code with the tuned allocator over {BASE}'s code with glibc's default allocator (> 1: today is faster);"
          "\nafter/plain: the plain loop's time over today's, same phase (> 1: pertlearn is faster than the plain loop);"
          "\nglibc default vs tuned allocator columns of 'after': what the allocator alone gives."
          f"\nmeasuring took {time.perf_counter() - t0:.0f} s")


if __name__ == '__main__':
    main()
