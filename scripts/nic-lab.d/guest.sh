#!/usr/bin/env bash
# The NIC lab's guest side: runs inside the VM that scripts/nic-lab boots (the host's root
# shared read-only, LAB a directory shared read-write with the host).
#
# It finds the two lab NICs by driver (igb, virtio_net), gives each QUEUES combined
# channels, then runs the cases listed in LAB/cases one after another. A case line is
#   NAME DRIVER PROGRAM MODE
# PROGRAM is `engine` (target/release/bypass run, MODE = --zero-copy value) or `reflect`
# (the reference program xsk-reflect, MODE = its mode argument). For each case it starts the
# program on that driver's NIC and hands over to the host through files in LAB:
#   NAME.out    the program's output (ready line first, final report at the end)
#   NAME.ready  written once the program printed its ready line; the host then drives traffic
#   NAME.stop   written by the host when it is done; the program then gets SIGINT
#   NAME.exit   the program's exit status (or `not-ready`), written last
# Usage (in the guest): guest.sh LAB REPO QUEUES MODBASE
# (MODBASE: the directory of the unpacked kernel package holding lib/modules, which the
# drivers are loaded from.)
set -uo pipefail
LAB=$1 REPO=$2 QUEUES=$3 MODBASE=$4
log() { echo "guest: $*" | tee -a "$LAB/guest.log"; }

declare -A IFACE ADDR
ADDR[igb]=10.201.10.2 ADDR[virtio_net]=10.201.11.2
# The guest has no udev: load the drivers by name, then wait for their interfaces.
for m in igb virtio_net; do modprobe -d "$MODBASE" "$m" 2>&1 | sed "s/^/modprobe $m: /" >>"$LAB/guest.log"; done
for _ in $(seq 100); do
  for d in /sys/class/net/*; do
    [[ -e $d/device/driver ]] || continue
    drv=$(basename "$(readlink -f "$d/device/driver")")
    [[ -n ${ADDR[$drv]:-} ]] && IFACE[$drv]=$(basename "$d")
  done
  [[ -n ${IFACE[igb]:-} && -n ${IFACE[virtio_net]:-} ]] && break
  sleep 0.1
done
{
  echo "kernel $(uname -r)"
  for drv in igb virtio_net; do
    i=${IFACE[$drv]:-}
    if [[ -z $i ]]; then echo "$drv: no interface"; continue; fi
    ip link set "$i" up
    ethtool -L "$i" combined "$QUEUES" 2>&1 | sed "s/^/$drv: ethtool -L: /"
    # The engine reads whole frames: no receive offloads that merge them.
    ethtool -K "$i" gro off lro off rx-gro-hw off >/dev/null 2>&1
    echo "$drv: $i $(ethtool -i "$i" | grep -E '^(driver|version)' | tr '\n' ' ')"
    echo "$drv: channels $(ethtool -l "$i" | awk '/Current/{c=1} c&&/Combined/{print $2; exit}') combined"
  done
} >"$LAB/guest-info" 2>&1
cat "$LAB/guest-info" >>"$LAB/guest.log"
echo "${IFACE[igb]:-} ${IFACE[virtio_net]:-}" >"$LAB/ifaces"

put() { # put FILE TEXT: written whole before the host can see it
  printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}
wait_file() { # wait_file PATH SECONDS
  local t=$(( $2 * 10 ))
  while [[ ! -e $1 ]] && (( t-- > 0 )); do sleep 0.1; done
  [[ -e $1 ]]
}

while read -r name drv prog mode _reference; do
  [[ -z ${name:-} || $name == \#* ]] && continue
  iface=${IFACE[$drv]:-}
  if [[ -z $iface ]]; then
    log "$name: no $drv interface"; put "$LAB/$name.exit" not-ready; continue
  fi
  case $prog in
    engine|engine-busy)
      cmd=("$REPO/target/release/bypass" run --iface "$iface" --ip "${ADDR[$drv]}/24" --xdp-mode native
           --zero-copy "$mode" --report-json "$LAB/$name.report.json"
           --serve tcp-echo:7 --serve discard:9 --serve chargen:19 --serve http-echo:80)
      if [[ $prog == engine-busy ]]; then
        # Preferred busy polling as docs/real-nics.md tells users to set it up: the
        # device defers its interrupts, the workers drive its NAPI.
        cmd+=(--poll busy --busy-poll-budget 64)
        echo 2 >"/sys/class/net/$iface/napi_defer_hard_irqs"
        echo 200000 >"/sys/class/net/$iface/gro_flush_timeout"
      fi
      ready='^bypass: ready' ;;
    active)
      # Active opens from the engine (the host runs an echo server on .1:9000). RSS is
      # left as the driver set it, spread over every rx queue, the unserved XDP queue
      # pairs included: the engine must pick ports whose replies reach its own queues.
      cmd=("$REPO/target/release/examples/active_opens" --iface "$iface" --ip "${ADDR[$drv]}/24" --xdp-mode native
           --zero-copy "$mode" --report-json "$LAB/$name.report.json" --server "${ADDR[$drv]%.2}.1:9000"
           --conns 200)
      ready='^active_opens: ready' ;;
    reflect)
      cmd=("$LAB/xsk-reflect" "$iface" all "$mode" "${ADDR[$drv]}")
      ready='^xsk-reflect: ready' ;;
    *) log "$name: unknown program $prog"; put "$LAB/$name.exit" not-ready; continue ;;
  esac
  dmesg -C 2>/dev/null
  log "$name: ${cmd[*]}"
  RUST_LOG=info "${cmd[@]}" >"$LAB/$name.out" 2>&1 &
  pid=$!
  ok=0
  for _ in $(seq 600); do
    if grep -qE "$ready" "$LAB/$name.out"; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if (( !ok )); then
    kill -KILL "$pid" 2>/dev/null; wait "$pid"
    log "$name: not ready"; dmesg >"$LAB/$name.dmesg" 2>&1; put "$LAB/$name.exit" not-ready; continue
  fi
  # Rx queues beyond those the program serves (virtio_net's XDP-only queue pairs) get no
  # socket: pin RSS to the served queues, as docs/real-nics.md tells users to.
  served=$(grep -m1 -oE '[0-9]+ queue\(s\)' "$LAB/$name.out" | grep -oE '^[0-9]+')
  rxq=$(ls -d /sys/class/net/"$iface"/queues/rx-* | wc -l)
  if [[ -n $served ]] && (( rxq > served )); then
    ethtool -X "$iface" equal "$served" 2>&1 | sed "s/^/ethtool -X: /" >>"$LAB/guest.log"
    log "$name: $iface has $rxq rx queues, $served served: ethtool -X $iface equal $served"
    # The engine re-reads the table every second and logs the change: traffic starts
    # once flows map to the queues as the NIC now sends them.
    if [[ $prog == engine* ]] && grep -q "rss nic" "$LAB/$name.out"; then
      for _ in $(seq 50); do grep -q "RSS of $iface changed" "$LAB/$name.out" && break; sleep 0.1; done
      grep -q "RSS of $iface changed" "$LAB/$name.out" || log "$name: the engine did not report the RSS change"
    fi
  fi
  # The NIC's view while the program runs: channels and the RSS indirection table.
  { ethtool -l "$iface"; ethtool -x "$iface"; } >"$LAB/$name.rss" 2>&1
  put "$LAB/$name.ready" "$(grep -E "$ready" "$LAB/$name.out" | head -1)"
  if [[ $prog == active ]]; then
    # It ends by itself once its connections are done.
    for _ in $(seq 1500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  else
    wait_file "$LAB/$name.stop" 900 || log "$name: the host never said stop"
  fi
  kill -INT "$pid" 2>/dev/null
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"; rc=$?
  # libxdp's program outlives the reflector when the reflector attached it itself.
  [[ $prog == reflect ]] && ip link set dev "$iface" xdp off 2>/dev/null
  if [[ $prog == engine-busy ]]; then
    echo 0 >"/sys/class/net/$iface/napi_defer_hard_irqs"; echo 0 >"/sys/class/net/$iface/gro_flush_timeout"
  fi
  dmesg >"$LAB/$name.dmesg" 2>&1
  ethtool -S "$iface" >"$LAB/$name.nicstats" 2>&1
  log "$name: exit $rc"
  put "$LAB/$name.exit" "$rc"
done <"$LAB/cases"
log "all cases done"
