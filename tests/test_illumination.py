"Multi-illumination: the dataset layout read from files (embedded procedural scenes and hand-written folders), material reduction, joint crop/flip, pair and segmentation loaders, the U-Net CVAE, and the segmentation metrics (now in pertlearn.metrics)."
import io, json
import numpy as np
import pytest, torch
from PIL import Image
from pertlearn.utils import IGNORE_INDEX
from pertlearn.data.illumination import (MIP_SIZES, N_MATERIAL_CLASSES, OTHER_CLASS, MATERIAL_TABLE,
    reduce_materials, material_table_from_counts, read_scene, find_scenes, load_illumination, make_synthetic_illumination,
    crop_flip, pair_items, illumination_dls, illumination_seg_dls, image_name, label_name)
from pertlearn.metrics import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy
from pertlearn.models.illumination import IllumUNetCVAE
from pertlearn.cvae import save_cvae
from pertlearn.architectures import build_cvae, load_cvae
from pertlearn.utils import as_generator

MIP = 6   # 62×93: the smallest level that keeps the dataset's aspect, for speed


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    return make_synthetic_illumination(tmp_path_factory.mktemp('illum') / 'synth', n_scenes=8, mip=MIP, seed=0)


@pytest.fixture(scope='module')
def data(synth):
    return load_illumination(path=synth, mip=MIP, n_scenes=8, n_valid=1)


def _write_scene(d, mip, H, W, raw, seed=0, mode='P'):
    "A scene folder written by hand exactly as the dataset stores it."
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for k in range(25): Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(d / image_name(k, mip), quality=95)
    im = Image.fromarray(raw.astype(np.uint8), 'P' if mode == 'P' else 'L')
    if mode == 'P': im.putpalette([i % 256 for i in range(768)])
    im.save(d / label_name(mip))


def test_sizes_and_orientation():
    assert MIP_SIZES[5] == (125, 187) and MIP_SIZES[4] == (250, 375) and MIP_SIZES[3] == (500, 750)


def test_hand_written_folder_round_trip(tmp_path):
    H, W = MIP_SIZES[7]
    raw = np.zeros((H, W), np.uint8); raw[:, W // 2:] = 3; raw[0, :5] = 200
    for name in ('kitchen_a', 'everett_b', 'room_c'): _write_scene(tmp_path / name, 7, H, W, raw)
    tr, te = find_scenes(tmp_path, 7)
    assert tr == ['kitchen_a', 'room_c'] and te == ['everett_b']
    x, lab = read_scene(tmp_path / 'kitchen_a', 7)
    assert x.shape == (25, 3, H, W) and x.dtype == torch.uint8
    np.testing.assert_array_equal(lab.numpy(), raw)                       # palette indices, not palette colours
    ref = np.asarray(Image.open(tmp_path / 'kitchen_a' / image_name(4, 7)))
    np.testing.assert_array_equal(x[4].permute(1, 2, 0).numpy(), ref)
    d = load_illumination('folder', tmp_path, mip=7, n_valid=0)
    assert d.test.names == ['everett_b'] and len(d.train) == 2 and len(d.valid) == 0
    y = d.train.labels[0]
    assert y[1, 0] == IGNORE_INDEX and y[1, -1] == 2 and y[0, 0] == OTHER_CLASS


def test_errors(tmp_path):
    H, W = MIP_SIZES[7]
    raw = np.ones((H, W), np.uint8)
    _write_scene(tmp_path / 'grey', 7, H, W, raw, mode='L')
    with pytest.raises(ValueError, match='indexed-palette'): read_scene(tmp_path / 'grey', 7)
    _write_scene(tmp_path / 'portrait', 7, W, H, raw.T)
    with pytest.raises(ValueError, match=f'expected {H}×{W} at mip 7'): read_scene(tmp_path / 'portrait', 7)
    assert read_scene(tmp_path / 'portrait', 7, check_size=False)[0].shape == (25, 3, W, H)
    with pytest.raises(FileNotFoundError, match='missing 26 file'): read_scene(tmp_path / 'portrait', 6)
    with pytest.raises(FileNotFoundError, match='does not exist'): read_scene(tmp_path / 'nope', 7)
    with pytest.raises(FileNotFoundError, match='does not exist'): load_illumination('folder', tmp_path / 'nope')
    with pytest.raises(ValueError, match='no test scenes'): load_illumination('folder', tmp_path, mip=7, n_valid=0)


def test_material_reduction():
    assert N_MATERIAL_CLASSES == 36 and OTHER_CLASS == 35
    y = reduce_materials(np.arange(256, dtype=np.uint8))
    assert y[0] == IGNORE_INDEX and y[1] == 0 and y[35] == 34 and (y[36:] == OTHER_CLASS).all()
    classes = set(y.tolist()) - {IGNORE_INDEX}
    assert classes == set(range(36)) and IGNORE_INDEX not in range(36)
    t = material_table_from_counts(np.r_[100, np.arange(1, 51)], k=35)
    assert len([c for c in t.values() if c != IGNORE_INDEX]) == 35 and t[50] == 0 and 15 not in t


def test_synthetic_deterministic_and_cached(synth, tmp_path):
    again = make_synthetic_illumination(tmp_path / 'again', n_scenes=8, mip=MIP, seed=0)
    for f in ('synth_000/dir_0_mip6.jpg', 'everett_synth_003/materials_mip6.png'):
        assert (again / f).read_bytes() == (synth / f).read_bytes()
    assert json.loads((synth / 'synthetic.json').read_text())['n_scenes'] == 8
    assert Image.open(synth / 'synth_000' / label_name(MIP)).mode == 'P'
    tr, te = find_scenes(synth, MIP)
    assert len(te) == 2 and all(n.startswith('everett') for n in te)


def test_crop_flip_joint():
    g = as_generator(0)
    x = torch.rand(6, 3, 20, 30); y = (x[:, 0] * 10).long()
    (a, b), yy = crop_flip((x, x * 0.5), y, crop=(8, 12), flip=True, g=g)
    assert torch.equal(b, a * 0.5) and torch.equal((a[:, 0] * 10).long(), yy)
    (p,), py = crop_flip((x,), y, crop=(24, 30))
    assert p.shape == (6, 3, 24, 30) and (py[:, :2] == IGNORE_INDEX).all() and (py[:, 2:22] == y).all()


def test_pair_loaders(data):
    dls = illumination_dls(data, bs=4, crop=(32, 48), device='cpu', repeats=2)
    x, xt, t = dls.train.one_batch()
    assert x.shape == xt.shape == (4, 3, 32, 48) and t is xt and dls.n_inp == 2
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and x.dtype == torch.float32
    assert dls.train.n == 2 * len(data.train)
    it = pair_items(3, 'all'); assert len(it) == 3 * 600 and (it[:, 1] != it[:, 2]).all()
    fixed = illumination_dls(data, mode='fixed', ref_dir=7, bs=3, flip=False, device='cpu')
    fx, fxt, _ = fixed.train.one_batch()
    assert torch.equal(fx, data.train.images[fixed.train.order()[:3], 7].float() / 255)
    assert not torch.equal(fx, fxt)
    d2 = illumination_dls(data, bs=4, crop=(32, 48), device='cpu', repeats=2)
    assert torch.equal(d2.train.one_batch()[1], xt) and torch.equal(d2.valid.one_batch()[0], dls.valid.one_batch()[0])


def test_seg_loaders(data):
    sd = illumination_seg_dls(data, mode='random', bs=4, crop=(32, 48), device='cpu')
    x, y = sd.train.one_batch()
    assert x.shape == (4, 3, 32, 48) and y.shape == (4, 32, 48) and y.dtype == torch.int64
    assert set(y.unique().tolist()) <= set(range(36)) | {IGNORE_INDEX}
    ev = illumination_seg_dls(data, eval_dirs='all', bs=25, device='cpu')
    vx, vy = ev[2].one_batch()
    assert torch.equal(vy, data.test.labels[0].expand(25, -1, -1)) and torch.equal(vx, data.test.images[0].float() / 255)


def test_mean_iou_and_pixel_accuracy():
    t = torch.tensor([0, 0, 1, 1, 2, IGNORE_INDEX, 2])
    p = torch.tensor([0, 1, 1, 1, -1, 5, 2])
    # class 0: tp 1 / union 2; class 1: tp 2 / union 3; class 2: tp 1 / union 1 (the abstained pixel is left out)
    assert mean_iou(p, t, 6) == pytest.approx((1/2 + 2/3 + 1) / 3)
    assert pixel_accuracy(p, t) == pytest.approx(4 / 6) and pixel_accuracy(p, t, abstain_wrong=False) == pytest.approx(4 / 5)
    cm = confusion_matrix(p, t, 6); assert cm.sum() == 5 and cm[0, 1] == 1
    assert torch.isnan(iou_per_class(cm)[3:]).all()
    # against a direct per-class computation on random maps
    g = torch.Generator().manual_seed(0)
    tt = torch.randint(0, 5, (3, 17, 19), generator=g); pp = torch.randint(0, 5, (3, 17, 19), generator=g)
    tt[:, :2] = IGNORE_INDEX
    keep = tt != IGNORE_INDEX
    ious = [((pp == c) & (tt == c) & keep).sum() / (((pp == c) | (tt == c)) & keep).sum() for c in range(5)]
    assert mean_iou(pp, tt, 36) == pytest.approx(float(torch.stack(ious).mean()))
    with pytest.raises(ValueError, match='same shape'): mean_iou(pp, tt[:1], 5)


def test_unet_cvae_sizes_and_transfer(tmp_path):
    torch.manual_seed(0)
    m = build_cvae('illum_unet', latents=[16, 8, 4, 4, 4], widths=[4, 8, 8, 8, 8]).eval()
    assert m.latent_dim == 36
    n = sum(p.numel() for p in m.parameters())
    for hw in [MIP_SIZES[6], MIP_SIZES[5], (40, 64)]:
        x = torch.rand(2, 3, *hw)
        out = m(x, x.flip(0))
        assert out.recon.shape == x.shape and out.mu_p.shape == (2, 36)
        assert ((out.recon > 0) & (out.recon < 1)).all()
    assert sum(p.numel() for p in m.parameters()) == n
    save_cvae(m, tmp_path / 'm.safetensors')
    m2, _ = load_cvae(tmp_path / 'm.safetensors')
    x = torch.rand(1, 3, *MIP_SIZES[6])
    torch.testing.assert_close(m2(x, x).recon, m(x, x).recon)
    assert IllumUNetCVAE().latent_dim == 256
