"""Training and decoding throughput, FLOPs and peak memory of the paper-size CIFAR `ResidualCVAE` (34M parameters):
the code when issue 12 was filed (`today`, git 444aad6), the code this branch started from (`now`, --now-rev) and the
working tree (`improved`: the default `ResidualCVAE()`, which recomputes the BN-ReLU outputs in backward instead of
storing them; `improved, no recompute`: `ResidualCVAE(recompute=False)`; `improved+CL`), the old code loaded from git.

Throughput (images/s) is measured in ONE process, variants interleaved, minimum time over repetitions:
  train       plain PyTorch step: forward (prior, recognition, generator), CVAELoss('mse'), backward, fused Adam step, and
              the gradients freed after the step as fastai's Learner does (so they are not alive during the next forward);
              `improved+CL` is the same model trained in channels-last memory format (measured only: not adopted, because
              its float32 gradients differ from a float64 run by ~1% where the contiguous layout agrees to 1e-6);
              `improved (Learner)` is `improved` through `cvae_learner` (fastai overhead included).
  decode      no-grad prior + generator at --infer-batch (what certification does);
  decode+grad forward and backward to the whitened latent u (one attack step without the classifier);
              `now` and `improved` decode inside `pertlearn.speed.channels_last` as attacks do (frozen_eval), `today` as is.
FLOPs per image: torch.utils.flop_counter.FlopCounterMode (convolutions and matrix products, forward and backward).
Peak RSS: a fresh subprocess per variant (VmHWM; ru_maxrss is monotone and inherited), warm-up plus --rss-steps training steps at --batch;
`today` runs with glibc's default malloc (444aad6 had no tune_allocator), `now` and `improved` call tune_allocator() as
the CLI and runner do. The in-process throughput runs all variants under tune_allocator().
Numerical agreement: the same state_dict is loaded into every variant (the keys are unchanged) and one training step's
loss and gradients, and a decode, are compared with `today`.

    nice -n 19 taskset -c 1 python benchmarks/studies/bench_cifar.py [--batch 32] [--infer-batch 128] [--reps 5] [--quick]
    taskset -c 1 python benchmarks/studies/bench_cifar.py --rss-only --batch 128 --rss-steps 5 --rss-reps 3 --variants today improved 'improved, no recompute'
"""
import argparse, contextlib, os, platform, subprocess, sys, time, types, json
from pathlib import Path
os.environ.setdefault('OMP_NUM_THREADS', '1')
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # benchmarks/, for _git
import _git   # benchmarks/_git.py: reading old code from git history
from pertlearn.speed import peak_rss_mb   # VmHWM in MiB (bench_allocator imports it from here too)

REPO = _git.REPO
TODAY_REV = '444aad6'
CL_VARIANT = 'improved+CL'   # trains channels-last: measured, NOT adopted (its gradients differ ~1% from float64, see the report)
NOREC_VARIANT = 'improved, no recompute'   # the working tree with ResidualCVAE(recompute=False): what the recomputation saves and costs


def git_source(rev, path='pertlearn/models/cifar.py'):
    "The text of `path` at git revision `rev` (exits with a clear message without the git history)."
    return _git.show(rev, path)


def load_class(rev, name):
    "ResidualCVAE as it was at `rev`: the file from git, executed as a module of the pertlearn.models package (the registry left as it was)."
    import pertlearn.cvae as cvae
    saved = dict(cvae.CVAE_REGISTRY)
    mod = types.ModuleType(f'pertlearn.models._bench_{name}'); mod.__package__ = 'pertlearn.models'
    mod.__file__ = f'<git {rev}:pertlearn/models/cifar.py>'
    sys.modules[mod.__name__] = mod
    exec(compile(git_source(rev), mod.__file__, 'exec'), mod.__dict__)
    cvae.CVAE_REGISTRY.clear(); cvae.CVAE_REGISTRY.update(saved)
    return mod.ResidualCVAE


def machine():
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor()) if os.path.exists('/proc/cpuinfo') else platform.processor()
    aff = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'
    return (f"{cpu}; {os.cpu_count()} logical CPUs, this process pinned to {aff}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch thread(s), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
            f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}; python {platform.python_version()}")


def classes():
    from functools import partial
    from pertlearn.models.cifar import ResidualCVAE as Improved
    return {'today': load_class(TODAY_REV, 'today'), 'now': load_class(NOW_REV, 'now'), 'improved': Improved,
            NOREC_VARIANT: partial(Improved, recompute=False), CL_VARIANT: Improved}


def prepare(name, cls, sd, train=True):
    "A model of `cls` holding `sd`, laid out as that variant trains (channels-last for `improved`, like ChannelsLast)."
    from pertlearn.speed import channels_last
    _to_format = lambda m, o, f: m.to(memory_format=f)
    m = cls(); m.load_state_dict(sd)
    if name == CL_VARIANT and train: _to_format(m, None, torch.channels_last)
    return m.train(train)


def train_step(m, opt, loss_f, x, xt):
    "One step in the order of fastai's `Learner` (what `train_cvae` runs): forward, loss, backward, step, then free the gradients."
    loss = loss_f(m(x, xt), xt); loss.backward(); opt.step(); opt.zero_grad(set_to_none=True); return loss


def decode(m, x, u, grad=False):
    if grad: u = u.clone().requires_grad_()
    mu, lv = m.prior(x); out = m.generator(mu + torch.exp(0.5 * lv) * u, x)
    if grad: out.sum().backward(); return u.grad
    return out


def flops(fn):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc: fn()
    return fc.get_total_flops()


def rss_child(a):
    "Subprocess body: peak RSS (and steady step time) of training one variant at --batch."
    torch.set_num_threads(1)
    if a.child != 'today':
        from pertlearn.speed import tune_allocator; tune_allocator()
    from pertlearn.cvae import CVAELoss
    from pertlearn.train import adam
    torch.manual_seed(0)
    m = prepare(a.child, classes()[a.child], classes()[a.child]().state_dict())
    opt, loss_f = adam(m.parameters(), lr=1e-4), CVAELoss('mse')
    x, xt = torch.rand(a.batch, 3, 32, 32), torch.rand(a.batch, 3, 32, 32)
    times = []
    for i in range(a.rss_steps + 1):
        t = time.perf_counter(); train_step(m, opt, loss_f, x, xt); times.append(time.perf_counter() - t)
    print(json.dumps(dict(rss_mb=peak_rss_mb(), step_s=min(times[1:]))))


def peak_rss_runs(a, names)->dict:
    "Peak RSS and step time of `names`, one fresh subprocess per variant and repetition, variants alternating."
    rss = {k: [] for k in names}
    for r in range(a.rss_reps):
        for k in names:
            cmd = [sys.executable, __file__, '--child', k, '--batch', str(a.batch), '--rss-steps', str(a.rss_steps), '--now-rev', NOW_REV]
            env = dict(os.environ); env.pop('GLIBC_TUNABLES', None) if k == 'today' else None
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode: sys.exit(f"peak-RSS subprocess for {k} failed:\n{out.stderr[-2000:]}")
            rss[k].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rss


def print_rss(a, rss):
    print(f"\npeak RSS of a training step at batch {a.batch} (fresh process per variant, {a.rss_reps} each; warm-up + {a.rss_steps} steps; "
          f"MB = MiB)")
    for k in rss:
        mb = [d['rss_mb'] for d in rss[k]]; st = min(d['step_s'] for d in rss[k])
        ratio = f" ({(a.batch / st) / (a.batch / min(d['step_s'] for d in rss['today'])):.2f}x)" if 'today' in rss else ''
        print(f"{k:24s} peak RSS {max(mb):7.0f} MB (runs: {', '.join(f'{v:.0f}' for v in mb)});  "
              f"own-process train {a.batch / st:6.1f} img/s{ratio}"
              f"{'  [glibc default malloc]' if k == 'today' else '  [tune_allocator]'}")


def main():
    global NOW_REV
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', type=int, default=32, help='training batch (the paper: 128)')
    p.add_argument('--infer-batch', type=int, default=128, help='decode batch')
    p.add_argument('--reps', type=int, default=5, help='interleaved repetitions (minimum taken)')
    p.add_argument('--rss-steps', type=int, default=3, help='training steps after warm-up in each peak-RSS subprocess')
    p.add_argument('--rss-reps', type=int, default=2, help='subprocesses per variant (alternating)')
    p.add_argument('--learner-batches', type=int, default=3, help='batches per fit of the Learner row (0: skip it)')
    p.add_argument('--now-rev', default='d4bd729', help="git revision of 'now' (the branch point of this work)")
    p.add_argument('--quick', action='store_true', help='seconds-long smoke test (tiny batches, one repetition)')
    p.add_argument('--rss-only', action='store_true', help='only the peak-RSS subprocesses (of --variants), no throughput or agreement')
    p.add_argument('--variants', nargs='+', default=None, help="variants for --rss-only (default: all)")
    p.add_argument('--child', help=argparse.SUPPRESS)
    a = p.parse_args(); NOW_REV = a.now_rev
    if a.quick: a.batch, a.infer_batch, a.reps, a.rss_steps, a.rss_reps, a.learner_batches = 2, 4, 1, 1, 1, 1
    if a.child: return rss_child(a)
    if a.rss_only:
        names = list(classes()) if a.variants is None else a.variants
        unknown = set(names) - set(classes())
        if unknown: sys.exit(f"bench_cifar: unknown variant(s) {sorted(unknown)}; choose from {list(classes())}")
        print(f"bench_cifar --rss-only: paper-size ResidualCVAE, training batch {a.batch}\nmachine: {machine()}")
        print(f"variants: today = git {TODAY_REV}, improved = working tree ({_git.describe()})")
        return print_rss(a, peak_rss_runs(a, names))
    torch.set_num_threads(1)
    from pertlearn.speed import tune_allocator, channels_last
    from pertlearn.cvae import CVAELoss
    from pertlearn.train import adam
    alloc = tune_allocator()
    print(f"bench_cifar: paper-size ResidualCVAE (latent 512, ch 64, mid 16, 4 blocks, head_ch 16)")
    print(f"machine: {machine()}")
    print(f"training batch {a.batch}, decode batch {a.infer_batch}, {a.reps} interleaved repetitions (minimum time); "
          f"allocator in this process: tune_allocator() -> {alloc or 'not applicable'}")
    print(f"variants: today = git {TODAY_REV}, now = git {NOW_REV}, improved = working tree "
          f"({_git.describe()})\n")
    C = classes()
    torch.manual_seed(0); sd = C['today']().state_dict()
    n_par = {k: sum(p.numel() for p in c().parameters()) for k, c in C.items()}
    assert all(set(c().state_dict()) == set(sd) for c in C.values()), 'state_dict keys differ between variants'
    g = torch.Generator().manual_seed(0)
    x, xt = torch.rand(a.batch, 3, 32, 32, generator=g), torch.rand(a.batch, 3, 32, 32, generator=g)
    xi, ui = torch.rand(a.infer_batch, 3, 32, 32, generator=g), torch.randn(a.infer_batch, 512, generator=g)
    loss_f = CVAELoss('mse')

    # numerical agreement with today's code (same weights, same noise)
    ref = None; agree = {}
    for k, c in C.items():
        m = prepare(k, c, sd); torch.manual_seed(1); loss = loss_f(m(x, xt), xt); loss.backward()
        gr = torch.cat([p.grad.flatten() for n, p in sorted(m.named_parameters())])
        m.eval()
        with torch.no_grad(), (channels_last(m) if k != 'today' else contextlib.nullcontext()): dec = decode(m, xi[:8], ui[:8])
        if ref is None: ref = (loss.item(), gr, dec)
        agree[k] = (abs(loss.item() - ref[0]) / abs(ref[0]),
                    float((gr - ref[1]).norm() / ref[1].norm()), float((gr - ref[1]).abs().max() / ref[1].abs().max()),
                    float((dec - ref[2]).abs().max()))

    # FLOPs per image
    fl = {}
    for k, c in C.items():
        m = prepare(k, c, sd); opt = adam(m.parameters(), lr=1e-4)
        ft = flops(lambda: train_step(m, opt, loss_f, x, xt)) / a.batch
        m.eval().requires_grad_(False)
        with torch.no_grad(): fd = flops(lambda: decode(m, xi[:8], ui[:8])) / 8
        fl[k] = (ft, fd)

    # interleaved throughput
    tr = {k: prepare(k, c, sd) for k, c in C.items()}
    opts = {k: adam(m.parameters(), lr=1e-4) for k, m in tr.items()}
    ev = {k: prepare(k, c, sd, train=False).requires_grad_(False) for k, c in C.items()}
    learn = None
    if a.learner_batches:
        from fastai.data.core import DataLoaders
        from pertlearn.data.core import BatchLoader
        from pertlearn.train import cvae_learner
        nb = a.learner_batches
        mk = lambda idx, g: (x[:len(idx)], xt[:len(idx)], xt[:len(idx)])
        dls = DataLoaders(BatchLoader(nb * a.batch, mk, bs=a.batch, drop_last=True, n_inp=2),
                          BatchLoader(a.batch, mk, bs=a.batch, fixed=True, n_inp=2), device='cpu')
        lm = C['improved'](); lm.load_state_dict(sd)
        learn = cvae_learner(lm, dls, 'mse', progress=False)
    T = {f'{k}/{w}': [] for k in C for w in ('train', 'decode', 'decode+grad')}
    if learn is not None: T['improved (Learner)/train'] = []
    for k in C: train_step(tr[k], opts[k], loss_f, x, xt)   # warm-up (optimizer state, kernels, allocator)
    for r in range(a.reps):
        for k in C:
            t = time.perf_counter(); train_step(tr[k], opts[k], loss_f, x, xt); T[f'{k}/train'].append((time.perf_counter() - t) / a.batch)
            with (channels_last(ev[k]) if k != 'today' else contextlib.nullcontext()):
                with torch.no_grad():
                    t = time.perf_counter(); decode(ev[k], xi, ui); T[f'{k}/decode'].append((time.perf_counter() - t) / a.infer_batch)
                t = time.perf_counter(); decode(ev[k], xi, ui, grad=True); T[f'{k}/decode+grad'].append((time.perf_counter() - t) / a.infer_batch)
        if learn is not None:
            t = time.perf_counter(); learn.fit(1, 1e-4)
            T['improved (Learner)/train'].append((time.perf_counter() - t) / (a.learner_batches * a.batch + a.batch / 3))

    rss = peak_rss_runs(a, list(C))

    ips = lambda key: 1 / min(T[key])
    print(f"{'variant':24s} {'params':>8s} {'train GFLOP/img':>15s} {'decode GFLOP/img':>16s}")
    for k in C: print(f"{k:24s} {n_par[k] / 1e6:7.2f}M {fl[k][0] / 1e9:15.4f} {fl[k][1] / 1e9:16.4f}")
    print(f"\nthroughput, images/s (ratio to today)")
    print(f"{'variant':24s} {'train':>14s} {'decode':>14s} {'decode+grad':>14s}")
    for k in list(C) + (['improved (Learner)'] if learn is not None else []):
        cells = []
        for w in ('train', 'decode', 'decode+grad'):
            key = f'{k}/{w}'
            cells.append(f"{ips(key):7.1f} ({ips(key) / ips(f'today/{w}'):.2f}x)" if key in T else f"{'-':>14s}")
        print(f"{k:24s} {' '.join(f'{c:>14s}' for c in cells)}")
    if learn is not None: print("  (Learner row: whole fit of the training batches plus one validation batch, counted as a third of a training batch)")
    print_rss(a, rss)
    print(f"\nagreement with today's code (same state_dict, same noise), one training step and one decode: relative loss "
          f"difference; all parameters' gradients as one vector: relative L2 difference, largest difference / largest gradient; "
          f"largest decoded-pixel difference")
    for k in C: print(f"{k:24s} loss {agree[k][0]:.1e}   grads L2 {agree[k][1]:.1e}, max {agree[k][2]:.1e}   decode {agree[k][3]:.1e}")


if __name__ == '__main__':
    main()
