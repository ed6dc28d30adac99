#!/bin/sh
# Drops what the runtime never loads from a production node_modules (run in node_modules' parent folder, after
# `npm prune --omit=dev`):
#   - other platforms' native binaries: onnxruntime-node ships darwin/win32/arm64 builds, koffi ~18 platforms,
#     sharp may bring its wasm32 build; only linux on this machine's architecture stays;
#   - better-sqlite3's compile leftovers: node-gyp's obj/ and obj.target/, the static sqlite3.a, the
#     test_extension.node it builds for its own tests, the SQLite sources (deps/, src/); only
#     build/Release/better_sqlite3.node is loaded (through `bindings`);
#   - type declarations under @types (a runtime dependency of protobufjs, so `npm prune` keeps @types/node).
# Prints what it removed, and the size before and after.
set -eu
nm=${1:-node_modules}
[ -d "$nm" ] || { echo "prune-native: no $nm folder here ($(pwd))" >&2; exit 1; }
arch=$(node -p process.arch)
before=$(du -sk "$nm" | cut -f1)

gone() { for p in "$@"; do [ -e "$p" ] || continue; echo "prune-native: removed ${p#"$nm"/}"; rm -rf "$p"; done; }

ort=$nm/onnxruntime-node/bin
if [ -d "$ort" ]; then
  gone $(find "$ort" -mindepth 2 -maxdepth 2 -type d ! -name linux)
  gone $(find "$ort" -mindepth 3 -maxdepth 3 -type d -path '*/linux/*' ! -name "$arch")
fi

koffi=$nm/koffi/build/koffi
if [ -d "$koffi" ]; then
  gone $(find "$koffi" -mindepth 1 -maxdepth 1 -type d ! -name "linux_$arch")
fi

if [ -d "$nm/@img" ]; then
  gone $(find "$nm/@img" -mindepth 1 -maxdepth 1 -type d -name 'sharp-*' \
    ! -name "sharp-linux-$arch" ! -name "sharp-libvips-linux-$arch")
fi

bs=$nm/better-sqlite3
addon=$bs/build/Release/better_sqlite3.node
if [ -f "$addon" ]; then
  keep=$(mktemp)
  cp "$addon" "$keep"
  gone "$bs/build" "$bs/deps" "$bs/src"
  mkdir -p "$bs/build/Release"
  mv "$keep" "$addon"
  chmod 755 "$addon"
elif [ -d "$bs" ]; then
  echo "prune-native: $addon is missing: better-sqlite3 was not built (is a compiler in the build stage?)" >&2
  exit 1
fi

gone "$nm/@types"

after=$(du -sk "$nm" | cut -f1)
echo "prune-native: $nm $((before / 1024)) MiB -> $((after / 1024)) MiB"
