#!/usr/bin/env bash
# Start a Docker daemon when none answers (CI machines run none) and wait until it does.
# Idempotent and quick when one runs already. Never fails `make test` by itself: without a
# daemon the Docker tests say why (and fail under ASSAY_REQUIRE_ALL=1).
set -uo pipefail
log=${ASSAY_DOCKERD_LOG:-/tmp/assay-dockerd.log}
if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
  echo "start-dockerd: docker.io is not installed (apt-get install docker.io)" >&2
  exit 0
fi
docker info >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "start-dockerd: no Docker daemon answers; start one as root: sudo dockerd &" >&2
  exit 0
fi
echo "start-dockerd: starting dockerd (log: $log)"
# setsid + nohup: the daemon outlives make's process group and terminal.
setsid nohup dockerd >>"$log" 2>&1 </dev/null &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    echo "start-dockerd: dockerd answers"
    exit 0
  fi
  sleep 0.5
done
echo "start-dockerd: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 0
