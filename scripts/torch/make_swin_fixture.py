#!/usr/bin/env python3
"""Writes the Swin test fixtures under test/fixtures/swin/ from an independent PyTorch Swin (no timm).

  model.safetensors     a reduced Swin in timm's current layout (layers.N+1.downsample, head.fc, no buffers)
  model_original.pth    the same weights in Microsoft's original layout: {'model': state dict} with
                        layers.N.downsample at the end of stage N, `head`, and the relative_position_index /
                        attn_mask buffers
  input.bin             float32 images [2, 3, 32, 32]
  logits.json           config (the TS SwinConfig), input shape, logits, pooled features

The model follows Microsoft's swin_transformer.py (and the SNELL authors' model/swin_timm.py): torch.roll
for the cyclic shift, window_partition by view/permute, a -100 mask, strided x0..x3 patch merging, a
Conv2d patch embedding and mean pooling. Reduced config: 32 px, patch 4 (8x8 grid), window 4, dims 16/32,
depths [2, 2]: stage 0 has 4 windows and a shifted block; stage 1 (4x4 grid) is one window, unshifted.

Run: /usr/bin/python3 scripts/torch/make_swin_fixture.py  (Debian's torch 1.13, CPU; about a second)
"""
import collections, json, os, re, struct
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "swin")
CFG = dict(imgSize=32, patchSize=4, inChans=3, numClasses=5, embedDim=16, depths=[2, 2], numHeads=[2, 4],
           windowSize=4, mlpRatio=4, qkvBias=True, eps=1e-5)


def window_partition(x, ws):
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws * ws, C)


def window_reverse(w, ws, H, W):
    B = w.shape[0] // ((H // ws) * (W // ws))
    x = w.view(B, H // ws, W // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim, ws, heads):
        super().__init__()
        self.ws, self.heads, self.scale = ws, heads, (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += ws - 1
        rel[:, :, 1] += ws - 1
        rel[:, :, 0] *= 2 * ws - 1
        self.register_buffer("relative_position_index", rel.sum(-1))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        Bw, N, C = x.shape
        q, k, v = self.qkv(x).reshape(Bw, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(N, N, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = (attn.view(Bw // nW, nW, self.heads, N, N) + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.heads, N, N)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(Bw, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, res, heads, ws, shift):
        super().__init__()
        if res <= ws:
            ws, shift = res, 0
        self.res, self.ws, self.shift = res, ws, shift
        self.norm1 = nn.LayerNorm(dim, eps=CFG["eps"])
        self.attn = WindowAttention(dim, ws, heads)
        self.norm2 = nn.LayerNorm(dim, eps=CFG["eps"])
        self.mlp = Mlp(dim, dim * CFG["mlpRatio"])
        mask = None
        if shift > 0:
            img = torch.zeros(1, res, res, 1)
            cnt = 0
            for h in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                for w in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    img[:, h, w, :] = cnt
                    cnt += 1
            mw = window_partition(img, ws).squeeze(-1)
            mask = mw.unsqueeze(1) - mw.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        self.register_buffer("attn_mask", mask)

    def forward(self, x):
        B, L, C = x.shape
        h = self.norm1(x).view(B, self.res, self.res, C)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = window_reverse(self.attn(window_partition(h, self.ws), self.attn_mask), self.ws, self.res, self.res)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + h.reshape(B, L, C)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, res, dim):
        super().__init__()
        self.res = res
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=CFG["eps"])

    def forward(self, x):
        B, L, C = x.shape
        x = x.view(B, self.res, self.res, C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(B, -1, 4 * C)))


class Layer(nn.Module):
    def __init__(self, dim, res, depth, heads, ws, last):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, res, heads, ws, 0 if i % 2 == 0 else ws // 2) for i in range(depth)])
        self.downsample = None if last else PatchMerging(res, dim)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(CFG["inChans"], CFG["embedDim"], CFG["patchSize"], CFG["patchSize"])
        self.norm = nn.LayerNorm(CFG["embedDim"], eps=CFG["eps"])

    def forward(self, x):
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class Swin(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = PatchEmbed()
        n, grid = len(CFG["depths"]), CFG["imgSize"] // CFG["patchSize"]
        self.layers = nn.ModuleList([
            Layer(CFG["embedDim"] * 2 ** i, grid // 2 ** i, CFG["depths"][i], CFG["numHeads"][i], CFG["windowSize"], i == n - 1)
            for i in range(n)])
        nf = CFG["embedDim"] * 2 ** (n - 1)
        self.norm = nn.LayerNorm(nf, eps=CFG["eps"])
        self.head = nn.Linear(nf, CFG["numClasses"])

    def features(self, x):
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x).mean(1)

    def forward(self, x):
        return self.head(self.features(x))


def to_timm(sd):
    """Microsoft's layout -> timm's current one, as timm's checkpoint_filter_fn."""
    out = collections.OrderedDict()
    for k, v in sd.items():
        if "relative_position_index" in k or "attn_mask" in k:
            continue
        k = re.sub(r"layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", k)
        out[k.replace("head.", "head.fc.") if k.startswith("head.") else k] = v
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = dict(dtype="F32", shape=list(t.shape), data_offsets=[off, off + len(b)])
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    m = Swin().eval()
    # Larger than timm's init so that every piece (biases, LN affines, the relative bias, the mask) moves the logits.
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("relative_position_bias_table"):
                p.copy_(torch.randn_like(p))
            elif p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
            else:
                p.copy_(torch.randn_like(p) * 0.25)
    sd = m.state_dict()
    torch.save({"model": sd, "epoch": 300}, os.path.join(OUT, "model_original.pth"))
    write_safetensors(os.path.join(OUT, "model.safetensors"), to_timm(sd))
    x = torch.randn(2, 3, CFG["imgSize"], CFG["imgSize"])
    x.numpy().astype("float32").tofile(os.path.join(OUT, "input.bin"))
    with torch.no_grad():
        feats = m.features(x)
        logits = m.head(feats)
        # The same model without the shifted block's mask: the test asserts the mask matters.
        m.layers[0].blocks[1].attn_mask = None
        unmasked = m(x)
    json.dump(dict(config=CFG, input_shape=list(x.shape), logits=logits.tolist(), features=feats.tolist(),
                   logits_without_mask=unmasked.tolist()),
              open(os.path.join(OUT, "logits.json"), "w"))


if __name__ == "__main__":
    main()
