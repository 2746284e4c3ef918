"""The layout and batch measurements behind issue 28's library changes (benchmarks/README.md), one thread, in one process.

  train     one CVAE training step (fused Adam, negative ELBO) of each package CVAE, contiguous against channels-last
            (`pertlearn.speed.channels_last`): why `train_cvae` trains channels-last on a CPU
  certify   `LatentSmoother.certify` (n0 100, n 1000) per member at batch 32-512 for the three MNIST STN CVAEs of
            bench_reference.py: why the smoother's default batch is 128
  step      the reference's training step against the full profile's (bench_reference's `ref_train_step` and
            `pl_train_step`, 3 interleaved rounds of 2 steps) on a batch of real MNIST-RTS pairs and on random inputs
            (needs the reference checkout, else skipped); then where the full profile's step spends its time
            (`torch.profiler`, 5 steps, the 12 costliest operators)
  thin      reflection padding and training-mode batch norm on a batch of 128 thin (5-channel) maps, contiguous against
            channels-last: why the isolated training step stays below 1.5x the reference's
  thinbn    training-mode batch norm (forward and backward, batch 64) at 5-32 channels on 1 and 2 threads: contiguous,
            channels-last, and channels-last by way of the default layout forced at every width (what `channels_last`
            does below 16 channels on 2+ threads; on one thread it does nothing); then the quick and full profiles' CVAE training steps on 2 threads, contiguous,
            channels-last without that exception and with it
Every time is the minimum over --reps calls after a warm-up (random weights and inputs: speed does not depend on them).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/studies/layout_costs.py [--parts train,certify,step,thin,thinbn] [--reps 4]
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: bench_reference's models


def best(f, reps):
    "Minimum wall seconds of `f()` over `reps` calls, after one warm-up call."
    f(); t = float('inf')
    for _ in range(reps):
        s = time.perf_counter(); f(); t = min(t, time.perf_counter() - s)
    return t


def train_part(reps):
    from pertlearn.architectures import build_cvae
    from pertlearn.cvae import CVAELoss
    from pertlearn.train import adam
    from pertlearn.speed import channels_last
    cfgs = [('mnist_stn', dict(latent=128, ch=5), 128, (1, 42, 42)), ('mnist_stn', dict(latent=128, ch=32), 128, (1, 42, 42)),
            ('mnist_stn', dict(latent=16, ch=8, stn_hidden=[48, 32]), 64, (1, 42, 42)),
            ('residual_small', dict(latent=128, ch=16, mid=4, n_blocks=1, head_ch=4), 32, (3, 32, 32)),
            ('mnist_conv', dict(latent=128, ch=32), 128, (1, 42, 42))]
    print("| CVAE | batch | contiguous ms/step | channels-last ms/step | ratio |\n|---|---|---|---|---|")
    for arch, hp, B, shape in cfgs:
        torch.manual_seed(0)
        m = build_cvae(arch, **hp).train(); loss = CVAELoss('bce'); opt = adam(m.parameters(), lr=1e-4)
        x, xt = torch.rand(B, *shape), torch.rand(B, *shape)
        def step():
            l = loss(m(x, xt), xt); opt.zero_grad(); l.backward(); opt.step()
        a = best(step, reps)
        with channels_last(m): b = best(step, reps)
        print(f"| {arch} {hp} | {B} | {a * 1e3:.1f} | {b * 1e3:.1f} | {a / b:.2f}× |", flush=True)


def certify_part(reps):
    import bench_reference as br
    from pertlearn.models.classifiers import MNISTConvNet
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.certify import LatentSmoother
    batches = (32, 64, 128, 250, 512)
    clf, x = MNISTConvNet().eval(), torch.rand(1, 1, 42, 42)
    print("| model | " + " | ".join(f"batch {b}" for b in batches) + " |  (ms per member)\n|---|" + "---|" * len(batches))
    for k, m in br.build_models(None).items():
        ps = PerturbationSet(m.eval(), eps=1.0)
        t = {b: best(lambda: LatentSmoother(clf, ps, 1.0, 10, batch=b).certify(x, 100, 1000, generator=0), reps) for b in batches}
        print(f"| {k} | " + " | ".join(f"{t[b] / 1100 * 1e3:.3f}" for b in batches) + " |", flush=True)


def step_part(reps):
    import copy
    import bench_reference as br
    from torch.profiler import profile, ProfilerActivity
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls
    ref = br.find_reference()
    R = br.load_reference(ref) if ref else None
    models = br.build_models(R)
    b = mnist_rts_dls(load_mnist('embedded'), n_train=512, n_valid=128, bs=128, device='cpu', n_test=1).train.one_batch()
    g = torch.Generator().manual_seed(0)
    inputs = dict(real=(b[0], b[1]), random=(torch.rand(128, 1, 42, 42, generator=g), torch.rand(128, 1, 42, 42, generator=g)))
    if R is None: print("(no reference checkout: the side-by-side step is skipped)")
    else:
        ops = {}
        for name, (x, xt) in inputs.items():
            ops[('reference', name)] = br.ref_train_step(R, copy.deepcopy(models['reference']), x, xt, 2)
            ops[('full', name)] = br.pl_train_step(copy.deepcopy(models['full']), x, xt, 2)
        t = br.interleaved(ops, 3)
        print("| inputs | reference s/step | full profile s/step | ratio |\n|---|---|---|---|")
        for name in inputs:
            print(f"| {name} | {t[('reference', name)] / 2:.3f} | {t[('full', name)] / 2:.3f} | {t[('reference', name)] / t[('full', name)]:.2f}× |")
    step = br.pl_train_step(models['full'], *inputs['random'], 1); step(); step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5): step()
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=12))


def thin_part(reps):
    print("| maps | op | contiguous ms | channels-last ms | channels-last by way of a contiguous copy ms |\n|---|---|---|---|---|")
    for C, H in ((5, 42), (5, 21), (10, 42)):
        x = torch.rand(128, C, H, H); xc = x.contiguous(memory_format=torch.channels_last)
        pad = lambda t: F.pad(t, (2, 2, 2, 2), mode='reflect')
        row = [best(lambda: pad(x), reps), best(lambda: pad(xc), reps),
               best(lambda: pad(xc.contiguous()).contiguous(memory_format=torch.channels_last), reps)]
        print(f"| 128×{C}×{H}×{H} | reflection pad 2 | " + " | ".join(f"{v * 1e3:.3f}" for v in row) + " |")
        bn = torch.nn.BatchNorm2d(C).train()
        print(f"| 128×{C}×{H}×{H} | batch norm (training) | {best(lambda: bn(x), reps) * 1e3:.3f} | {best(lambda: bn(xc), reps) * 1e3:.3f} | |", flush=True)


def thinbn_part(reps):
    import pertlearn.speed as sp
    from pertlearn.architectures import build_cvae
    from pertlearn.cvae import CVAELoss
    from pertlearn.train import adam
    print("| threads | maps | contiguous ms | channels-last ms | channels-last, batch norm in the default layout ms |\n|---|---|---|---|---|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for C in (5, 8, 12, 16, 24, 32):
            x = torch.rand(64, C, 42, 42); g = torch.randn_like(x)
            row = []
            for layout, thin in ((torch.contiguous_format, None), (torch.channels_last, 0), (torch.channels_last, 64)):
                bn = torch.nn.Sequential(torch.nn.BatchNorm2d(C)).train(); sp._THIN_BN, old = (thin or 0), sp._THIN_BN
                xi = x.contiguous(memory_format=layout).requires_grad_(); gi = g.contiguous(memory_format=layout)
                def f(): bn(xi).backward(gi)
                try:
                    if thin is None: row.append(best(f, reps))
                    else:
                        bn.add_module('conv', torch.nn.Conv2d(C, C, 1))    # a 4-d weight: `channels_last` converts the module
                        bn.conv.forward = lambda t: t                      # ...but only the batch norm is timed
                        with sp.channels_last(bn): row.append(best(f, reps))
                finally: sp._THIN_BN = old
            print(f"| {threads} | 64×{C}×42×42 | " + " | ".join(f"{v * 1e3:.2f}" for v in row) + " |", flush=True)
    torch.set_num_threads(2)
    print("\n| CVAE (2 threads) | batch | contiguous ms/step | channels-last, every batch norm channels-last ms/step | channels-last (the package) ms/step |\n|---|---|---|---|---|")
    for hp, B in ((dict(latent=16, ch=8, stn_hidden=[48, 32]), 64), (dict(latent=128, ch=5), 128)):
        torch.manual_seed(0)
        m = build_cvae('mnist_stn', **hp).train(); loss = CVAELoss('bce'); opt = adam(m.parameters(), lr=1e-4)
        x, xt = torch.rand(B, 1, 42, 42), torch.rand(B, 1, 42, 42)
        def step():
            l = loss(m(x, xt), xt); opt.zero_grad(); l.backward(); opt.step()
        row = [best(step, reps)]
        old = sp._THIN_BN
        try:
            sp._THIN_BN = 0
            with sp.channels_last(m): row.append(best(step, reps))
        finally: sp._THIN_BN = old
        with sp.channels_last(m): row.append(best(step, reps))
        print(f"| mnist_stn {hp} | {B} | " + " | ".join(f"{v * 1e3:.1f}" for v in row) + " |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--parts', default='train,certify,step,thin'); p.add_argument('--reps', type=int, default=4)
    a = p.parse_args()
    torch.set_num_threads(1)
    parts = dict(train=train_part, certify=certify_part, step=step_part, thin=thin_part, thinbn=thinbn_part)
    for name in a.parts.split(','):
        print(f"\n## {name}\n"); parts[name](a.reps)


if __name__ == '__main__': main()
