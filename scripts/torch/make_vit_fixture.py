#!/usr/bin/env python3
"""Writes the ViT test fixtures under test/fixtures/vit/ from the PyTorch reference model.

  model.safetensors, input.bin, logits.json   a reduced ViT (reference ViT class, seed 0) and its forward
  vit_base_patch16_224.keys.json              timm key names and shapes of ViT-B/16 (depth 12, dim 768, 1000 classes)
  pos_embed.json                              F.interpolate(align_corners=False) results for the resampling tests
  tiny.npz, tiny_mae.pth, tiny_mocov3.pth.tar  one tiny ViT saved in Google's npz layout (numpy) and as MAE / MoCo v3
  tiny_logits.json                            checkpoints (torch.save), with its input and logits at 8px and at 12px

Run: /usr/bin/python3 scripts/torch/make_vit_fixture.py  (torch 1.13, CPU; takes a few seconds)
"""
import importlib.util, json, os, sys
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "vit")
REF = os.path.join(ROOT, "..", "shared", "reference", "snell_torch.py")  # the shared folder beside the checkout

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


def foreign_fixtures(ref):
    """One tiny model in three foreign layouts; the npz is written by inverting timm's _load_weights."""
    import numpy as np
    D, H, P, C = 8, 2, 4, 3
    ref.SIZES["vit_tiny_fixture"] = (D, 1, H)
    torch.manual_seed(2)
    m = ref.ViT("vit_tiny_fixture", classes=C, img=8, patch=P).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    sd = {k: v.detach().numpy().astype("float32") for k, v in m.state_dict().items()}
    hd = D // H
    npz = {
        "embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
        "embedding/bias": sd["patch_embed.proj.bias"],
        "cls": sd["cls_token"],
        "Transformer/posembed_input/pos_embedding": sd["pos_embed"],
        "Transformer/encoder_norm/scale": sd["norm.weight"], "Transformer/encoder_norm/bias": sd["norm.bias"],
        "head/kernel": sd["head.weight"].T, "head/bias": sd["head.bias"],
        "pre_logits/kernel": np.zeros((D, D), "float32"), "pre_logits/bias": np.zeros((D,), "float32"),
    }
    bp = "Transformer/encoderblock_0/"
    mp = bp + "MultiHeadDotProductAttention_1/"
    w, b = sd["blocks.0.attn.qkv.weight"], sd["blocks.0.attn.qkv.bias"]
    for i, n in enumerate(["query", "key", "value"]):
        npz[f"{mp}{n}/kernel"] = w[i * D:(i + 1) * D].T.reshape(D, H, hd)
        npz[f"{mp}{n}/bias"] = b[i * D:(i + 1) * D].reshape(H, hd)
    npz[f"{mp}out/kernel"] = sd["blocks.0.attn.proj.weight"].T.reshape(H, hd, D)
    npz[f"{mp}out/bias"] = sd["blocks.0.attn.proj.bias"]
    for src, dst in [("norm1", "LayerNorm_0"), ("norm2", "LayerNorm_2")]:
        npz[f"{bp}{dst}/scale"], npz[f"{bp}{dst}/bias"] = sd[f"blocks.0.{src}.weight"], sd[f"blocks.0.{src}.bias"]
    for r in range(2):
        npz[f"{bp}MlpBlock_3/Dense_{r}/kernel"] = sd[f"blocks.0.mlp.fc{r + 1}.weight"].T
        npz[f"{bp}MlpBlock_3/Dense_{r}/bias"] = sd[f"blocks.0.mlp.fc{r + 1}.bias"]
    np.savez(os.path.join(OUT, "tiny.npz"), **{k: np.ascontiguousarray(v) for k, v in npz.items()})

    tsd = m.state_dict()
    mae = {k: v for k, v in tsd.items() if not k.startswith("head.")}
    mae["mask_token"] = torch.zeros(1, 1, D)
    mae["decoder_embed.weight"] = torch.zeros(4, D)
    torch.save({"model": mae, "epoch": 1}, os.path.join(OUT, "tiny_mae.pth"))
    moco = {}
    for k, v in tsd.items():
        if not k.startswith("head."):
            moco[f"module.base_encoder.{k}"] = v
            moco[f"module.momentum_encoder.{k}"] = v * 0
    moco["module.base_encoder.head.0.weight"] = torch.zeros(16, D)
    moco["module.predictor.0.weight"] = torch.zeros(4, 16)
    torch.save({"state_dict": moco, "arch": "vit_base"}, os.path.join(OUT, "tiny_mocov3.pth.tar"))

    torch.manual_seed(3)
    x8 = torch.randn(2, 3, 8, 8)
    x12 = torch.randn(2, 3, 12, 12)
    # the same weights at 12px: pos_embed resampled as timm's npz loader does (bilinear, no antialias)
    m12 = ref.ViT("vit_tiny_fixture", classes=C, img=12, patch=P).eval()
    sd12 = dict(tsd)
    grid = tsd["pos_embed"][:, 1:].reshape(1, 2, 2, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(3, 3), mode="bilinear", align_corners=False, antialias=False)
    sd12["pos_embed"] = torch.cat([tsd["pos_embed"][:, :1], grid.permute(0, 2, 3, 1).reshape(1, 9, D)], 1)
    m12.load_state_dict(sd12)
    with torch.no_grad():
        out = dict(input8=x8.flatten().tolist(), input12=x12.flatten().tolist(),
                   logits8=m(x8).tolist(), logits12=m12(x12).tolist(),
                   headless8=m.norm(m.blocks(torch.cat([m.cls_token.expand(2, -1, -1),
                       m.patch_embed.proj(x8).flatten(2).transpose(1, 2)], 1) + m.pos_embed))[:, 0].tolist())
    json.dump(out, open(os.path.join(OUT, "tiny_logits.json"), "w"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    ref = load_reference()
    model_fixture(ref)
    keys_fixture(ref)
    pos_embed_fixture()
    foreign_fixtures(ref)
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))
