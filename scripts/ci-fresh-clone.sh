#!/usr/bin/env bash
# CI: a clone as a new user makes it, inside a 0700 folder from `mktemp -d` and with no ../shared beside it, runs
# the test files that use ../shared's fixtures or switch users: each must pass or skip saying why.
# It reuses this checkout's node_modules (a copy, so the clone changes nothing here) and builds the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

parent=$(mktemp -d)
chmod 700 "$parent"
trap 'chmod -R u+w "$parent" 2>/dev/null; rm -rf "$parent"' EXIT
clone="$parent/tessella"
git clone --quiet --no-hardlinks "$here" "$clone"
git -C "$clone" checkout --quiet --detach "$(git rev-parse HEAD)"
if [ -e "$parent/shared" ]; then
  echo "ci-fresh-clone: $parent/shared exists; the clone must not see ../shared" >&2
  exit 1
fi
cp -a "$(readlink -f node_modules)" "$clone/node_modules"

cd "$clone"
npm run build --silent
# Every test file that reads ../shared (its fixtures, the sharedDir helpers) or runs a child as another uid.
mapfile -t files < <(grep -rlE 'sharedDir|needsFixtures|fixtureModel|fixture\(|cmuTiles|shared/fixtures|uid:' test \
  --include='*.test.ts' | sort)
echo "ci-fresh-clone: ${#files[@]} test files in $clone (no ../shared, parent mode $(stat -c %a "$parent"))"
npm test -- "${files[@]}"
