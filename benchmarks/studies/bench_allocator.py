"""The allocator's effect on one training step of the paper-size CIFAR residual CVAE (34M parameters): page faults,
images/s and peak RSS with glibc's default malloc, with a 32 MiB mmap threshold (`tune_allocator`'s earlier setting)
and with today's `tune_allocator` (256 MiB). Each setting runs in its own process (an allocator setting cannot be
undone), the settings alternating, `--procs` processes each; one torch thread by default.

    python benchmarks/studies/bench_allocator.py                 # batch 128 (the paper's), 2 processes per setting (~2 min)
    python benchmarks/studies/bench_allocator.py --batch 64
    python benchmarks/studies/bench_allocator.py --quick         # SmallResidualCVAE, batch 8: a smoke test
"""
from __future__ import annotations
import argparse, json, os, platform, resource, subprocess, sys, time

SETTINGS = {'glibc default': None, 'mmap threshold 32 MiB': 32, 'tune_allocator (now)': 'tune'}


def one(setting, batch:int, steps:int, quick:bool)->dict:
    "One process: apply the setting, warm up, time `steps` training steps; faults and time per step, peak RSS."
    import ctypes
    if setting == 'tune':
        from pertlearn.speed import tune_allocator; tune_allocator(children=False)
    elif setting is not None:   # the old setting: mmap 32 MiB, trim 512 MiB, top pad 64 MiB
        libc = ctypes.CDLL('libc.so.6'); libc.mallopt(-3, setting << 20); libc.mallopt(-1, 512 << 20); libc.mallopt(-2, 64 << 20)
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_cifar import train_step, peak_rss_mb   # the CIFAR benchmark's step and high-water mark (VmHWM, reset by exec)
    from pertlearn.models.cifar import ResidualCVAE, SmallResidualCVAE
    from pertlearn.cvae import CVAELoss
    from pertlearn.train import adam
    torch.manual_seed(0)
    m = (SmallResidualCVAE() if quick else ResidualCVAE()).train()
    opt, loss = adam(m.parameters(), lr=1e-4), CVAELoss('bce')
    x, xt = torch.rand(batch, 3, 32, 32), torch.rand(batch, 3, 32, 32)
    step = lambda: train_step(m, opt, loss, x, xt)
    step()   # warm-up
    best, faults = float('inf'), []
    for _ in range(steps):
        r0 = resource.getrusage(resource.RUSAGE_SELF); t = time.perf_counter(); step()
        best = min(best, time.perf_counter() - t); faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0.ru_minflt)
    return dict(img_s=batch / best, faults=min(faults), rss_mb=peak_rss_mb())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--batch', type=int, default=128); ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--procs', type=int, default=2, help='processes per setting (alternating)')
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--quick', action='store_true')
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.quick: a.batch, a.steps, a.procs = 8, 1, 1
    if a.one is not None:
        import torch; torch.set_num_threads(a.threads)
        print('RESULT ' + json.dumps(one(json.loads(a.one), a.batch, a.steps, a.quick))); return 0
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc': raise SystemExit("bench_allocator measures glibc's malloc: Linux with glibc only")
    env = {k: v for k, v in os.environ.items() if k != 'GLIBC_TUNABLES'}
    env.update(OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    print(f"bench_allocator: {'SmallResidualCVAE' if a.quick else 'ResidualCVAE (paper size)'}, training batch {a.batch}, "
          f"{a.threads} thread(s), best of {a.steps} steps per process, {a.procs} process(es) per setting; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, glibc {platform.libc_ver()[1]}", flush=True)
    res = {k: [] for k in SETTINGS}
    for _ in range(a.procs):
        for name, s in SETTINGS.items():
            p = subprocess.run([sys.executable, __file__, '--one', json.dumps(s), '--batch', str(a.batch), '--steps', str(a.steps),
                                '--threads', str(a.threads)] + (['--quick'] if a.quick else []), capture_output=True, text=True, env=env)
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if p.returncode or not line: raise SystemExit(f"{name}: {(p.stderr.strip().splitlines() or ['no output'])[-1]}")
            res[name].append(json.loads(line[-1][7:])); print(f"  {name}: {res[name][-1]}", flush=True)
    base = max(r['img_s'] for r in res['glibc default'])
    print("\n| allocator | page faults per step | images/s | ratio to glibc default | peak RSS MB |\n|---|---|---|---|---|")
    for name, rs in res.items():
        f = sorted(r['faults'] for r in rs); i = sorted(r['img_s'] for r in rs); m = sorted(r['rss_mb'] for r in rs)
        rng = lambda v, fmt: fmt.format(v[0]) if v[0] == v[-1] else (fmt + '–' + fmt).format(v[0], v[-1])
        print(f"| {name} | {rng(f, '{:,}')} | {rng(i, '{:.1f}')} | {max(i) / base:.2f}× | {rng(m, '{:.0f}')} |")


if __name__ == '__main__':
    sys.exit(main())
