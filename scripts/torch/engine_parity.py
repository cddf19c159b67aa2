"""Engine parity fixtures: trains small models in PyTorch and writes their loss curves.

Run with /usr/bin/python3 (torch 1.13). Writes test/fixtures/engine/{mlp,transformer}.json: the data,
the initial weights, and per optimizer (AdamW, SGD with momentum) its config, the per-step learning
rates, the loss curve and the logits after the last step. Floats are written with 9 significant
digits, which round-trip float32 exactly.
Linear weights are written transposed ([in, out], the layout the TypeScript models use); every
other tensor keeps torch's layout. Weight decay goes to 2-D weights only (the SNELL recipe: no
decay for biases, LayerNorm, cls_token, pos_embed).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

STEPS = 20
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "engine")


class Mlp(nn.Module):
    def __init__(self, d_in=8, hidden=32, classes=4):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """timm-style pre-norm block: x + attn(norm1(x)); x + mlp(norm2(x))."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        b, n, c = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * (c // h) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, n, c)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Tiny(nn.Module):
    """Token embedding, cls token, pos embed, one block, final norm, head on the cls token."""

    def __init__(self, d_in=12, tokens=6, dim=16, heads=2, hidden=32, classes=3):
        super().__init__()
        self.embed = nn.Linear(d_in, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.block = Block(dim, heads, hidden)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        # Non-trivial LayerNorm affine parameters so their gradients are exercised from step 1.
        with torch.no_grad():
            for ln in (self.block.norm1, self.block.norm2, self.norm):
                ln.weight.add_(torch.randn_like(ln.weight) * 0.1)
                ln.bias.add_(torch.randn_like(ln.bias) * 0.1)

    def forward(self, x):
        x = self.embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.block(x))
        return self.head(x[:, 0])


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def dump_params(model):
    out = {}
    for name, p in model.named_parameters():
        t = p.detach()
        is_linear_weight = name.endswith(".weight") and t.dim() == 2
        if is_linear_weight:
            t = t.t().contiguous()
        out[name] = {"shape": list(t.shape), "data": flat(t), "decay": p.dim() == 2, "transposed": is_linear_weight}
    return out


def train(make_model, x, y, opt_name):
    torch.manual_seed(0)
    model = make_model()
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    if opt_name == "adamw":
        cfg = {"kind": "adamw", "betas": [0.9, 0.999], "eps": 1e-8, "weightDecay": 0.05}
        base_lr = 5e-3
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=base_lr, betas=tuple(cfg["betas"]), eps=cfg["eps"])
    else:
        cfg = {"kind": "sgd", "momentum": 0.9, "weightDecay": 1e-3}
        base_lr = 0.05
        opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=base_lr, momentum=cfg["momentum"])
    # Cosine schedule, so the test also checks that the learning rate is fed per step.
    lrs = [base_lr * 0.5 * (1 + math.cos(math.pi * t / STEPS)) for t in range(STEPS)]
    losses = []
    for t in range(STEPS):
        for grp in opt.param_groups:
            grp["lr"] = lrs[t]
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    with torch.no_grad():
        final_logits = flat(model(x))
    return {"optimizer": cfg, "lrs": lrs, "losses": losses, "finalLogits": final_logits}


def main():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    cases = {
        "mlp": (Mlp, torch.randn(16, 8, generator=g), torch.randint(0, 4, (16,), generator=g)),
        "transformer": (Tiny, torch.randn(8, 6, 12, generator=g), torch.randint(0, 3, (8,), generator=g)),
    }
    for model_name, (make, x, y) in cases.items():
        torch.manual_seed(0)
        init = dump_params(make())
        runs = {opt_name: train(make, x, y, opt_name) for opt_name in ("adamw", "sgd")}
        res = {"model": model_name, "steps": STEPS, "x": {"shape": list(x.shape), "data": flat(x)},
               "labels": [int(v) for v in y], "init": init, "runs": runs}
        path = os.path.normpath(os.path.join(OUT, f"{model_name}.json"))
        with open(path, "w") as f:
            json.dump(res, f, separators=(",", ":"))
        for opt_name, r in runs.items():
            print(f"{path} {opt_name}: loss {r['losses'][0]:.5f} -> {r['losses'][-1]:.5f}")


if __name__ == "__main__":
    main()
