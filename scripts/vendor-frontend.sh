#!/usr/bin/env bash
# Vendors the browser files the service serves itself (Swagger UI and ReDoc for /docs and
# /redoc) from the npm registry into app/static/vendor, so no page loads anything from
# another host. Versions are pinned in frontend/package.json and frontend/package-lock.json;
# the files to copy are package.json's "vendorFiles". Needs node and npm, and the registry.
#
#   bash scripts/vendor-frontend.sh                  reinstall from the lock and copy the files
#   bash scripts/vendor-frontend.sh redoc@2.5.5 ...  pin new versions (updates package.json and
#                                                    the lock), then copy the files
#   bash scripts/vendor-frontend.sh --check          fail if app/static/vendor differs from what
#                                                    the lock installs
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
frontend="$root/frontend"
vendor="$root/app/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

check=0
if [[ "${1:-}" == "--check" ]]; then
  check=1
  shift
fi

# installed outside the checkout, so no node_modules lands in the working tree
cp "$frontend/package.json" "$frontend/.npmrc" "$work/"
if [[ -f "$frontend/package-lock.json" ]]; then
  cp "$frontend/package-lock.json" "$work/"
fi
if (($#)) || [[ ! -f "$work/package-lock.json" ]]; then
  ((check == 0)) || { echo "--check takes no package names" >&2; exit 2; }
  (cd "$work" && npm install "$@")
  cp "$work/package.json" "$work/package-lock.json" "$frontend/"
else
  # npm ci verifies every tarball against the integrity in the lock
  (cd "$work" && npm ci)
fi

node "$frontend/copy-vendor-files.mjs" "$work" "$work/out"

if ((check)); then
  if diff -r "$work/out" "$vendor"; then
    echo "app/static/vendor matches frontend/package-lock.json"
  else
    echo "app/static/vendor differs from frontend/package-lock.json: run bash scripts/vendor-frontend.sh" >&2
    exit 1
  fi
else
  rm -rf "$vendor"
  mkdir -p "$(dirname "$vendor")"
  cp -r "$work/out" "$vendor"
  echo "vendored into app/static/vendor:"
  (cd "$vendor" && find . -type f | sort)
fi
