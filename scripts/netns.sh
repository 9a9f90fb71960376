#!/usr/bin/env bash
# Creates (up) or removes (down) the test network: two namespaces joined by a multi-queue
# veth pair.
#
#   ${TAG}-eng  holds ${TAG}-e, where the engine attaches XDP. The kernel there owns
#               ${NET}.3 (to show that traffic not for the engine still reaches the kernel);
#               the engine's own address ${NET}.2 is NOT configured on the kernel.
#   ${TAG}-peer holds ${TAG}-p = ${NET}.1, the kernel peer that talks to the engine.
#
# Environment: BPX_TAG (default bpx), BPX_NET (first three octets, default 10.213.77),
# BPX_QUEUES (veth queues, default 2), BPX_MTU (default 1500), BPX_KERNEL_CC (the kernel's
# congestion control on this network, default cubic as the engine's --tcp-cc).
# Idempotent: `up` tears down any leftover first; `down` always succeeds.
set -euo pipefail

TAG=${BPX_TAG:-bpx}
NET=${BPX_NET:-10.213.77}
QUEUES=${BPX_QUEUES:-2}
MTU=${BPX_MTU:-1500}
KERNEL_CC=${BPX_KERNEL_CC:-cubic}
ENG_NS=$TAG-eng
PEER_NS=$TAG-peer
ENG_IF=$TAG-e
PEER_IF=$TAG-p

down() {
  ip netns del "$ENG_NS" 2>/dev/null || true
  ip netns del "$PEER_NS" 2>/dev/null || true
  ip link del "$ENG_IF" 2>/dev/null || true
}

up() {
  if [[ ${#ENG_IF} -gt 15 ]]; then echo "netns.sh: BPX_TAG too long for interface names" >&2; exit 2; fi
  down
  ip netns add "$ENG_NS"
  ip netns add "$PEER_NS"
  ip link add "$ENG_IF" numtxqueues "$QUEUES" numrxqueues "$QUEUES" netns "$ENG_NS" type veth \
     peer name "$PEER_IF" numtxqueues "$QUEUES" numrxqueues "$QUEUES" netns "$PEER_NS"
  ip -n "$ENG_NS" link set lo up
  ip -n "$PEER_NS" link set lo up
  ip -n "$ENG_NS" link set "$ENG_IF" mtu "$MTU" up
  ip -n "$PEER_NS" link set "$PEER_IF" mtu "$MTU" up
  ip -n "$ENG_NS" addr add "$NET.3/24" dev "$ENG_IF"
  ip -n "$PEER_NS" addr add "$NET.1/24" dev "$PEER_IF"
  # Every kernel TCP connection on this network (kernel peer, clients, curl, the kernel
  # backend) runs the engine's congestion control, not the host's default (often bbr):
  # comparisons are of stacks, not of algorithms. A route's congctl needs no sysctl.
  if ! { ip -n "$ENG_NS" route replace "$NET.0/24" dev "$ENG_IF" proto kernel scope link src "$NET.3" congctl "$KERNEL_CC" &&
         ip -n "$PEER_NS" route replace "$NET.0/24" dev "$PEER_IF" proto kernel scope link src "$NET.1" congctl "$KERNEL_CC"; }; then
    echo "netns: this kernel has no '$KERNEL_CC' congestion control; the kernel side keeps its default (set BPX_KERNEL_CC)" >&2
  fi
  # The peer must send complete checksums and MTU-sized frames: the engine does not
  # trust partial (offloaded) checksums, and has no GRO to merge TSO super-frames.
  ip netns exec "$PEER_NS" ethtool -K "$PEER_IF" tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec "$ENG_NS" ethtool -K "$ENG_IF" tx off tso off gso off gro off >/dev/null 2>&1 || true
  # Native XDP on a veth needs its peer to have more tx queues than 1 to spread load;
  # both sides got QUEUES above.
  echo "netns: $ENG_NS/$ENG_IF (kernel $NET.3, engine $NET.2) <-> $PEER_NS/$PEER_IF ($NET.1), $QUEUES queues"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
