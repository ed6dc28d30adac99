#!/bin/sh
# Drops other platforms' native binaries from node_modules (onnxruntime-node ships darwin/win32/arm64 builds,
# koffi ships ~18 platforms). Keeps linux on the image's architecture only.
set -eu
arch=$(node -p process.arch)
ort=node_modules/onnxruntime-node/bin
if [ -d "$ort" ]; then
  find "$ort" -mindepth 2 -maxdepth 2 -type d ! -name linux -exec rm -rf {} +
  find "$ort" -mindepth 3 -maxdepth 3 -type d -path '*/linux/*' ! -name "$arch" -exec rm -rf {} +
fi
koffi=node_modules/koffi/build/koffi
if [ -d "$koffi" ]; then
  find "$koffi" -mindepth 1 -maxdepth 1 -type d ! -name "linux_$arch" -exec rm -rf {} +
fi
