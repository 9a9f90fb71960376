#!/usr/bin/env python3
"""Sends ICMP echo requests whose IPv4 header carries a malformed option list and prints
what comes back, one line per ICMP message received: `TYPE CODE POINTER` (the pointer
of a Parameter Problem, `-` for other types).

  badopts.py IFACE SRC_MAC DST_MAC SRC_IP DST_IP

Shapes: Record Route with length 39 in a 24-byte header; an option of length 0; Loose
Source Route of length 1 after a NOP. Then one well-formed list (NOP, an unknown option
of length 2, End), which must be answered with an echo reply.
"""
import select
import socket
import struct
import sys
import time

from frames import csum

iface, src_mac, dst_mac, src_ip, dst_ip = sys.argv[1:6]
mac = lambda s: bytes(int(x, 16) for x in s.split(":"))
ETH = mac(dst_mac) + mac(src_mac) + b"\x08\x00"


def frame(options, seq):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq) + b"bypass-options"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hl = 20 + len(options)
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, hl + len(icmp), seq, 0, 64, 1, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip)) + options
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ETH + ip + icmp


shapes = [bytes([7, 39, 4, 0]), bytes([0x44, 0, 0, 0]), bytes([1, 0x83, 1, 0]), bytes([1, 0x9E, 2, 0])]
rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind((iface, 0))
for i, opts in enumerate(shapes):
    tx.send(frame(opts, i + 1))
    time.sleep(0.05)
deadline = time.time() + 1.0
while time.time() < deadline:
    r, _, _ = select.select([rx], [], [], max(0.0, deadline - time.time()))
    if not r:
        break
    pkt, (addr, _) = rx.recvfrom(2048)
    if addr != dst_ip:
        continue
    hl = (pkt[0] & 0x0F) * 4
    t, c = pkt[hl], pkt[hl + 1]
    if t == 8:
        continue  # our own request, seen by the raw socket on the way out
    print(t, c, pkt[hl + 4] if t == 12 else "-", flush=True)
