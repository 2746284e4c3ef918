"""Why the quick lighting run's segmenters stayed at the majority class: clean validation accuracy against optimizer steps.

Trains the experiment's U-Net material segmenter (`pertlearn.models.classifiers.UNet`, 36 classes) on the embedded
procedural lighting scenes as `nbs/experiments/illumination.ipynb` does (crops, flips, batch 8, a one-cycle schedule
peaking at 3e-3; a plain AdamW loop here, fastai's `fit_one_cycle` there), for a given number of optimizer steps, and prints pixel accuracy and mIoU on the validation scenes
under every flash at four points of the run, beside the majority-class segmenter (the most frequent training class
everywhere). Never touches the test scenes.

Usage: OMP_NUM_THREADS=1 python benchmarks/studies/segmenter_budget.py N_SCENES STEPS BASE MODE [MIP CROP_H CROP_W]
       (MODE 'fixed': the reference flash only, the standard method; 'random': a random real flash per example)
The measurements are in benchmarks/results/segmenter_budget.md.
"""
import sys, time, tempfile
from pathlib import Path
import torch
import pertlearn
from pertlearn.data.illumination import load_illumination, illumination_seg_dls, majority_class, class_frequencies
from pertlearn.metrics import mean_iou, pixel_accuracy
from pertlearn.models.classifiers import UNet, SegCrossEntropy
from pertlearn.utils import IGNORE_INDEX

def main(n_scenes:int, steps:int, base:int, mode:str, mip:int=5, ch:int=64, cw:int=96):
    torch.set_num_threads(1); torch.manual_seed(0)
    data = load_illumination('embedded', Path(tempfile.gettempdir())/f'pertlearn-bench-illum-{mip}-{n_scenes}', mip=mip, n_scenes=n_scenes, n_valid=4)
    freq = class_frequencies(data.train.labels); maj = majority_class(data.train.labels)
    print(f'{data}; {int((freq > 0).sum())} classes in training, majority class {maj} ({float(freq[maj]):.3f} of the labelled pixels)')
    sd = illumination_seg_dls(data, mode=mode, bs=8, crop=(ch, cw), repeats=100, device='cpu')
    ev = illumination_seg_dls(data, bs=8, crop=(ch, cw), eval_dirs='all', device='cpu').valid
    xv, yv = (torch.cat(t) for t in zip(*[(b[0], b[1]) for b in ev.batches(0)]))
    seg = UNet(36, base=base, depth=3)
    opt = torch.optim.AdamW(seg.parameters(), 3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    lf, it, t0 = SegCrossEntropy(IGNORE_INDEX), iter(sd.train), time.time()
    for s in range(steps):
        try: x, y = next(it)
        except StopIteration: it = iter(sd.train); x, y = next(it)
        seg.train(); loss = lf(seg(x), y); opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        if (s + 1) % max(1, steps // 4) == 0:
            seg.eval()
            with torch.no_grad(): p = torch.cat([seg(b).argmax(1) for b in xv.split(16)])
            print(f'step {s + 1}: {time.time() - t0:.0f} s, valid pixel acc {pixel_accuracy(p, yv):.3f}, mIoU {mean_iou(p, yv, 36):.3f}', flush=True)
    c = torch.full_like(yv, maj)
    print(f'majority class on the same {len(xv)} validation images: pixel acc {pixel_accuracy(c, yv):.3f}, mIoU {mean_iou(c, yv, 36):.3f}')

if __name__ == '__main__':
    a = sys.argv[1:]
    if len(a) not in (4, 7): sys.exit(__doc__)
    main(int(a[0]), int(a[1]), int(a[2]), a[3], *(int(v) for v in a[4:]))
