#!/usr/bin/env python3
"""Writes the ConvNeXt test fixtures under test/fixtures/convnext/ from two independent PyTorch models.

  FbConvNeXt    Facebook's original module tree (facebookresearch/ConvNeXt models/convnext.py): downsample_layers,
                stages.N.M.{dwconv,norm,pwconv1,pwconv2,gamma}, a hand-written channels-first LayerNorm, norm, head
  TimmConvNeXt  timm's current module tree (timm/models/convnext.py): stem.0/1, stages.N.downsample.0/1,
                stages.N.blocks.M.{conv_dw,norm,mlp.fc1,mlp.fc2,gamma}, LayerNorm2d by permutes, head.norm/head.fc

  model.safetensors   a reduced ConvNeXt (seed 0, every tensor perturbed so each one matters) from TimmConvNeXt
  fb.pth              the same weights from FbConvNeXt, saved as FB's releases are: torch.save({'model': sd})
  input.bin, logits.json   a batch of 2 and its logits (both models agree to 1e-5; the script checks)
  convnext_base.keys.json  TimmConvNeXt's state-dict keys and shapes for ConvNeXt-B with the 21841-class head

Run: /usr/bin/python3 scripts/torch/make_convnext_fixture.py  (Debian's python3-torch, CPU; a few seconds)
"""
import json, os, struct
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "convnext")
DEPTHS, DIMS, IMG, CLASSES = [1, 1, 2, 1], [8, 16, 24, 32], 64, 5
EPS = 1e-6


class FbLayerNorm(nn.Module):
    """FB's LayerNorm: F.layer_norm for channels_last, an explicit mean/var over dim 1 for channels_first."""
    def __init__(self, d, data_format="channels_last"):
        super().__init__()
        self.weight, self.bias, self.fmt = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d)), data_format

    def forward(self, x):
        if self.fmt == "channels_last":
            return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, EPS)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + EPS)) + self.bias[:, None, None]


class FbBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.dwconv = nn.Conv2d(d, d, 7, padding=3, groups=d)
        self.norm = FbLayerNorm(d)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)
        self.gamma = nn.Parameter(1e-6 * torch.ones(d))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class FbConvNeXt(nn.Module):
    def __init__(self, depths, dims, classes):
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), FbLayerNorm(dims[0], "channels_first"))])
        for i in range(len(dims) - 1):
            self.downsample_layers.append(nn.Sequential(FbLayerNorm(dims[i], "channels_first"), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2)))
        self.stages = nn.ModuleList([nn.Sequential(*[FbBlock(d) for _ in range(n)]) for n, d in zip(depths, dims)])
        self.norm = nn.LayerNorm(dims[-1], eps=EPS)
        self.head = nn.Linear(dims[-1], classes)

    def forward(self, x):
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean([-2, -1])))


class LayerNorm2d(nn.LayerNorm):
    """timm's LayerNorm2d: permute to NHWC, layer_norm, permute back."""
    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class Mlp(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d, h), nn.GELU(), nn.Linear(h, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TimmBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.conv_dw = nn.Conv2d(d, d, 7, padding=3, groups=d)
        self.norm = nn.LayerNorm(d, eps=EPS)
        self.mlp = Mlp(d, 4 * d)
        self.gamma = nn.Parameter(1e-6 * torch.ones(d))

    def forward(self, x):
        y = self.mlp(self.norm(self.conv_dw(x).permute(0, 2, 3, 1)))
        return x + y.mul(self.gamma).permute(0, 3, 1, 2)


class TimmStage(nn.Module):
    def __init__(self, cin, d, depth, first):
        super().__init__()
        self.downsample = nn.Identity() if first else nn.Sequential(LayerNorm2d(cin, eps=EPS), nn.Conv2d(cin, d, 2, stride=2))
        self.blocks = nn.Sequential(*[TimmBlock(d) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class Head(nn.Module):
    def __init__(self, d, classes):
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(d, eps=EPS), nn.Linear(d, classes)

    def forward(self, x):
        return self.fc(self.norm(x.mean((2, 3))))


class TimmConvNeXt(nn.Module):
    def __init__(self, depths, dims, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0], eps=EPS))
        self.stages = nn.Sequential(*[TimmStage(dims[max(i - 1, 0)], dims[i], depths[i], i == 0) for i in range(len(dims))])
        self.head = Head(dims[-1], classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


def fb_to_timm(k):
    """Independent of src/models/convnext-checkpoint.ts: written from the two module trees above."""
    parts = k.split(".")
    if parts[0] == "downsample_layers":
        return (f"stem.{parts[2]}" if parts[1] == "0" else f"stages.{parts[1]}.downsample.{parts[2]}") + "." + ".".join(parts[3:])
    if parts[0] == "stages":
        sub = {"dwconv": "conv_dw", "norm": "norm", "pwconv1": "mlp.fc1", "pwconv2": "mlp.fc2", "gamma": "gamma"}[parts[3]]
        return ".".join([f"stages.{parts[1]}.blocks.{parts[2]}", sub] + parts[4:])
    return {"norm": "head.norm", "head": "head.fc"}[parts[0]] + "." + parts[1]


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = dict(dtype="F32", shape=list(t.shape), data_offsets=[off, off + len(b)])
        blobs.append(b); off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    fb = FbConvNeXt(DEPTHS, DIMS, CLASSES).eval()
    with torch.no_grad():
        for n, p in fb.named_parameters():
            if n.endswith("gamma"):
                p.copy_(0.5 + 0.2 * torch.randn_like(p))  # the default 1e-6 would hide every block
            elif p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (1.0 / p[0].numel()) ** 0.5)
    timm = TimmConvNeXt(DEPTHS, DIMS, CLASSES).eval()
    fb_sd = fb.state_dict()
    timm.load_state_dict({fb_to_timm(k): v for k, v in fb_sd.items()}, strict=True)
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        logits, logits_fb = timm(x), fb(x)
    assert (logits - logits_fb).abs().max() < 1e-5, "the two module trees disagree"
    write_safetensors(os.path.join(OUT, "model.safetensors"), timm.state_dict())
    torch.save({"model": fb_sd, "epoch": 1}, os.path.join(OUT, "fb.pth"))
    x.numpy().astype("float32").tofile(os.path.join(OUT, "input.bin"))
    cfg = dict(arch="convnext", imgSize=IMG, patchSize=4, inChans=3, numClasses=CLASSES, depths=DEPTHS, dims=DIMS,
               mlpRatio=4, eps=EPS, lsInitValue=1e-6)
    json.dump(dict(torch=torch.__version__, config=cfg, input_shape=list(x.shape), logits=logits.tolist()),
              open(os.path.join(OUT, "logits.json"), "w"))
    base = TimmConvNeXt([3, 3, 27, 3], [128, 256, 512, 1024], 21841)
    keys = [[n, list(t.shape)] for n, t in base.state_dict().items()]
    json.dump(dict(model="convnext_base", num_classes=21841, keys=keys),
              open(os.path.join(OUT, "convnext_base.keys.json"), "w"), separators=(",", ":"))


if __name__ == "__main__":
    main()
