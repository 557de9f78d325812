#!/usr/bin/env bash
# Builds a Debian package of neutrino with dpkg-deb (Debian's own tool): the
# binary (debug info stripped) as /usr/bin/neutrino, the systemd units from
# etc/systemd as /lib/systemd/system, the commented examples etc/*.toml as
# /etc/neutrino/*.toml (conffiles: an upgrade keeps the operator's edits), and
# the README. Nothing is enabled or started on install: that is the operator's
# `systemctl enable --now neutrino-switchd neutrino-agent` (and neutrino-server on
# the controller).
#
# Usage: scripts/build-deb.sh [--binary PATH] [--out DIR]
#   --binary  the neutrino binary to package (default target/release/neutrino,
#             built with cargo when missing)
#   --out     where the .deb goes (default target/debian); its path is printed
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/neutrino
out=target/debian
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) bin="${2:?--binary needs a PATH}"; shift 2 ;;
        --out) out="${2:?--out needs a DIR}"; shift 2 ;;
        *) echo "build-deb: unknown argument '$1' (--binary PATH, --out DIR)" >&2; exit 2 ;;
    esac
done
if [ "$bin" = target/release/neutrino ] && [ ! -x "$bin" ]; then
    cargo build --release -p neutrino
fi
[ -x "$bin" ] || { echo "build-deb: no executable at $bin" >&2; exit 2; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$bin" "$stage/usr/bin/neutrino"
strip --strip-debug "$stage/usr/bin/neutrino"
for u in etc/systemd/*.service; do
    install -D -m 0644 "$u" "$stage/lib/systemd/system/$(basename "$u")"
done
for c in etc/*.toml; do
    install -D -m 0644 "$c" "$stage/etc/neutrino/$(basename "$c")"
done
install -D -m 0644 README.md "$stage/usr/share/doc/neutrino/README.md"

mkdir -p "$stage/DEBIAN"
(cd "$stage" && find etc -type f | sort | sed 's#^#/#') > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: neutrino
Version: $version
Architecture: $arch
Maintainer: neutrino developers <neutrino@localhost>
Installed-Size: $size
Depends: libc6, iproute2, nftables
Recommends: iputils-ping
Section: net
Priority: optional
Description: Neutron-style virtual networking
 neutrino gives tenants isolated networks across hypervisors over VXLAN or GRE,
 routers with SNAT and floating IPs, DHCP, security groups, metadata and
 metering, behind the OpenStack Networking (Neutron v2.0) and Identity (v3)
 APIs: one binary for the API server, the per-host agent and the switch
 (switchd), with systemd units for each.
CONTROL

mkdir -p "$out"
deb="$out/neutrino_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
