"""Writes the small checkpoint fixtures of test/checkpoint/ with Debian's torch 1.13 and numpy.

Run: /usr/bin/python3 scripts/torch/make_pth_fixture.py [outdir]   (default test/fixtures/checkpoint)
Writes state-dict / MAE / MoCo .pth files, a hostile pickle in a torch-style zip, .npz files (stored
and deflated), a safetensors file written here by hand (F32/F16/BF16), and expected.json with the
values every reader must return (float32, flattened, row-major).
"""
import argparse
import collections
import json
import os
import struct
import sys
import zipfile

import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "checkpoint")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
expected = {}


def record(file, name, t):
    t = torch.as_tensor(t)
    expected.setdefault(file, {})[name] = {"shape": list(t.shape), "values": t.detach().float().flatten().tolist()}


def rounded(shape):
    # Values exact in f16 and bf16 (multiples of 1/8 below 16), so every dtype round-trips exactly.
    return (torch.randint(-64, 64, shape).float() / 8)


# 1. A plain state dict exercising dtypes, a Parameter, a storage offset, strides and shared storage.
base = rounded((5, 4))
sd = collections.OrderedDict()
sd["patch_embed.proj.weight"] = rounded((3, 4))
sd["patch_embed.proj.bias"] = torch.nn.Parameter(rounded((3,)))
sd["half"] = rounded((2, 2)).half()
sd["bfloat"] = rounded((2, 3)).bfloat16()
sd["double"] = torch.tensor([0.1, -2.5], dtype=torch.float64)
sd["num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
sd["offset_view"] = base[2:]          # storage offset 8 into a shared 20-element storage
sd["transposed"] = base.t()           # strides (1, 4): not contiguous
sd["shared_full"] = base
sd["empty"] = torch.zeros(0, 3)
torch.save(sd, os.path.join(OUT, "state_dict.pth"))
for k, v in sd.items():
    record("state_dict.pth", k, v)

# 2. MAE layout: {'model': sd, ...} with an argparse.Namespace (benign, allow-listed).
mae_sd = collections.OrderedDict([("cls_token", rounded((1, 1, 4))), ("blocks.0.attn.qkv.weight", rounded((12, 4)))])
torch.save({"model": mae_sd, "epoch": 5, "args": argparse.Namespace(lr=1.5e-4, model="mae_vit_base_patch16")},
           os.path.join(OUT, "mae.pth"))
for k, v in mae_sd.items():
    record("mae.pth", k, v)

# 3. MoCo v3 layout: DataParallel 'module.' prefix under 'state_dict'.
moco_sd = collections.OrderedDict([
    ("module.base_encoder.cls_token", rounded((1, 1, 4))),
    ("module.momentum_encoder.cls_token", rounded((1, 1, 4))),
])
torch.save({"epoch": 3, "arch": "vit_base", "state_dict": moco_sd}, os.path.join(OUT, "moco.pth.tar"))
for k, v in moco_sd.items():
    record("moco.pth.tar", k[len("module."):], v)

# 4. Hostile: a torch-style zip whose pickle calls os.system (protocol 2, GLOBAL + REDUCE).
evil = b"\x80\x02cos\nsystem\nq\x00X\x0f\x00\x00\x00echo pwned >&2q\x01\x85q\x02Rq\x03."
with zipfile.ZipFile(os.path.join(OUT, "hostile_os_system.pth"), "w", zipfile.ZIP_STORED) as z:
    for name, body in [("hostile_os_system/data.pkl", evil), ("hostile_os_system/version", b"3\n")]:
        z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body)  # fixed time: reproducible bytes

# 5. Google-style .npz, raw names; one stored and one deflated archive.
npz = {
    "Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel": rounded((4, 6)).numpy(),
    "Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel": rounded((4, 2, 2)).numpy().astype(np.float64),
    "embedding/bias": rounded((4,)).numpy().astype(np.float16),
    "cls": rounded((1, 1, 4)).numpy(),
    "scalar": np.array(3.25, dtype=np.float32),
}
np.savez(os.path.join(OUT, "vit.npz"), **npz)
np.savez_compressed(os.path.join(OUT, "vit_compressed.npz"), **npz)
for k, v in npz.items():
    record("vit.npz", k, torch.from_numpy(np.array(v)).float())

# 6. safetensors written by hand (no safetensors package here): F32, F16 and BF16.
st = collections.OrderedDict([("w32", rounded((2, 3))), ("w16", rounded((3, 2)).half()), ("wbf16", rounded((4,)).bfloat16())])
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
for k, v in st.items():
    raw = v.contiguous().view(torch.int16).numpy().tobytes() if v.dtype == torch.bfloat16 else v.numpy().tobytes()
    header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
    record("half.safetensors", k, v)
hj = json.dumps(header, separators=(",", ":")).encode()
hj += b" " * (-len(hj) % 8)
with open(os.path.join(OUT, "half.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote", sorted(os.listdir(OUT)), "total", sum(os.path.getsize(os.path.join(OUT, x)) for x in os.listdir(OUT)), "bytes")
