"""CVAE training throughput and peak memory for the spatial-transformer model at batch 128.

Three measurements in one process, printed as ratios against the plain-PyTorch baseline:
  baseline  a minimal PyTorch loop (Adam, negative ELBO) on pre-built tensors;
  model     pertlearn's fastai Learner on pre-built batches (model step + fastai overhead);
  pipeline  pertlearn's Learner on the real MNIST-RTS loader (fresh perturbations built per batch).
Peak memory is the device's peak allocation on CUDA; on CPU it is the process's resident high-water mark so far
(monotone across the three runs, so read the increase, not the level).
Data loading is not the bottleneck when pipeline/model throughput is close to 1.

    python benchmarks/bench_train.py [--batches 20] [--ch 32] [--device cpu]
"""
import argparse, time, resource, tracemalloc
import torch
from fastai.data.core import DataLoaders
from pertlearn.models.mnist import STNCVAE
from pertlearn.cvae import CVAELoss
from pertlearn.train import cvae_learner, Schedules, adam
from pertlearn.data.core import BatchLoader
from pertlearn.data.mnist_rts import mnist_rts_dls


def peak_mb(dev):
    if dev.type == 'cuda': return torch.cuda.max_memory_allocated(dev) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process high-water mark (Linux: KiB)


def reset_peak(dev):
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def plain_loop(model, x, xt, n, dev):
    opt = adam(model.parameters(), lr=1e-4); loss = CVAELoss('bce'); model.train()  # the same (fused) Adam as the Learner
    sync(dev); t = time.perf_counter()
    for i in range(n):
        l = loss(model(x, xt), xt); opt.zero_grad(); l.backward(); opt.step()
    sync(dev); return time.perf_counter() - t


def learner_loop(model, dls, n, dev):
    learn = cvae_learner(model, dls, 'bce', cbs=[Schedules(lr=lambda t: 1e-4, beta=lambda t: 1.0)], progress=False)
    learn.dls.train.n = n * dls.train.bs   # exactly n batches of training, a tiny validation (1 batch)
    learn.logger = lambda *a, **k: None
    sync(dev); t = time.perf_counter()
    learn.fit(1)
    sync(dev); return time.perf_counter() - t


def main():
    a = argparse.ArgumentParser(); a.add_argument('--batches', type=int, default=15); a.add_argument('--bs', type=int, default=128)
    a.add_argument('--ch', type=int, default=32); a.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = a.parse_args(); dev = torch.device(a.device); n, bs = a.batches, a.bs
    torch.manual_seed(0)
    dls = mnist_rts_dls(n_train=n * bs, n_valid=bs, bs=bs, seed=0, device=dev)
    x, xt, _ = dls.train.one_batch()
    fixed = BatchLoader(n * bs, lambda idx, g: (x[:len(idx)], xt[:len(idx)], xt[:len(idx)]), bs=bs, drop_last=True, device=dev, n_inp=2)
    fixed_dls = DataLoaders(fixed, BatchLoader(bs, lambda idx, g: (x, xt, xt), bs=bs, fixed=True, device=dev, n_inp=2), device=dev)
    make = lambda: STNCVAE(ch=a.ch).to(dev)
    # warm-up (allocator, kernels)
    plain_loop(make(), x, xt, 2, dev)
    res = {}
    for name, fn in (('baseline (plain PyTorch)', lambda: plain_loop(make(), x, xt, n, dev)),
                     ('model step (fastai Learner)', lambda: learner_loop(make(), fixed_dls, n, dev)),
                     ('with data pipeline', lambda: learner_loop(make(), dls, n, dev))):
        reset_peak(dev); torch.manual_seed(0)
        sec = fn(); res[name] = (n * bs / sec, peak_mb(dev))
    base = res['baseline (plain PyTorch)'][0]
    t0 = time.perf_counter(); 
    for _ in range(n): dls.train.one_batch()
    data_only = n * bs / (time.perf_counter() - t0)
    print(f"STNCVAE(ch={a.ch}) at batch {bs} on {dev}, {n} batches; torch threads={torch.get_num_threads()}")
    print(f"{'':30s} {'images/s':>10s} {'ratio':>7s} {'peak MB':>9s}")
    for k, (ips, mb) in res.items(): print(f"{k:30s} {ips:10.1f} {ips / base:7.2f} {mb:9.0f}")
    print(f"{'data pipeline alone':30s} {data_only:10.1f} {data_only / base:7.2f}   (pairs/s; ≫ 1 means loading is not the bottleneck)")


if __name__ == '__main__':
    main()
