#!/usr/bin/env python3
"""Sends raw Ethernet frames, one hex string per stdin line, out of an interface.

Used by the integration tests to feed the engine frames no normal socket would send
(bad IHL, short frames, bad checksums). Usage: inject.py IFACE < frames.hex
"""
import socket
import sys

iface = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
n = 0
for line in sys.stdin:
    line = line.strip()
    if line:
        s.send(bytes.fromhex(line))
        n += 1
print(f"injected {n} frames on {iface}")
