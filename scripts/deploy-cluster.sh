#!/usr/bin/env bash
# Deploys tessella to the Pachyderm cluster of the current pachctl context: builds and pushes the CPU and GPU
# images, renders pipelines/*.yaml with those images, creates the input repos, creates or updates the pipelines
# in DAG order. Idempotent. See scripts/deploy-cluster.ts for the options; --dry-run prints the commands.
# Every pipeline runs as transform.user (default 1000, the images' uid; --user UID|none): Pachyderm then runs the pod
# as that uid with it as fsGroup, and its worker makes /pfs/out owned by it (README, "The user container").
#   scripts/deploy-cluster.sh --registry REG [--tag TAG] [--dry-run] [--gpu-image-only] [--user UID|none]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$root/node_modules/tsx/dist/loader.mjs" ]; then
  exec node --import "file://$root/node_modules/tsx/dist/loader.mjs" "$root/scripts/deploy-cluster.ts" "$@"
elif [ -f "$root/dist/scripts/deploy-cluster.js" ]; then
  exec node "$root/dist/scripts/deploy-cluster.js" "$@"
fi
echo "deploy-cluster: run ./scripts/setup first (it installs the dependencies and builds)" >&2
exit 1
