#!/usr/bin/env bash
# Installs a MinIO server for Wisp's S3 tests and benchmark, and optionally
# starts one on loopback.
#
#   scripts/minio.sh install   build the server once (about 9-10 minutes on a
#                              2-core machine) into the cache; later calls find
#                              it there and return at once
#   scripts/minio.sh path      print the binary's path (installing it first)
#   scripts/minio.sh run [DIR] start a server on 127.0.0.1:9000 (MINIO_ADDRESS
#                              overrides) with its data in DIR (default: a
#                              temporary directory), in the foreground
#
# The binary lives in $WISP_MINIO_CACHE (default ~/.cache/wisp/minio/bin); the
# tests look for it there, or take $WISP_MINIO. MinIO comes from the Go module
# proxy, built with the local Go toolchain: nothing else is downloaded.
set -euo pipefail

# A MinIO release the Go module proxy serves (a pseudo-version of the last
# commit published as a module); bump it on purpose.
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
CACHE=${WISP_MINIO_CACHE:-$HOME/.cache/wisp/minio/bin}

binary() {
  if [ -n "${WISP_MINIO:-}" ]; then echo "$WISP_MINIO"; else echo "$CACHE/minio"; fi
}

install() {
  local bin
  bin=$(binary)
  if [ -x "$bin" ]; then
    return 0
  fi
  if [ -n "${WISP_MINIO:-}" ]; then
    echo "minio: \$WISP_MINIO=$WISP_MINIO is not an executable file" >&2
    exit 1
  fi
  mkdir -p "$CACHE"
  echo "minio: building the MinIO server $MINIO_VERSION from the Go module proxy into $CACHE" >&2
  echo "minio: this happens once and takes about 10 minutes on a small machine" >&2
  local start=$SECONDS
  # A temporary GOBIN, moved into place at the end: an interrupted build
  # never leaves a half-written binary where the tests look.
  local tmp
  tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-mod=mod GOWORK=off go install "github.com/minio/minio@$MINIO_VERSION")
  mv "$tmp/minio" "$CACHE/minio"
  rm -rf "$tmp"
  trap - EXIT
  echo "minio: built in $((SECONDS - start))s: $CACHE/minio" >&2
}

case "${1:-install}" in
  install)
    install
    echo "minio: ready: $(binary)" >&2
    ;;
  path)
    install
    binary
    ;;
  run)
    install
    dir=${2:-}
    if [ -z "$dir" ]; then
      dir=$(mktemp -d -t wisp-minio-XXXXXX)
      trap 'rm -rf "$dir"' EXIT
    fi
    export MINIO_ROOT_USER=${MINIO_ROOT_USER:-wispadmin}
    export MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-wispadmin-secret}
    addr=${MINIO_ADDRESS:-127.0.0.1:9000}
    echo "minio: serving on $addr, data in $dir (user $MINIO_ROOT_USER)" >&2
    echo "minio: point wispd at it with AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD wispd --blobs 's3://wisp/code?endpoint=$addr&secure=false'" >&2
    "$(binary)" server --quiet --address "$addr" --console-address 127.0.0.1:0 "$dir"
    ;;
  *)
    echo "usage: scripts/minio.sh [install|path|run [DIR]]" >&2
    exit 2
    ;;
esac
