#!/usr/bin/env bash
# A private Docker engine for the docker-executor tests: Debian's docker.io and
# busybox-static, dockerd on its own socket and data root with no networking
# (no registry is reachable), and a test image made with `docker import` from a
# busybox root filesystem. Idempotent; prints the DOCKER_HOST to use.
set -euo pipefail
root=${TUNING_TEST_DOCKER_ROOT:-/var/lib/tuning-test-docker}
sock="$root/docker.sock"
image=${TUNING_TEST_DOCKER_IMAGE:-tuning-test-busybox:latest}
export DOCKER_HOST="unix://$sock"

if ! command -v dockerd >/dev/null || ! command -v busybox >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static >&2
fi
mkdir -p "$root"
if ! docker version >/dev/null 2>&1; then
  dockerd --iptables=false --ip6tables=false --bridge=none \
    --data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/dockerd.pid" \
    --host "$DOCKER_HOST" >"$root/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
  docker version >/dev/null || { tail -20 "$root/dockerd.log" >&2; exit 1; }
fi
if ! docker image inspect "$image" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/etc"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' - "$image" >&2
  rm -rf "$rootfs"
fi
echo "$DOCKER_HOST"
