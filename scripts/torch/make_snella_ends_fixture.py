"""Writes test/fixtures/snella-sparsity-ends.json: the SNELL authors' SNELLA.sparsify (model/
vision_transformer_timm.py, copied below) at s = 0 and s = 1 on a small K, with the gradient of
sum(dW * R) by K, in float64. At s = 0 only the smallest |K| is zeroed; at s = 1 the threshold is
max |K| and F.threshold zeroes every entry <= it, so dW = 0 and the gradient is 0.

Run: /usr/bin/python3 scripts/torch/make_snella_ends_fixture.py  (Debian: apt-get install python3-torch)
"""
import json
import os

import torch
import torch.nn.functional as F


def sparsify(weight, init_thres):
    """SNELLA.sparsify, verbatim apart from `self`."""
    weight_abs = weight.detach().abs()
    thres = torch.quantile(weight_abs.flatten(), init_thres)
    n_sub = F.threshold(weight_abs, float(thres), 0)
    weight = weight * n_sub
    return weight


torch.manual_seed(0)
rows, cols = 4, 5
K0 = torch.randn(rows, cols, dtype=torch.float64)
R = torch.randn(rows, cols, dtype=torch.float64)
cases = []
for s in [0.0, 1.0]:
    K = K0.clone().requires_grad_(True)
    dW = sparsify(K, s)
    (dW * R).sum().backward()
    cases.append({"s": s, "dW": dW.detach().flatten().tolist(), "dK": K.grad.flatten().tolist()})

out = {"rows": rows, "cols": cols, "K": K0.flatten().tolist(), "R": R.flatten().tolist(), "cases": cases}
path = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "snella-sparsity-ends.json")
with open(path, "w") as f:
    json.dump(out, f)
print(path, [(c["s"], sum(v != 0 for v in c["dW"])) for c in cases])
