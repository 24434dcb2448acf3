#!/usr/bin/env bash
# test_configure.sh - a missing dependency stops the CMake configure step
# with a message that names the Debian package to install.
# Runs cmake on the source tree with an empty pkg-config search path, so no
# library can be found, and checks the first failure is named properly.
set -u
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/empty"
out=$(PKG_CONFIG_LIBDIR="$tmp/empty" PKG_CONFIG_PATH="" cmake -S "$src" -B "$tmp/build" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then echo "FAIL: configure succeeded without any library"; exit 1; fi
if ! grep -q "missing dependency 'rdkafka'" <<<"$out" || ! grep -q "apt-get install librdkafka-dev" <<<"$out"; then
  echo "FAIL: message does not name the module and the Debian package:"; echo "$out" | tail -20; exit 1
fi
echo "ok: configure stops with: $(grep -o "vecmig: missing dependency.*" <<<"$out" | head -1)"
