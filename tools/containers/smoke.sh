#!/usr/bin/env bash
# The containers, proven: builds each app's image and runs the compose stack, then checks that all
# services turn healthy, a CreateImage through the published port reaches DONE, both workers take
# jobs, every app runs as non-root, and `docker-compose stop` ends each container with exit 0.
# Run as root from the repository (`bash tools/containers/smoke.sh`); .ci/run calls it when a
# Docker engine can be had. With no registry reachable, the base images the Dockerfiles and the
# compose file name (node:24-slim, redis:7.4-alpine) are made as stand-ins from Debian's packages
# with debootstrap, holding the CA certificates this host trusts (or npm fails TLS in a build).
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '\n==> containers: %s\n' "$*"; }
PROJECT=imagesvc-smoke
compose() { docker-compose -p "$PROJECT" "$@"; }

# 1. A Docker engine: the running one, or dockerd started here (as root).
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (dockerd >/tmp/imagesvc-dockerd.log 2>&1 &)
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/imagesvc-dockerd.log" >&2; exit 1; }
fi

# 2. Stand-in base images, unless the real ones (or earlier stand-ins) are here.
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
node24() { docker run --rm node:24-slim node -p 'process.versions.node.split(".")[0]' 2>/dev/null; }
if ! have_image node:24-slim || [ "$(node24)" != 24 ] || ! have_image redis:7.4-alpine; then
  root=$(mktemp -d /tmp/imagesvc-rootfs-XXXXXX)
  trap 'rm -rf "$root"' EXIT
  log "debootstrap: a Debian bookworm root for the stand-in base images"
  debootstrap --variant=minbase --include=ca-certificates,redis-server,redis-tools \
    bookworm "$root/fs" http://deb.debian.org/debian >/tmp/imagesvc-debootstrap.log 2>&1 ||
    { tail -20 /tmp/imagesvc-debootstrap.log >&2; exit 1; }
  # The host's extra CA certificates (a TLS-intercepting proxy's, say) become the image's.
  cp /usr/local/share/ca-certificates/*.crt "$root/fs/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$root/fs" update-ca-certificates >/dev/null
  chroot "$root/fs" useradd --uid 1000 --create-home --shell /bin/bash node
  chroot "$root/fs" apt-get clean
  rm -rf "$root/fs/var/lib/apt/lists/"*
  tar -C "$root/fs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - imagesvc-standin/debian:bookworm >/dev/null

  log "node:24-slim stand-in: Debian + Node 24 (npm's node@24) + npm"
  # Node 24 itself: this one if it is 24, else the one tools/node/with-node.mjs provisions.
  node_bin=$(node tools/node/with-node.mjs node -p 'require("fs").realpathSync(process.execPath)')
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")") # …/node_modules/npm
  ctx="$root/node"
  mkdir -p "$ctx"
  cp "$node_bin" "$ctx/node"
  cp -r "$npm_dir" "$ctx/npm"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM imagesvc-standin/debian:bookworm
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node -e 'if (process.versions.node.split(".")[0] !== "24") process.exit(1)' \
 && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
EOF
  docker build -q -t node:24-slim "$ctx" >/dev/null

  log "redis:7.4-alpine stand-in: Debian's redis-server, as the official image runs it"
  ctx="$root/redis"
  mkdir -p "$ctx"
  cat >"$ctx/entrypoint.sh" <<'EOF'
#!/bin/sh
# As the official image: no config file given, so listen for the other containers.
exec "$@" --protected-mode no
EOF
  cat >"$ctx/Dockerfile" <<'EOF'
FROM imagesvc-standin/debian:bookworm
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
  docker build -q -t redis:7.4-alpine "$ctx" >/dev/null
fi

# 3. The images and the stack.
cleanup() { compose down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
log "docker-compose build"
started=$(date +%s)
compose build >/tmp/imagesvc-compose-build.log 2>&1 || { tail -40 /tmp/imagesvc-compose-build.log >&2; exit 1; }
log "built in $(($(date +%s) - started)) s; docker-compose up"
compose up -d >/dev/null

healthy() { [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1")" = healthy ]; }
for _ in $(seq 120); do
  all=1
  for id in $(compose ps -q); do healthy "$id" || all=0; done
  [ "$all" = 1 ] && break
  sleep 1
done
for id in $(compose ps -q); do
  healthy "$id" || { compose ps; compose logs --tail 30; echo "not healthy: $(docker inspect -f '{{.Name}}' "$id")" >&2; exit 1; }
done
log "all $(compose ps -q | wc -l) containers healthy"

# Every app runs as non-root.
for service in gateway worker compute-emulator redis; do
  for id in $(compose ps -q "$service"); do
    uid=$(docker exec "$id" id -u)
    [ "$uid" != 0 ] || { echo "$service runs as root" >&2; exit 1; }
  done
done

# CreateImage through the published port, to DONE; enough of them that both workers take some.
GW=http://127.0.0.1:8080/computeimages.v1.ImageService
ops=()
for i in $(seq 8); do
  ops+=("$(curl -sS -H 'content-type: application/json' \
    -d '{"project":"my-project","image":{"name":"smoke-'"$i"'","sourceImage":"projects/debian-cloud/global/images/family/debian-12"}}' \
    "$GW/CreateImage" | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).name')")
done
for op in "${ops[@]}"; do
  done_op=$(curl -sS --max-time 60 -H 'content-type: application/json' \
    -d '{"project":"my-project","operation":"'"$op"'"}' "$GW/WaitOperation")
  echo "$done_op" | node -e '
    const op = JSON.parse(require("fs").readFileSync(0, "utf8"));
    if (op.status !== "DONE" || op.error) { console.error("not DONE without error:", JSON.stringify(op)); process.exit(1); }
    // The Compute operation the worker followed is named as the containers reach the emulator,
    // not 0.0.0.0; the image link stays the one CreateImage answered with.
    if (!op.computeOperation.startsWith("http://compute-emulator:8085/")) { console.error("computeOperation:", op.computeOperation); process.exit(1); }
    if (op.targetLink !== "https://compute.googleapis.com/compute/v1/projects/my-project/global/images/" + op.targetLink.split("/").pop()) { console.error("targetLink:", op.targetLink); process.exit(1); }'
done
log "${#ops[@]} operations DONE through the published port"
for id in $(compose ps -q worker); do
  took=$(docker logs "$id" 2>&1 | grep -c '"operation":"operation-' || true)
  [ "$took" -gt 0 ] || { echo "worker $id took no job" >&2; exit 1; }
done
log "both workers took jobs"
# The whole page first: `grep -q` stops reading at its match, and curl then fails writing the rest.
console_page=$(curl -sSf http://127.0.0.1:8080/console/) &&
  grep -q '<title>Image operations</title>' <<<"$console_page" ||
  { echo "the gateway image does not serve the console" >&2; exit 1; }
log "the gateway serves the operations console"

# A clean stop: every container exits 0 on SIGTERM.
compose stop >/dev/null
for id in $(compose ps -q); do
  code=$(docker inspect -f '{{.State.ExitCode}}' "$id")
  [ "$code" = 0 ] || { echo "$(docker inspect -f '{{.Name}}' "$id") exited $code on stop" >&2; exit 1; }
done
log "docker-compose stop: every container exited 0; smoke test passed in $(($(date +%s) - started)) s"
