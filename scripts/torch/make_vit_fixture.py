#!/usr/bin/env python3
"""Writes the ViT test fixtures under test/fixtures/vit/ from the PyTorch reference model.

  model.safetensors, input.bin, logits.json   a reduced ViT (reference ViT class, seed 0) and its forward
  vit_base_patch16_224.keys.json              timm key names and shapes of ViT-B/16 (depth 12, dim 768, 1000 classes)
  pos_embed.json                              F.interpolate(align_corners=False) results for the resampling tests

Run: /usr/bin/python3 scripts/torch/make_vit_fixture.py  (torch 1.13, CPU; takes a few seconds)
"""
import importlib.util, json, os, sys
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "vit")
REF = "/work/shared/reference/snell_torch.py"

# Reduced model: vit_ti's 3 heads, but dim 96 (head dim 32) so that the float32 weights stay under 1 MB.
DIM, DEPTH, HEADS, IMG, PATCH, CLASSES = 96, 2, 3, 32, 8, 10


def load_reference():
    spec = importlib.util.spec_from_file_location("snell_torch", REF)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def model_fixture(ref):
    ref.SIZES["vit_fixture"] = (DIM, DEPTH, HEADS)
    torch.manual_seed(0)
    m = ref.ViT("vit_fixture", classes=CLASSES, img=IMG, patch=PATCH).eval()
    # torch's default inits leave LayerNorm at 1/0 and biases small; perturb them so the test sees them.
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    ref.write_safetensors(os.path.join(OUT, "model.safetensors"), m.state_dict())
    x = torch.randn(2, 3, IMG, IMG)
    x.numpy().astype("float32").tofile(os.path.join(OUT, "input.bin"))
    with torch.no_grad():
        logits = m(x)
    cfg = dict(imgSize=IMG, patchSize=PATCH, inChans=3, numClasses=CLASSES, embedDim=DIM, depth=DEPTH,
               numHeads=HEADS, mlpRatio=4, qkvBias=True, eps=1e-6)
    json.dump(dict(model="vit_fixture", config=cfg, input_shape=list(x.shape), logits=logits.tolist()),
              open(os.path.join(OUT, "logits.json"), "w"))


def keys_fixture(ref):
    m = ref.ViT("vit_b", classes=1000, img=224, patch=16)
    keys = [[n, list(t.shape)] for n, t in m.state_dict().items()]
    json.dump(dict(model="vit_base_patch16_224", num_classes=1000, keys=keys),
              open(os.path.join(OUT, "vit_base_patch16_224.keys.json"), "w"), separators=(",", ":"))


def pos_embed_fixture():
    torch.manual_seed(1)
    cases = []
    for (h, w), (nh, nw) in [((3, 3), (5, 5)), ((5, 5), (3, 3)), ((4, 4), (6, 3)), ((7, 7), (2, 2)), ((2, 2), (9, 9))]:
        grid = torch.randn(1, 2, h, w)  # NCHW, 2 channels
        for mode, aa in [("bicubic", False), ("bicubic", True), ("bilinear", False), ("bilinear", True)]:
            out = F.interpolate(grid, size=(nh, nw), mode=mode, align_corners=False, antialias=aa)
            cases.append(dict(
                size=[h, w], newSize=[nh, nw], channels=2, interpolation=mode, antialias=aa,
                # channels-last, as pos_embed rows are stored
                input=grid[0].permute(1, 2, 0).reshape(-1).tolist(),
                output=out[0].permute(1, 2, 0).reshape(-1).tolist()))
    json.dump(dict(torch=torch.__version__, cases=cases), open(os.path.join(OUT, "pos_embed.json"), "w"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    ref = load_reference()
    model_fixture(ref)
    keys_fixture(ref)
    pos_embed_fixture()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))
