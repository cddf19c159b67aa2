#!/usr/bin/env bash
# Packs what scripts/gpu-probe.sh needs on a GPU machine that has no network, no node_modules and maybe
# no Node: the bench and smoke entries bundled (esbuild, onnxruntime-node left external), a slim
# onnxruntime-node (Linux x64 binaries only, ~13 MB packed), this machine's node binary, and the Vulkan
# loader's .deb. Everything goes to an ignored folder (default scratch/gpu-h5), small enough to travel.
# Usage: scripts/gpu-pack.sh [DIR]   (run from the repo root, after npm ci, on Linux x64)
set -euo pipefail
P=${1:-scratch/gpu-h5}
mkdir -p "$P/gl"
for f in bench/child.ts scripts/gpu-smoke.ts; do
  node_modules/.bin/esbuild "$f" --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --log-level=warning --outfile="$P/$(basename "$f" .ts).mjs"
done
[ -f "$P/node.xz" ] || xz -6 -T2 -c "$(command -v node)" > "$P/node.xz"
if [ ! -f "$P/nm.tar.xz" ]; then
  t=$(mktemp -d)
  mkdir -p "$t/nm/onnxruntime-node/bin/napi-v6/linux"
  cp -r node_modules/onnxruntime-node/{package.json,dist} "$t/nm/onnxruntime-node/"
  cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$t/nm/onnxruntime-node/bin/napi-v6/linux/"
  cp -r node_modules/onnxruntime-common "$t/nm/"
  tar -C "$t" -cJf "$P/nm.tar.xz" nm
  rm -rf "$t"
fi
ls "$P"/gl/libvulkan1_*.deb >/dev/null 2>&1 || (cd "$P/gl" && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh "$P"
