"""Issue-28 benchmark: pertlearn side by side with the reference implementation (locuslab/perturbation_learning), in
ONE process, as ratios; and how close pertlearn's attacks, certification and training come to the limit of the models.

The reference is not part of this repository (never vendored): the benchmark imports it from a checkout found at the
environment variable PERTLEARN_REFERENCE, else `../perturbation_learning` beside the repository root; without one it
says so and exits 0. Get it with `git clone https://github.com/locuslab/perturbation_learning ../perturbation_learning`.
Its files are not edited: at run time its hard-coded `.cuda()` calls and `device='cuda'` become no-ops (CPU), and two
imports it needs that newer libraries dropped get stand-ins (scipy's `binom_test`; `statsmodels`' Clopper-Pearson bound,
when statsmodels is absent, from scipy's beta quantile; torchvision's `RandomAffine(fillcolor=)` keyword).

Models (random weights: speed does not depend on training; the zero-initialised last layer of every spatial transformer
gets small random weights on both sides, so latents move the members and gradients are not zero):
  reference   the reference's `mnist_stn` CVAE (its only MNIST-RTS model: 6.4M parameters)
  full        pertlearn's mnist-rts full profile: `STNCVAE()` = `STNCVAE(latent=128, ch=5)`, the notebook's defaults and
              the reference's layer shapes (since issue 28)
  quick       pertlearn's mnist-rts quick profile: `STNCVAE(latent=16, ch=8, stn_hidden=(48, 32))`
  wide        `STNCVAE(latent=128, ch=32)` (`-p ch 32`; the full profile until issue 28: ten times the work per image)
One classifier for both sides: pertlearn's `MNISTConvNet` (42×42; the reference's MNIST classifier takes 28×28 digits).
Each row's ratio is reference time / pertlearn time (> 1: pertlearn faster); every time is the minimum over --reps
rounds in which all the callables of all four models alternate, so load on the machine hits both sides alike.

  train step     one CVAE training step on a batch: forward, negative ELBO, backward, optimizer step (the reference:
                 `vae_loss` and torch.optim.Adam as in its train.py; pertlearn: `CVAELoss` and its fused `adam`, in the
                 layout `train_cvae` trains in on a CPU: channels-last)
  end to end     --e2e-batches training batches through each one's own data pipeline and training loop: the reference's
                 `mnist_loaders` (torchvision MNIST, PIL transforms per image) and `perturbations.rts`, its train.py
                 `loop`; pertlearn's `mnist_rts_dls` and `train_cvae` (fastai Learner, validation skipped). Both read the
                 same 5,000 embedded digits (the reference's MNIST class is replaced by one serving them)
  latent attack  the reference's `CVAE_attack` (50 iterations, its step rule) and pertlearn's `LatentPGD(steps=50,
                 restarts=1)`: classifier evaluations are counted, so both are shown to do the same number of iterations
  certification per example, n0 = 100, n = 1000, α = 0.001: the reference's `Smooth.certify` (batch 128, its eval
                 config) and pertlearn's `LatentSmoother.certify` at its default batch
  default attack pertlearn's default evaluation attack, `AutoLatentAttack` (an ensemble of APGD members, at --auto-steps
                 iterations per member), compared per classifier evaluation (one decoded member classified, with its
                 gradient): reference seconds per evaluation in `CVAE_attack` / pertlearn's in `AutoLatentAttack`. At
                 equal strength the comparison is not one of speed: the reference's 50-step attack leaves robust accuracy
                 0.553 where the converged default leaves 0.040 (benchmarks/results/attack_strength.md)
  peak memory    a child process per model runs one train step, the attack and one certification; its peak RSS

Close to the limit (pertlearn's models, same process, timed in the same interleaved rounds as the operations): the
limit is the throughput of decode + classify alone (no bookkeeping) in pertlearn's inference form (folded batch norm,
channels-last), at the best of batch 64, 128 and 256; forward only for certification, forward + backward to the latent
for attacks. Each operation's time is
given as a fraction of what the limit needs for its work (goal ≥ 0.8); a training step as the fraction of forward +
backward of the model alone (goal ≥ 0.9). The classifier alone (inference form, best batch) is timed in the same rounds:
the reference's certification time per member over it is the highest ratio certification could reach, were decoding free.

    python benchmarks/bench_reference.py            # make bench (715 s with --threads 1 --reps 3 at load 2 on a 2-core CPU; 65 min at load 9-12)
    python benchmarks/bench_reference.py --quick    # tiny sizes, one round: a smoke test in seconds
"""
from __future__ import annotations
import argparse, copy, importlib, importlib.util, itertools, json, logging, os, platform, resource, subprocess, sys, time, types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ('full', 'quick', 'wide')


def find_reference() -> Path | None:
    "The reference checkout: $PERTLEARN_REFERENCE, else ../perturbation_learning beside the repository root; None if absent."
    env = os.environ.get('PERTLEARN_REFERENCE')
    for p in ([Path(env).expanduser()] if env else []) + [ROOT.parent / 'perturbation_learning']:
        if (p / 'perturbation_learning' / 'cvae.py').exists(): return p.resolve()
    return None


# ---------------------------------------------------------------- the reference, on the CPU, without editing its files
def _stand_ins():
    "Run-time stand-ins for what the reference imports and newer libraries dropped (nothing of its code is copied)."
    import scipy.stats, torch
    if not hasattr(scipy.stats, 'binom_test'):   # removed in scipy 1.12; the reference imports it (used only by predict)
        scipy.stats.binom_test = lambda k, n, p=0.5: scipy.stats.binomtest(int(k), int(n), p).pvalue
    try: import statsmodels.stats.proportion  # noqa: F401
    except ImportError:   # its Clopper-Pearson lower bound, from scipy's beta quantile (the same formula statsmodels uses)
        def proportion_confint(count, nobs, alpha=0.05, method='beta'):
            lo = scipy.stats.beta.ppf(alpha / 2, count, nobs - count + 1) if count > 0 else 0.0
            hi = scipy.stats.beta.isf(alpha / 2, count + 1, nobs - count) if count < nobs else 1.0
            return lo, hi
        sm, st, pr = (types.ModuleType(n) for n in ('statsmodels', 'statsmodels.stats', 'statsmodels.stats.proportion'))
        pr.proportion_confint = proportion_confint; sm.stats, st.proportion = st, pr
        sys.modules.update({'statsmodels': sm, 'statsmodels.stats': st, 'statsmodels.stats.proportion': pr})
    torch.Tensor.cuda = lambda self, *a, **k: self          # the hard-coded .cuda() calls: no-ops
    torch.nn.Module.cuda = lambda self, *a, **k: self


def _cpu_torch():
    "A view of `torch` whose factories ignore device='cuda' (the reference's smoothing code draws its noise there)."
    import torch
    ns = types.ModuleType('torch_cpu'); ns.__dict__.update(torch.__dict__)
    def strip(f):
        def g(*a, device=None, **k): return f(*a, device=None if str(device).startswith('cuda') else device, **k)
        return g
    for name in ('randn', 'rand', 'zeros', 'ones', 'empty', 'tensor', 'arange'): setattr(ns, name, strip(getattr(torch, name)))
    return ns


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec); sys.modules[name] = mod; spec.loader.exec_module(mod)
    return mod


def load_reference(ref: Path):
    "The reference's modules, importable on the CPU: (cvae, datasets, perturbations, attacks, smoothing_core, train, utilities)."
    _stand_ins()
    sys.path.insert(0, str(ref))
    from torchvision import transforms
    cvae = importlib.import_module('perturbation_learning.cvae')
    datasets = importlib.import_module('perturbation_learning.datasets')
    perts = importlib.import_module('perturbation_learning.perturbations')
    tv = types.ModuleType('transforms_compat'); tv.__dict__.update(transforms.__dict__)
    def RandomAffine(*a, fillcolor=None, **k):   # torchvision renamed fillcolor → fill
        return transforms.RandomAffine(*a, **({'fill': fillcolor} if fillcolor is not None else {}), **k)
    tv.RandomAffine = RandomAffine; perts.transforms = tv
    sc = _load_module('ref_smoothing_core', ref / 'robustness' / 'smoothing_core.py'); sc.torch = _cpu_torch()
    sys.modules['robustness.smoothing_core'] = sc
    sys.modules.setdefault('robustness', types.ModuleType('robustness')).smoothing_core = sc
    attacks = _load_module('ref_attacks', ref / 'attacks.py')
    utilities = _load_module('utilities', ref / 'utilities.py')
    train = _load_module('ref_train', ref / 'train.py')
    return types.SimpleNamespace(cvae=cvae, datasets=datasets, perts=perts, attacks=attacks, sc=sc, train=train, utilities=utilities)


def reference_config(R, ref: Path):
    "The reference's mnist_stn_rts config, on the CPU."
    cfg = json.loads((ref / 'configs' / 'mnist_stn_rts.json').read_text()); cfg['device'] = 'cpu'
    return R.utilities.config_to_namedtuple(cfg)


def serve_embedded_digits(R, data):
    "Replace torchvision's MNIST in the reference's data module by the embedded digits (tiled to MNIST's 60,000)."
    from PIL import Image
    import torch
    class MNIST(torch.utils.data.Dataset):
        def __init__(self, root, train=True, download=False, transform=None):
            self.x, self.y = (data.train_x, data.train_y) if train else (data.test_x, data.test_y)
            self.n, self.transform = (60000 if train else 10000), transform
        def __len__(self): return self.n
        def __getitem__(self, i):
            j = i % len(self.x); img = Image.fromarray(self.x[j].numpy(), mode='L')
            return (self.transform(img) if self.transform else img), int(self.y[j])
    ns = types.ModuleType('datasets_compat'); ns.__dict__.update(R.datasets.datasets.__dict__); ns.MNIST = MNIST
    R.datasets.datasets = ns


class FirstBatches:
    "The first `k` batches of a loader (len() = k), so the reference's `loop` runs a fixed number of steps."
    def __init__(self, loader, k): self.loader, self.k = loader, k
    def __len__(self): return self.k
    def __iter__(self): return itertools.islice(iter(self.loader), self.k)


# ---------------------------------------------------------------- models and shared helpers
def perturb_zero_layers(model, generator):
    "Small random weights where a spatial transformer's last layer starts at zero (identity warps, zero latent gradients)."
    import torch
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and m.out_features == 6 and not m.weight.any():
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * 0.01)
    return model


def build_models(R):
    import torch
    from pertlearn.models.mnist import STNCVAE
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    ms = dict(reference=R.cvae.MNIST_STNCVAE(None) if R else None,
              full=STNCVAE(), quick=STNCVAE(latent=16, ch=8, stn_hidden=(48, 32)), wide=STNCVAE(latent=128, ch=32))
    return {k: perturb_zero_layers(m, g) for k, m in ms.items() if m is not None}


class CallCounter:
    "Counts the rows the classifier evaluates (forward hook): `rows` in all, `grad_rows` those evaluated for a gradient."
    def __init__(self, model): self.rows = self.grad_rows = 0; model.register_forward_hook(self)
    def reset(self): self.rows = self.grad_rows = 0
    def __call__(self, m, inp, out):
        self.rows += len(inp[0]); self.grad_rows += len(inp[0]) if out.requires_grad else 0


def interleaved(fns: dict, reps: int, log=None, counter=None, rows=None) -> dict:
    "Minimum wall time of each callable over `reps` rounds, all alternating within each round; `rows[k]`: classifier rows of call k."
    best = {k: float('inf') for k in fns}
    for r in range(reps):
        for k, f in fns.items():
            if counter is not None: counter.reset()
            t = time.perf_counter(); f(); best[k] = min(best[k], time.perf_counter() - t)
            if rows is not None: rows[k] = (counter.rows, counter.grad_rows)
        if log: log(f"  round {r + 1}/{reps} done")
    return best


def rss_mb():
    "Peak resident memory of this process in MB: VmHWM (unlike ru_maxrss, not inherited from the parent across exec)."
    for line in Path('/proc/self/status').read_text().splitlines() if Path('/proc/self/status').exists() else []:
        if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- the timed work, one callable per (operation, model)
def ref_train_step(R, model, x, xt, n):
    import torch
    model.train(); opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    def step():
        for _ in range(n):
            opt.zero_grad(); out = model(x, xt)
            rec, kl = R.cvae.vae_loss(xt, *out, beta=1.0, distribution='bernoulli')
            (rec + kl).backward(); opt.step()
    return step


def as_trained(model):
    "`model` in the layout `train_cvae` trains it in on a CPU: channels-last (`pertlearn.speed.channels_last`), for good."
    import torch
    return model.to(memory_format=torch.channels_last)


def pl_train_step(model, x, xt, n):
    from pertlearn.cvae import CVAELoss
    from pertlearn.train import adam
    as_trained(model).train(); opt = adam(model.parameters(), lr=1e-4); loss = CVAELoss('bce')
    def step():
        for _ in range(n):
            l = loss(model(x, xt), xt); opt.zero_grad(); l.backward(); opt.step()
    return step


def pl_forward_backward(model, x, xt, n):
    "The limit of a training step: forward, loss and backward of the model alone (no optimizer, no data)."
    from pertlearn.cvae import CVAELoss
    as_trained(model).train(); loss = CVAELoss('bce')
    def fb():
        for _ in range(n): model.zero_grad(set_to_none=True); loss(model(x, xt), xt).backward()
    return fb


def ref_end_to_end(R, ref, model, k, bs):
    import torch
    config = reference_config(R, ref)
    config = config._replace(eval=config.eval._replace(batch_size=bs), training=config.training._replace(batch_size=bs))
    train_loader, _, _ = R.datasets.mnist_loaders(config)
    loader = FirstBatches(train_loader, k)
    h = R.perts.hs[config.perturbation.train_type](config.perturbation)
    opt = R.train.optimizers(config, model)
    logging.getLogger(R.train.__name__).setLevel(logging.WARNING)
    def run():
        model.train()
        R.train.loop(config, model, opt, lambda t: 1e-4, lambda e: 1.0, logging.getLogger(R.train.__name__), 0, loader, h)
    return run


def pl_end_to_end(model, data, k, bs):
    from fastai.callback.core import Callback, CancelValidException
    from pertlearn.data.mnist_rts import mnist_rts_dls
    from pertlearn.train import train_cvae
    class SkipValid(Callback):
        def before_validate(self): raise CancelValidException()
    dls = mnist_rts_dls(data, n_train=k * bs, n_valid=bs, bs=bs, device='cpu', n_test=1)
    return lambda: train_cvae(model, dls, epochs=1, progress=False, cbs=[SkipValid()])


def ref_attack(R, cvae, clf, x, y, eps, steps):
    return lambda: R.attacks.CVAE_attack(x, y, cvae, clf, max_dist=eps, alpha=eps / 20, niters=steps)


def pl_attack(clf, ps, x, y, eps, steps):
    from pertlearn.attacks import LatentPGD
    return lambda: LatentPGD(clf, ps, eps, steps=steps, restarts=1, generator=0)(x, y)


def pl_auto_attack(clf, ps, x, y, eps, steps):
    from pertlearn.attacks import AutoLatentAttack
    return lambda: AutoLatentAttack(clf, ps, eps, steps=steps, generator=0)(x, y)


def ref_certify(R, cvae, clf, xc, n0, n, sigma):
    def run():
        for i in range(len(xc)):
            R.sc.Smooth(clf, cvae, 10, sigma).certify(xc[i], n0, n, 0.001, 128)
    return run


def pl_certify(clf, ps, xc, n0, n, sigma):
    from pertlearn.certify import LatentSmoother
    sm = LatentSmoother(clf, ps, sigma, 10)
    return lambda: [sm.certify(xc[i:i + 1], n0, n, 0.001, generator=i) for i in range(len(xc))]


# ---------------------------------------------------------------- the limit: decode + classify alone
def decode_classify(clf, ps, B, grad, x1):
    "One pass of B members of one input's set through the classifier; with `grad`, the gradient to the latents as well."
    import torch, torch.nn.functional as F
    with torch.no_grad(): mu, sd = ps.prior(x1)
    xb = x1.expand(B, *x1.shape[1:]); mu, sd = mu.expand(B, -1), sd.expand(B, -1)
    u = torch.randn(B, ps.latent_dim, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(B, dtype=torch.long)
    def fwd():
        with torch.inference_mode(): clf(ps.cvae.generator(mu + sd * u, xb)).argmax(1)
    def fwdbwd():
        uu = u.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(clf(ps.cvae.generator(mu + sd * uu, xb)), y, reduction='sum'), uu)
    return fwdbwd if grad else fwd


def limit_call(clf, ps, B, grad, x1):
    "decode + classify of B members in pertlearn's inference form (folded batch norm, channels-last), as its attacks and certification run."
    from pertlearn.attacks import frozen_eval
    f = decode_classify(clf, ps, B, grad, x1)
    def run():
        with frozen_eval(clf, ps.cvae): f()
    return run


def classify_call(clf, xs):
    "The classifier alone on decoded members `xs`, in its inference form (folded batch norm, channels-last)."
    import torch
    from pertlearn.attacks import frozen_eval
    def run():
        with frozen_eval(clf), torch.inference_mode(): clf(xs).argmax(1)
    return run


# ---------------------------------------------------------------- memory: one child process per model
def memory_child(name, a):
    "Peak RSS (MB) of one model's work: after building it, a train step, the latent attack, one certification."
    import torch
    torch.set_num_threads(a.threads)
    ref = find_reference() if name == 'reference' else None
    R = load_reference(ref) if ref else None
    from pertlearn.models.classifiers import MNISTConvNet
    from pertlearn.perturbation import PerturbationSet
    torch.manual_seed(0)
    m = build_models(R)[name] if name == 'reference' else build_models(None)[name]
    clf = MNISTConvNet().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(a.batch, 1, 42, 42, generator=g); xt = torch.rand(a.batch, 1, 42, 42, generator=g)
    with torch.no_grad(): y = clf(x).argmax(1)
    out = dict(start=rss_mb())
    if name == 'reference':
        ref_train_step(R, m, x, xt, 1)(); out['train'] = rss_mb(); m.eval()
        ref_attack(R, m, clf, x, y, a.eps, a.steps)(); out['attack'] = rss_mb()
        ref_certify(R, m, clf, x[:1], a.n0, a.n, a.sigma)(); out['certify'] = rss_mb()
    else:
        pl_train_step(m, x, xt, 1)(); out['train'] = rss_mb()
        ps = PerturbationSet(m.eval(), eps=a.eps)
        pl_attack(clf, ps, x, y, a.eps, a.steps)(); out['attack'] = rss_mb()
        pl_certify(clf, ps, x[:1], a.n0, a.n, a.sigma)(); out['certify'] = rss_mb()
    print(json.dumps(out))


def peak_memory(a):
    out = {}
    for name in ('reference',) + MODELS:
        args = [sys.executable, __file__, '--memory-child', name, '--batch', str(a.batch), '--steps', str(a.steps),
                '--n0', str(a.n0), '--n', str(a.n), '--threads', str(a.threads)]
        r = subprocess.run(args, capture_output=True, text=True, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
        if r.returncode != 0: raise SystemExit(f"memory child {name} failed:\n{r.stderr[-2000:]}")
        out[name] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------------- main
def fmt_ratio(r): return f"{r:.2f}×"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='tiny sizes, one round: batch 16, 2 attack iterations, n0=10, n=50')
    ap.add_argument('--batch', type=int, default=128); ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--auto-steps', type=int, default=10, help='APGD iterations per member of AutoLatentAttack')
    ap.add_argument('--n0', type=int, default=100); ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--n-cert', type=int, default=1, help='examples certified per round')
    ap.add_argument('--train-steps', type=int, default=2, help='training steps per round')
    ap.add_argument('--e2e-batches', type=int, default=4, help='training batches per round, end to end')
    ap.add_argument('--eps', type=float, default=1.0); ap.add_argument('--sigma', type=float, default=1.0)
    ap.add_argument('--reps', type=int, default=2, help='interleaved rounds (the minimum is reported; the first also warms up)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--no-memory', action='store_true', help='skip the peak-memory child processes')
    ap.add_argument('--memory-child', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.quick: a.batch, a.steps, a.auto_steps, a.n0, a.n, a.train_steps, a.e2e_batches, a.reps = 16, 2, 2, 10, 50, 1, 1, 1
    if a.memory_child: return memory_child(a.memory_child, a)
    ref = find_reference()
    if ref is None:
        print("bench_reference: skipped, no checkout of the reference (locuslab/perturbation_learning) found: set "
              "PERTLEARN_REFERENCE or clone it to ../perturbation_learning beside the repository root")
        return 0
    t_start = time.time()
    import torch
    torch.set_num_threads(a.threads)
    R = load_reference(ref)
    from pertlearn.models.classifiers import MNISTConvNet
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.data.core import load_mnist
    from pertlearn.utils import n_params
    rev = subprocess.run(['git', '-C', str(ref), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), platform.processor()) if Path('/proc/cpuinfo').exists() else platform.processor()
    print(f"pertlearn against the reference (locuslab/perturbation_learning {rev}); torch {torch.__version__}, "
          f"{platform.machine()} {cpu}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads; load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"batch {a.batch}; attack {a.steps} iterations at ε = {a.eps}; certification n0 = {a.n0}, n = {a.n}, σ = {a.sigma}, "
          f"{a.n_cert} example(s); {a.train_steps} train steps, {a.e2e_batches} end-to-end batches; minimum of {a.reps} interleaved rounds")
    models = build_models(R)
    clf = MNISTConvNet().eval()
    counter = CallCounter(clf)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(a.batch, 1, 42, 42, generator=g); xt = torch.rand(a.batch, 1, 42, 42, generator=g)
    with torch.no_grad(): y = clf(x).argmax(1)   # labels: the clean predictions, so every example is attacked
    data = load_mnist('embedded'); serve_embedded_digits(R, data)
    from torch.utils.flop_counter import FlopCounterMode
    info = {}
    for k, m in models.items():
        with torch.no_grad(), FlopCounterMode(display=False) as fc: m.eval()(x[:4], xt[:4])
        info[k] = dict(params=n_params(m), mflop=fc.get_total_flops() / 4 / 1e6)
    print("models: " + "; ".join(f"{k} {v['params'] / 1e6:.2f}M parameters, {v['mflop']:.1f} MFLOP/image (prior+recognition+generator)" for k, v in info.items()))

    # training copies (their weights change) apart from the frozen copies the attacks and certification use
    tr = {k: copy.deepcopy(m) for k, m in models.items()}
    e2e = {k: copy.deepcopy(m) for k, m in models.items()}
    ev = {k: m.eval() for k, m in models.items()}   # the reference's parameters keep requires_grad, as its attack code leaves them
    ps = {k: PerturbationSet(copy.deepcopy(ev[k]), eps=a.eps) for k in MODELS}
    xc = x[:a.n_cert]
    ops = {}
    ops[('train step', 'reference')] = ref_train_step(R, tr['reference'], x, xt, a.train_steps)
    for k in MODELS: ops[('train step', k)] = pl_train_step(tr[k], x, xt, a.train_steps)
    for k in MODELS: ops[('forward+backward', k)] = pl_forward_backward(tr[k], x, xt, a.train_steps)
    ops[('end to end', 'reference')] = ref_end_to_end(R, ref, e2e['reference'], a.e2e_batches, a.batch)
    for k in MODELS: ops[('end to end', k)] = pl_end_to_end(e2e[k], data, a.e2e_batches, a.batch)
    ops[('latent attack', 'reference')] = ref_attack(R, ev['reference'], clf, x, y, a.eps, a.steps)
    for k in MODELS: ops[('latent attack', k)] = pl_attack(clf, ps[k], x, y, a.eps, a.steps)
    for k in ('full', 'quick'): ops[('default attack', k)] = pl_auto_attack(clf, ps[k], x, y, a.eps, a.auto_steps)
    ops[('certification', 'reference')] = ref_certify(R, ev['reference'], clf, xc, a.n0, a.n, a.sigma)
    for k in MODELS: ops[('certification', k)] = pl_certify(clf, ps[k], xc, a.n0, a.n, a.sigma)
    # the limit, in the same rounds (load that changes during the run hits it and the operations alike)
    batches = [16, 32] if a.quick else [64, 128, 256]
    for k in MODELS:
        for B in batches:
            ops[(f'limit fwd {B}', k)] = limit_call(clf, ps[k], B, False, x[:1])
            ops[(f'limit fwd+bwd {B}', k)] = limit_call(clf, ps[k], B, True, x[:1])
    with torch.no_grad(): members = ps['full'].cvae.generator(torch.randn(max(batches), 128, generator=g), x[:1].expand(max(batches), -1, -1, -1))
    for B in batches: ops[(f'classifier {B}', 'classifier')] = classify_call(clf, members[:B].clone())
    # warm-up on a few examples (thread pool, oneDNN primitives); the rounds then count the classifier's rows per call
    with torch.no_grad(): [m.eval()(x[:4], xt[:4]) for m in models.values()]; clf(x[:4])
    rows = {}
    t = interleaved(ops, a.reps, log=lambda s: print(s + f" ({time.time() - t_start:.0f} s, load {os.getloadavg()[0]:.2f})", flush=True),
                    counter=counter, rows=rows)
    print("classifier rows evaluated per call (with a gradient): " + ", ".join(f"{o}/{m} {rows[(o, m)][0]} ({rows[(o, m)][1]})" for (o, m) in ops if o in ('latent attack', 'default attack')))

    # the limit of decode + classify, seconds per member at the best batch size
    best = lambda k, kind: min(((t[(f'limit {kind} {B}', k)] / B, (B, 'inference form')) for B in batches), key=lambda p: p[0])
    lim_f = {k: best(k, 'fwd') for k in MODELS}; lim_b = {k: best(k, 'fwd+bwd') for k in MODELS}
    clf_alone = min((t[(f'classifier {B}', 'classifier')] / B, B) for B in batches)

    # ---- report
    print(f"\nload after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)")
    print("\nseconds (minimum over rounds) and ratio = reference / pertlearn (> 1: pertlearn faster)\n")
    cols = [('full', "full profile (STNCVAE ch 5, latent 128: the reference's layer shapes)"), ('quick', 'quick profile (ch 8, latent 16, STN MLP 48-32)'),
            ('wide', 'ch 32, latent 128 (`-p ch 32`; the full profile until issue 28)')]
    print("| work | reference s | " + " | ".join(c for _, c in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    per = {'train step': a.train_steps, 'end to end': a.e2e_batches, 'latent attack': 1, 'certification': a.n_cert}
    unit = {'train step': 'per step', 'end to end': 'per batch', 'latent attack': f'per batch of {a.batch}', 'certification': 'per example'}
    for op in ('train step', 'end to end', 'latent attack', 'certification'):
        r = t[(op, 'reference')] / per[op]
        cells = [f"{t[(op, k)] / per[op]:.3f} s, **{fmt_ratio(t[(op, 'reference')] / t[(op, k)])}**" for k, _ in cols]
        print(f"| {op} ({unit[op]}) | {r:.3f} | " + " | ".join(cells) + " |")
    # default attack: per classifier evaluation with a gradient (all of the attack's time charged to those)
    ref_row = t[('latent attack', 'reference')] / rows[('latent attack', 'reference')][1]
    cells = []
    for k, _ in cols:
        if ('default attack', k) in t:
            pr = t[('default attack', k)] / rows[('default attack', k)][1]
            cells.append(f"{pr * 1e3:.2f} ms ({rows[('default attack', k)][1]} evaluations), **{fmt_ratio(ref_row / pr)}**")
        else: cells.append('—')
    print(f"| default attack AutoLatentAttack({a.auto_steps} steps/member), per classifier evaluation with gradient | {ref_row * 1e3:.2f} ms | " + " | ".join(cells) + " |")
    if not a.no_memory:
        mem = peak_memory(a)
        cells = [f"{mem[k]['certify']:.0f} MB, **{fmt_ratio(mem['reference']['certify'] / mem[k]['certify'])}**" for k, _ in cols]
        print(f"| peak RSS of a child running train step, attack, certification | {mem['reference']['certify']:.0f} MB | " + " | ".join(cells) + " |")
        print("   (peak RSS after each part, MB: " + "; ".join(f"{k}: " + ", ".join(f"{p} {v:.0f}" for p, v in d.items()) for k, d in mem.items()) + ")")
    print("\nlatent attack, classifier evaluations per example (with a gradient): " + ", ".join(f"{m} {rows[('latent attack', m)][0] / a.batch:.0f} ({rows[('latent attack', m)][1] / a.batch:.0f})" for m in ('reference',) + MODELS)
          + " (pertlearn also scores its last iterate and the returned members, without a gradient)")

    print("\nclose to the limit: the limit is decode + classify alone at its best batch size (seconds per member)\n")
    print("| pertlearn model | limit fwd (batch, form) | limit fwd+bwd (batch, form) | certification / limit | latent attack / limit | default attack / limit | train step: fwd+bwd / step | end to end: fwd+bwd / batch |")
    print("|---|---|---|---|---|---|---|---|")
    frac = {}
    for k, _ in cols:
        (lf, bf), (lb, bb) = lim_f[k], lim_b[k]
        cert = (a.n0 + a.n) * a.n_cert * lf / t[('certification', k)]
        need = lambda op: (rows[(op, k)][1] * lb + (rows[(op, k)][0] - rows[(op, k)][1]) * lf)   # what the limit needs for the same evaluations
        atk = need('latent attack') / t[('latent attack', k)]
        auto = need('default attack') / t[('default attack', k)] if ('default attack', k) in t else None
        trn = t[('forward+backward', k)] / t[('train step', k)]
        e2 = t[('forward+backward', k)] / a.train_steps / (t[('end to end', k)] / a.e2e_batches)
        frac[k] = dict(certification=cert, latent_attack=atk, default_attack=auto, train_step=trn, end_to_end=e2)
        print(f"| {k} | {lf * 1e3:.3f} ms ({bf[0]}, {bf[1]}) | {lb * 1e3:.3f} ms ({bb[0]}, {bb[1]}) | {cert:.2f} | {atk:.2f} | "
              f"{'—' if auto is None else f'{auto:.2f}'} | {trn:.2f} | {e2:.2f} |")
    ref_member = t[('certification', 'reference')] / ((a.n0 + a.n) * a.n_cert)
    print(f"\ncertification's ceiling: the reference spends {ref_member * 1e3:.3f} ms per member; pertlearn's classifier alone "
          f"(inference form, batch {clf_alone[1]}) {clf_alone[0] * 1e3:.3f} ms, so no decoder can take certification past "
          f"{fmt_ratio(ref_member / clf_alone[0])} the reference's speed with this classifier (full profile now: "
          f"{fmt_ratio(t[('certification', 'reference')] / t[('certification', 'full')])}; the decoder's share of its limit: "
          f"{1 - clf_alone[0] / lim_f['full'][0]:.0%})")
    print(f"\n(goals: ≥ 0.8 for certification and attacks, ≥ 0.9 for a training step; total {time.time() - t_start:.0f} s)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
