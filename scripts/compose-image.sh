#!/usr/bin/env bash
# Builds a small Redis image from this host's redis-server, redis-sentinel,
# redis-cli and a shell (sh, cp, grep), for the compose files in compose/ on
# a machine that cannot pull redis:7.2 (no registry). Prints the tag; use it
# as REDIS_IMAGE:
#
#   REDIS_IMAGE=$(scripts/compose-image.sh) docker-compose -f compose/docker-compose.yml up -d
set -euo pipefail
tag="${1:-grabstorm-compose-redis:local}"
for tool in redis-server redis-cli docker; do
    command -v "$tool" >/dev/null || { echo "compose-image: $tool is needed (scripts/setup.sh installs Redis)" >&2; exit 2; }
done
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
bins=(/bin/sh /bin/cp /bin/grep "$(readlink -f "$(command -v redis-server)")" "$(readlink -f "$(command -v redis-cli)")")
mkdir -p "$root/bin" "$root/usr/bin" "$root/tmp" "$root/data"
chmod 1777 "$root/tmp"
for b in /bin/sh /bin/cp /bin/grep; do cp -L "$b" "$root$b"; done
cp -L "${bins[3]}" "$root/usr/bin/redis-server"
cp -L "${bins[4]}" "$root/usr/bin/redis-cli"
# redis-server is also redis-sentinel, by the name it is started under.
ln -s redis-server "$root/usr/bin/redis-sentinel"
for lib in $(ldd "${bins[@]}" | awk '/=> \// {print $3} /^[ \t]+\// {print $1}' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/bin:/bin' \
    --change 'WORKDIR /data' \
    --change 'LABEL grabstorm.compose-image=true' \
    - "$tag" >/dev/null
echo "$tag"
