"""Writes test/fixtures/model-ema.json: the SNELL authors' ModelEma (train_alloc_ema.py, the same
update as timm's ModelEmaV2) run in float32 over a sequence of parameter values, so the TypeScript
ModelEma can be checked bit for bit.

Run: /usr/bin/python3 scripts/torch/make_model_ema_fixture.py  (Debian: apt-get install python3-torch)
"""
import copy
import json
import os

import torch


class ModelEma(torch.nn.Module):
    """Copied from the authors' train_alloc_ema.py (ssfgunner/SNELL)."""

    def __init__(self, model, decay=0.9999):
        super().__init__()
        self.module = copy.deepcopy(model)
        self.module.eval()
        self.decay = decay

    def _update(self, model, update_fn):
        with torch.no_grad():
            for ema_v, model_v in zip(self.module.parameters(), model.parameters()):
                ema_v.copy_(update_fn(ema_v, model_v))
            for ema_v, model_v in zip(self.module.buffers(), model.buffers()):
                ema_v.copy_(model_v)

    def update(self, model):
        self._update(model, update_fn=lambda e, m: self.decay * e + (1. - self.decay) * m)


def case(decay, steps, seed):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, 3, generator=g))
        model.bias.copy_(torch.randn(2, generator=g))
    initial = {n: p.detach().flatten().tolist() for n, p in model.named_parameters()}
    ema = ModelEma(model, decay)
    values, expected = [], []
    for _ in range(steps):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.5)
        ema.update(model)
        values.append({n: p.detach().flatten().tolist() for n, p in model.named_parameters()})
        expected.append({n: p.detach().flatten().tolist() for n, p in ema.module.named_parameters()})
    return {"decay": decay, "initial": initial, "values": values, "expected": expected}


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "model-ema.json")
    cases = [case(0.9, 6, 0), case(0.9999, 6, 1), case(0.37, 4, 2)]
    with open(out, "w") as f:
        json.dump({"source": "scripts/torch/make_model_ema_fixture.py", "torch": torch.__version__, "cases": cases}, f)
    print(out)


if __name__ == "__main__":
    main()
