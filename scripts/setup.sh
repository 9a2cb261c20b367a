#!/usr/bin/env bash
# Installs what grabstorm needs on a fresh Debian machine, and says what it did:
# redis-server, redis-sentinel, redis-tools (redis-benchmark for `grabstorm bench`),
# iproute2 (the `ip` binary copied into the partition helper image), tmux (the
# dashboard's end-to-end test). Needs root or sudo for apt-get; installs nothing
# that is already there.
set -euo pipefail

need=()
command -v redis-server   >/dev/null 2>&1 || need+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
command -v ip             >/dev/null 2>&1 || need+=(iproute2)
command -v tmux           >/dev/null 2>&1 || need+=(tmux)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "setup: redis-server, redis-sentinel, redis-tools, iproute2 and tmux are already installed" >&2
fi

# Debian's redis-server package starts a system Redis on port 6379; grabstorm
# does not need it and never talks to it. Leave it alone unless we just installed it.
if printf '%s\n' "${need[@]}" | grep -qx redis-server && command -v systemctl >/dev/null 2>&1; then
  systemctl stop redis-server >/dev/null 2>&1 || true
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "setup: Docker engine answers: the Docker backend will be used (images are built locally, never pulled)" >&2
else
  echo "setup: no Docker engine answers: grabstorm will run the topology as local processes" >&2
fi
