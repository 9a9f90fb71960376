#!/usr/bin/env bash
# Installs the system packages bypass needs to build and to run its tests and demo.
# Idempotent: only calls apt-get when something is missing.
set -euo pipefail
PKGS=(clang llvm libelf-dev zlib1g-dev m4 pkg-config make gcc iproute2 ethtool iputils-ping
      iputils-arping iptables nftables tshark libpcap-dev python3 procps util-linux curl wrk apache2-utils
      nghttp2-client nginx-light sockperf iperf3 linux-perf)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
