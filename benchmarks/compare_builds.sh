#!/usr/bin/env bash
# Does a change keep the demo build's outputs? Builds manifests/demo.yaml from commit REF and from the working tree,
# both from the same source folder (the outputs record absolute input paths), and compares every output file but
# logs/ and build.json (whose fingerprint hashes the manifest model) byte for byte; the two training-data YAML files,
# which hold OUT's absolute path, are compared with OUT written as OUT.
#   benchmarks/compare_builds.sh REF          e.g. benchmarks/compare_builds.sh 2f45841
#   KEEP=DIR benchmarks/compare_builds.sh REF  also keeps both builds (DIR/ref, DIR/new) to look at what differs
set -euo pipefail
ref=${1:?usage: benchmarks/compare_builds.sh REF}
repo=$(git rev-parse --show-toplevel)
py=$repo/.venv/bin/python
work=$(mktemp -d)
src=$work/src
trap 'git -C "$repo" worktree remove --force "$src" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp -r "$work/ref" "$work/new" "$KEEP/"; rm -rf "$work"' EXIT

build() {  # $1: output folder; builds from $src
  (cd "$src" && "$py" -m corpus build manifests/demo.yaml --output "$1" > "$1.log" 2>&1) || { tail -20 "$1.log"; exit 1; }
  (cd "$1" && find . -type f ! -path "./logs/*" ! -name .build.lock ! -name build.json ! -name '*_data.yaml' | sort | xargs sha256sum) > "$1.sha256"
  for y in train_data.yaml nanotron_data.yaml; do sed "s#$1#OUT#g" "$1/$y" > "$1.$y"; done
}

git -C "$repo" worktree add -q --detach "$src" "$ref"
build "$work/ref"
git -C "$repo" worktree remove --force "$src"
mkdir -p "$src" && (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$src"
build "$work/new"
files=$(wc -l < "$work/ref.sha256")
if diff "$work/ref.sha256" "$work/new.sha256" && diff "$work/ref.train_data.yaml" "$work/new.train_data.yaml" \
   && diff "$work/ref.nanotron_data.yaml" "$work/new.nanotron_data.yaml"; then
  echo "identical: $files output files + train_data.yaml and nanotron_data.yaml (up to OUT), $ref vs working tree"
else
  echo "DIFFERENT: $ref vs working tree"; exit 1
fi
