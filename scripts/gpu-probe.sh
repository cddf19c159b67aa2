#!/usr/bin/env bash
# Issue 12 item 6: on a GPU machine with no network, what the machine offers (nvidia-smi, Vulkan ICDs,
# onnxruntime-node's CUDA provider), a device smoke test, then the engine bench's training step
# (bench/child.ts) per device and method: median step time after a warm-up, and GPU memory sampled by
# nvidia-smi while it runs. Every part has its own timeout so one hang cannot eat the lease.
# Needs the folder scripts/gpu-pack.sh makes (PACK). Writes everything under OUT.
# Usage: OUT=/tmp/out scripts/gpu-probe.sh
#   env: PACK=scratch/gpu-h5 MODEL=vit_b BATCH=32 STEPS=3 DEVICES="webgpu cuda" METHODS="snell lora" PART_S=150
#        EXTRA="--weights graph" (more bench/child.ts flags) TAG=wgraph (suffix of the result tags)
set -u
PACK=${PACK:-scratch/gpu-h5}
OUT=${OUT:-/tmp/gpu-probe}
MODEL=${MODEL:-vit_b} BATCH=${BATCH:-32} STEPS=${STEPS:-3} PART_S=${PART_S:-150}
DEVICES=${DEVICES:-"webgpu cuda"} METHODS=${METHODS:-"snell lora"}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/probe.log") 2>&1
section() { echo; echo "== $* ($(date -u +%T))"; }
W=$(mktemp -d /tmp/snell-gpu.XXXX)

section machine
nvidia-smi || echo "nvidia-smi: not available"
nproc; uname -r

section vulkan
ls -la /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
ldconfig -p | grep libvulkan || echo "libvulkan: not in ldconfig"
if command -v vulkaninfo >/dev/null; then timeout 30 vulkaninfo --summary; else echo "vulkaninfo: not installed"; fi
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  # Dawn dlopens libvulkan.so.1, and NVIDIA's ICD (libGLX_nvidia) needs libglvnd's libraries: the lease's
  # notes unpack exactly these loader packages into / (a bare lease machine, given back afterwards).
  for f in "$PACK"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  ldconfig -p | grep -E 'libvulkan|libGLdispatch|libGLX.so'
fi
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 \
  && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi

section node
NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ -n "${PACKED_NODE:-}" ] || ! "$NODE" -e 'process.exit(+process.versions.node.split(".")[0] < 20)'; then
  xz -dc "$PACK/node.xz" > "$W/node" && chmod +x "$W/node" && NODE=$W/node
fi
echo "node: $NODE $("$NODE" --version)"
tar -C "$W" -xJf "$PACK/nm.tar.xz" && mv "$W/nm" "$W/node_modules"
cp "$PACK"/*.mjs "$W/"

section cuda provider
ORT_BIN="$W/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
ls "$ORT_BIN"
CUDA_EP=0
if [ -f "$ORT_BIN/libonnxruntime_providers_cuda.so" ]; then CUDA_EP=1; else
  echo "onnxruntime-node's CUDA provider is not installed (libonnxruntime_providers_cuda.so absent; it comes with ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node, which needs network)"
fi
ldconfig -p | grep -E 'libcudart\.so|libcublas\.so|libcudnn\.so' || echo "no CUDA runtime / cuBLAS / cuDNN in ldconfig"
ls -d /usr/local/cuda*/ 2>&1
timeout 30 python3 -c "import onnxruntime as o; print('python onnxruntime', o.__version__, o.get_available_providers())" 2>&1

section smoke
timeout 60 "$NODE" "$W/gpu-smoke.mjs" --n 2048 --devices "$(echo cpu $DEVICES | tr ' ' '\n' | awk '!seen[$0]++' | paste -sd,)" | tee "$OUT/smoke.jsonl"
echo "smoke exit ${PIPESTATUS[0]}"

section bench
BASE=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
echo "GPU memory used before: ${BASE:-?} MiB"
for dev in $DEVICES; do
  if [ "$dev" = cuda ] && [ "$CUDA_EP" = 0 ]; then echo "$dev: skipped, no CUDA provider"; continue; fi
  for method in $METHODS; do
    tag="$dev-$MODEL-$method-b$BATCH${TAG:+-$TAG}"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$W/mem" 2>/dev/null &
    sampler=$!
    t0=$(date +%s)
    timeout "$PART_S" "$NODE" "$W/child.mjs" --model "$MODEL" --method "$method" --batch "$BATCH" --steps "$STEPS" \
      --device "$dev" ${EXTRA:-} > "$W/json" 2> "$W/err"
    rc=$?
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
    peak=$(sort -n "$W/mem" 2>/dev/null | tail -1)
    echo "$tag: exit $rc in $(( $(date +%s) - t0 )) s, GPU memory peak ${peak:-?} MiB (before ${BASE:-?} MiB)"
    # At most a few files come back from a lease: one line per part, traces and stderr appended per tag.
    echo "{\"tag\":\"$tag\",\"exit\":$rc,\"gpu_mem_peak_mib\":${peak:-null},\"gpu_mem_before_mib\":${BASE:-null},\"result\":$(tail -1 "$W/json" | grep '^{' || echo null)}" >> "$OUT/results.jsonl"
    sed "s/^/$tag /" "$W/mem" >> "$OUT/mem.txt"
    { echo "== $tag"; tail -200 "$W/err"; } >> "$OUT/stderr.txt"
    tail -1 "$W/json"; tail -3 "$W/err"
  done
done
section done
rm -rf "$W"
