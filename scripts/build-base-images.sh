#!/usr/bin/env bash
# Builds, without any image registry, the base images the Dockerfile and docker-compose.yml use:
#   - a Debian rootfs made by `debootstrap --variant=minbase` and `docker import`ed
#   - node:<exact tag of the Dockerfile's FROM>: that rootfs + the Node binary from the npm
#     registry's node-linux-<arch> package (what the `node` npm package installs) + npm,
#     with a `node` user (uid 1000) like the official image, so the Dockerfile builds unchanged
#   - Postgres and Redis from Debian's own packages (bookworm: PostgreSQL 15, Redis 7.0),
#     tagged under newspulse-local/ so they are never mistaken for the official images;
#     point compose at them with POSTGRES_IMAGE / REDIS_IMAGE (printed at the end).
#
# Needs: root (debootstrap), a running Docker engine, npm, and the Debian mirror apt uses.
# Re-running skips images that already exist; FORCE=1 rebuilds them all.
#
#   sudo scripts/build-base-images.sh
#   POSTGRES_IMAGE=newspulse-local/postgres:15-bookworm REDIS_IMAGE=newspulse-local/redis:7.0-bookworm \
#     docker compose up -d
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SUITE=${DEBIAN_SUITE:-bookworm}
WORK=${BASE_IMAGES_WORKDIR:-/var/tmp/newspulse-base-images}
FORCE=${FORCE:-0}
# The mirror apt already uses on this machine (deb822 or one-line sources), unless given.
default_mirror() {
  local uri
  uri=$(grep -hsE '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources | head -n1 | awk '{print $2}')
  [[ -n $uri ]] || uri=$(grep -hsE '^deb .*/debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | head -n1 | awk '{print $2}')
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${DEBIAN_MIRROR:-$(default_mirror)}

# The node tag is whatever the Dockerfile's first FROM says, e.g. node:24.21.0-bookworm-slim.
NODE_TAG=$(awk 'toupper($1) == "FROM" { print $2; exit }' "$ROOT/Dockerfile")
NODE_VERSION=${NODE_TAG#node:}
NODE_VERSION=${NODE_VERSION%%-*}
[[ $NODE_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "build-base-images: the Dockerfile's FROM ($NODE_TAG) is not an exact node:X.Y.Z-... tag" >&2; exit 2; }
NPM_VERSION=${NPM_VERSION:-11}
DEBIAN_TAG=newspulse-local/debian:$SUITE-minbase
POSTGRES_TAG=${POSTGRES_IMAGE:-newspulse-local/postgres:15-$SUITE}
REDIS_TAG=${REDIS_IMAGE:-newspulse-local/redis:7.0-$SUITE}

case $(uname -m) in
  x86_64) NODE_ARCH=x64 ;;
  aarch64) NODE_ARCH=arm64 ;;
  *) echo "build-base-images: no node-linux package for $(uname -m)" >&2; exit 2 ;;
esac

log() { printf '\n== %s\n' "$*" >&2; }
have_image() { [[ $FORCE != 1 ]] && docker image inspect "$1" >/dev/null 2>&1; }
# Builds use the host network: apt inside the build needs the mirror, and bridge NAT may be off.
build() { docker build --network host --pull=false "$@"; }

command -v docker >/dev/null || { echo "build-base-images: docker CLI not found" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "build-base-images: no Docker engine answers (start dockerd first)" >&2; exit 2; }
mkdir -p "$WORK"

# 1. Debian minbase rootfs -> image.
if have_image "$DEBIAN_TAG"; then
  log "$DEBIAN_TAG exists"
else
  command -v debootstrap >/dev/null || { echo "build-base-images: debootstrap not found (apt-get install debootstrap)" >&2; exit 2; }
  log "debootstrap $SUITE from $MIRROR"
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$WORK/rootfs" "$MIRROR" >&2
  # Keep the image small and its apt usable: no cached .debs or lists, the same mirror configured.
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/tmp/"*
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" > "$WORK/rootfs/etc/apt/sources.list"
  tar --numeric-owner -C "$WORK/rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$DEBIAN_TAG" >/dev/null
  rm -rf "$WORK/rootfs"
fi

# 2. Node: the exact version the Dockerfile names, plus npm, plus the `node` user.
if have_image "$NODE_TAG"; then
  log "$NODE_TAG exists"
else
  log "$NODE_TAG from npm: node-linux-$NODE_ARCH@$NODE_VERSION, npm@$NPM_VERSION"
  ctx="$WORK/node"
  rm -rf "$ctx" && mkdir -p "$ctx/node" "$ctx/npm"
  (cd "$ctx" && npm pack --silent "node-linux-$NODE_ARCH@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$ctx"/node-linux-*.tgz -C "$ctx/node" --strip-components=1 package/bin/node
  tar -xzf "$ctx"/npm-*.tgz -C "$ctx/npm" --strip-components=1
  rm -f "$ctx"/*.tgz
  # This machine's own CA certificates (e.g. a TLS-intercepting egress proxy): without them npm
  # ci inside `docker build` fails with SELF_SIGNED_CERT_IN_CHAIN. Node reads NODE_EXTRA_CA_CERTS,
  # not the system store, so point it at the bundle update-ca-certificates writes.
  mkdir -p "$ctx/ca"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  build -t "$NODE_TAG" -f - "$ctx" <<EOF
FROM $DEBIAN_TAG
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
ENV NODE_VERSION=$NODE_VERSION
CMD ["node"]
EOF
  rm -rf "$ctx"
fi

# 3. Postgres from Debian's package, with the official image's POSTGRES_USER/PASSWORD/DB contract.
if have_image "$POSTGRES_TAG"; then
  log "$POSTGRES_TAG exists"
else
  log "$POSTGRES_TAG from Debian's postgresql package"
  ctx="$WORK/postgres"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat > "$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# First start on an empty data directory: initdb with the given superuser and password, allow
# password logins from the network, create POSTGRES_DB. Then run the server as PID 1.
set -eu
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  user=${POSTGRES_USER:-postgres}
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != "$user" ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    createdb -U "$user" "$POSTGRES_DB"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "docker-entrypoint: initialised $PGDATA"
fi
exec "$@"
EOF
  chmod +x "$ctx/docker-entrypoint.sh"
  build -t "$POSTGRES_TAG" -f - "$ctx" <<EOF
FROM $DEBIAN_TAG
# No cluster from the package's postinst: the entrypoint makes one in PGDATA on first start.
RUN mkdir -p /etc/postgresql-common/createcluster.d \\
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \\
 && apt-get update && apt-get install -y --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \\
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql && chmod 0700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
USER postgres
# SIGINT is Postgres' fast shutdown (the official image uses it too).
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
  rm -rf "$ctx"
fi

# 4. Redis from Debian's package. Like the official image, protected mode is off (the container
# network is the boundary) and /data is the working directory, so AOF files land in the volume.
if have_image "$REDIS_TAG"; then
  log "$REDIS_TAG exists"
else
  log "$REDIS_TAG from Debian's redis-server package"
  ctx="$WORK/redis"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat > "$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
EOF
  chmod +x "$ctx/docker-entrypoint.sh"
  build -t "$REDIS_TAG" -f - "$ctx" <<EOF
FROM $DEBIAN_TAG
RUN apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /data && chown redis:redis /data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
  rm -rf "$ctx"
fi

log "base images"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^(newspulse-local/|node:)" >&2
cat <<EOF
# Use the local Postgres and Redis images with docker compose:
export POSTGRES_IMAGE=$POSTGRES_TAG REDIS_IMAGE=$REDIS_TAG
EOF
