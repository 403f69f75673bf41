#!/usr/bin/env bash
# Installs what Wisp's tests and benchmark need on a fresh Debian machine of
# this project's kind: a C toolchain for WebAssembly (clang, lld, wasi-libc),
# Node.js with npm (the OpenWhisk client test, the nodejs:20 runtime),
# Python 3 (the python:3 runtime), libseccomp (containers' seccomp filter),
# busybox-static (tiny test root filesystems), runc (the benchmark's CLI
# floor) and iptables (egress for containers granted network). Safe to run
# again: it installs only what is missing.
set -euo pipefail

need=()
command -v clang >/dev/null || need+=(clang)
command -v wasm-ld >/dev/null || need+=(lld)
[ -e /usr/include/wasm32-wasi/stdio.h ] || need+=(wasi-libc)
ls /usr/lib/llvm-14/lib/clang/14*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev-wasm32)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/python3 ] || need+=(python3-minimal)
[ -e /usr/lib/python3.11/json/__init__.py ] || need+=(libpython3.11-stdlib)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v runc >/dev/null || need+=(runc)
command -v iptables >/dev/null || need+=(iptables)
command -v ip >/dev/null || need+=(iproute2) # the container network test's stand-in for the internet
command -v umoci >/dev/null || need+=(umoci) # a real OCI image producer for the image import test

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "deps: ready (clang $(clang --version | head -1 | grep -o '[0-9][0-9.]*' | head -1), node $(node --version))"
