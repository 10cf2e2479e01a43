#!/usr/bin/env bash
# Installs the Debian packages cyclecast needs and fetches QEMU's plugin header and
# reference cache plugin from the Debian source package that matches the installed
# qemu-user. Idempotent: does nothing when everything is already there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
qemu_src="$top/build/qemu-src"

packages=(qemu-user gcc-riscv64-linux-gnu libc6-dev-riscv64-cross build-essential
          pkg-config libglib2.0-dev dpkg-dev xz-utils)
# The runtime libraries of a Timeloop v3.0.3 build (the timeloop backend runs one when
# present; it has no package of its own).
packages+=(libyaml-cpp0.7 libboost-serialization1.74.0 libconfig++9v5 libncurses6)
# The runtime libraries of a gem5 build beside the checkout (the team's shared one, which
# the gem5 tests then run; see its README.md), only when that build is there.
if [ -x "$top/../shared/gem5/bin/gem5.opt" ]; then
  packages+=(libpython3.11 libtcmalloc-minimal4 libprotobuf32 libhdf5-103-1 libhdf5-cpp-103-1
             libpng16-16)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

need_root() {
  echo "setup: $1 needs root; run as root or ask an administrator to run: $2" >&2
  exit 1
}

apt_updated=0
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || need_root "installing ${missing[*]}" \
    "apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  apt_updated=1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# QEMU plugin header + reference cache plugin, from the source of the installed qemu-user.
if [ ! -f "$qemu_src/include/qemu/qemu-plugin.h" ] || [ ! -f "$qemu_src/contrib/plugins/cache.c" ]; then
  # A binNMU suffix (+bN) exists only on the binary package.
  version=$(dpkg-query -W -f='${Version}' qemu-user | sed -E 's/\+b[0-9]+$//')
  src_list=/etc/apt/sources.list.d/cyclecast-deb-src.sources
  if ! apt-get source --print-uris -qq "qemu=$version" >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || need_root "enabling Debian source packages" \
      "add a deb-src entry for bookworm and run apt-get update"
    # Same mirrors and suites as the binary sources, but for source packages.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed -n '/^Types:/,/^$/p' /etc/apt/sources.list.d/debian.sources \
        | sed 's/^Types:.*/Types: deb-src/' > "$src_list"
    else
      grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > /etc/apt/sources.list.d/cyclecast-deb-src.list
    fi
    apt-get update -qq
  fi
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # apt downloads as user _apt
  (cd "$tmp" && apt-get source --download-only -qq "qemu=$version" >/dev/null)
  orig=$(ls "$tmp"/qemu_*.orig.tar.* | head -n 1)
  mkdir -p "$qemu_src"
  tar -xf "$orig" -C "$qemu_src" --strip-components=1 --wildcards \
    '*/include/qemu/qemu-plugin.h' '*/contrib/plugins/cache.c'
  echo "$version" > "$qemu_src/VERSION"
  rm -rf "$tmp"
  echo "setup: QEMU $version plugin header and reference cache.c in $qemu_src"
fi
