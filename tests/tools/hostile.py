#!/usr/bin/env python3
"""Sends hostile TCP traffic at the engine from the peer namespace (raw frames).

  hostile.py IFACE SRC_MAC DST_MAC NET PORT SYNS JUNK

- SYNS SYNs to PORT from spoofed, unresolvable sources NET.100..NET.199 with random
  ports (a SYN flood: the engine's SYN queue fills, SYN cookies take over);
- JUNK segments to PORT from the same sources with random flags, sequence numbers,
  windows and option bytes (some malformed), and some with bad checksums.
All checksums are valid unless deliberately broken.
"""
import random
import socket
import struct
import sys

from frames import csum

iface, src_mac, dst_mac, net, port, syns, junk = sys.argv[1:8]
port, syns, junk = int(port), int(syns), int(junk)
mac = lambda s: bytes(int(x, 16) for x in s.split(":"))
ETH = mac(dst_mac) + mac(src_mac) + b"\x08\x00"
DST = socket.inet_aton(net + ".2")
rng = random.Random(1234)


def frame(src, sport, seq, ack, flags, win, opts=b"", payload=b"", bad=False):
    opts += b"\0" * (-len(opts) % 4)
    off = (20 + len(opts)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, port, seq, ack, off << 4, flags, win, 0, 0) + opts + payload
    pseudo = src + DST + struct.pack("!BBH", 0, 6, len(tcp))
    c = csum(pseudo + tcp) ^ (0x5555 if bad else 0)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rng.randrange(65536), 0x4000, 64, 6, 0, src, DST)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ETH + ip + tcp


s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src = lambda: socket.inet_aton("%s.%d" % (net, rng.randrange(100, 200)))
syn_opts = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + struct.pack("!II", rng.randrange(1 << 32), 0) + b"\x01\x03\x03\x07"
for _ in range(syns):
    s.send(frame(src(), rng.randrange(1024, 65536), rng.randrange(1 << 32), 0, 0x02, 64240, syn_opts))
for i in range(junk):
    opts = bytes(rng.randrange(256) for _ in range(rng.choice([0, 4, 8, 12, 40])))
    payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 0, 10, 500])))
    s.send(frame(src(), rng.randrange(1024, 65536), rng.randrange(1 << 32), rng.randrange(1 << 32),
                 rng.randrange(256), rng.randrange(65536), opts, payload, bad=(i % 10 == 0)))
print("sent", syns, "syns and", junk, "junk segments")
