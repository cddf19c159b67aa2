#!/usr/bin/env bash
# Installs what the WebGPU and browser tests need on Debian 12 (bookworm); `npm test` runs it first
# (pretest). Idempotent and quiet; needs root. What it installs:
#   - libvulkan1 and Mesa >= 25 (lavapipe: a software Vulkan that Dawn, onnxruntime-node's WebGPU,
#     accepts). Debian 12's own Mesa 22 lacks a feature Dawn requires, so Mesa comes from the
#     bookworm-backports suite of the machine's own Debian mirror (added from its first source stanza).
#   - chromium (ships SwiftShader: headless with --enable-unsafe-webgpu exposes a WebGPU adapter).
# Where it cannot (not root, not Debian 12, no mirror), it says so and exits 0: the tests that need
# these skip themselves, naming this script.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
say() { echo "scripts/install-webgpu-deps.sh: $*" >&2; }

mesa_ok() {
  case "$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null)" in
    2[5-9].*|[3-9][0-9].*) return 0 ;;
    *) return 1 ;;
  esac
}
have_all() { mesa_ok && dpkg-query -W libvulkan1 >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; }

if have_all; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  say "a software Vulkan (Mesa >= 25) or chromium is missing and this is not root; the WebGPU and browser tests will be skipped (run this script as root to install them)"
  exit 0
fi
if ! grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release; then
  say "not Debian 12 (bookworm): install Mesa >= 25 Vulkan drivers, libvulkan1 and chromium by hand; the WebGPU and browser tests will be skipped until then"
  exit 0
fi
src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/backports.sources
if ! grep -qs bookworm-backports /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; then
  if [ -f "$src" ]; then
    awk 'BEGIN{RS=""; ORS="\n\n"} NR==1' "$src" | sed 's/^Suites:.*/Suites: bookworm-backports/' > "$bp"
  elif [ -f /etc/apt/sources.list ]; then
    # one-line format: reuse the first "deb <mirror> bookworm main" line's mirror
    mirror=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
    [ -n "$mirror" ] && echo "deb $mirror bookworm-backports main" > /etc/apt/sources.list.d/backports.list
  fi
fi
if ! apt-get update -qq >/dev/null 2>&1; then
  say "apt-get update failed (no Debian mirror reachable?); the WebGPU and browser tests will be skipped"
  exit 0
fi
if ! mesa_ok; then
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null 2>&1 \
    || say "could not install mesa-vulkan-drivers from bookworm-backports; the Node WebGPU tests will be skipped"
fi
apt-get install -y -qq --no-install-recommends libvulkan1 chromium >/dev/null 2>&1 \
  || say "could not install libvulkan1/chromium; the browser tests will be skipped"
exit 0
