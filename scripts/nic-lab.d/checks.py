#!/usr/bin/env python3
"""The NIC lab's traffic checks, run on the host side with the kernel's TCP/IP stack.

Each subcommand prints one line that starts with PASS or FAIL and exits 0 or 1:
  echo ADDR BYTES          send BYTES of random data to tcp-echo:7 while reading the echo;
                           both directions' SHA-256 must match
  chargen ADDR BYTES       ask chargen:19 for BYTES; their SHA-256 must match the pattern's
  conns ADDR N             N concurrent connections to tcp-echo:7, each sends its own
                           4 KiB and must read it back (from the --sources addresses in
                           turn, so that RSS over addresses alone still spreads them)
  udp ADDR N               N UDP datagrams from N source ports to ADDR:7 must come back
                           (used with the reference reflector)
Every check is bounded by --timeout seconds.
"""
import argparse
import hashlib
import os
import selectors
import socket
import sys
import time


def result(ok, what, detail):
    print(f"{'PASS' if ok else 'FAIL'} {what}: {detail}", flush=True)
    sys.exit(0 if ok else 1)


def chargen_pattern(n):
    # engine/src/apps/services.rs chargen_byte: printable ASCII from space to tilde.
    period = bytes(range(0x20, 0x7F))
    reps, rest = divmod(n, len(period))
    return period * reps + period[:rest]


def echo(addr, size, timeout):
    data = os.urandom(size)
    want = hashlib.sha256(data).hexdigest()
    got = hashlib.sha256()
    received = sent = 0
    start = time.monotonic()
    s = socket.create_connection((addr, 7), timeout=timeout)
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    deadline = start + timeout
    while received < size and time.monotonic() < deadline:
        for _key, ev in sel.select(timeout=1):
            if ev & selectors.EVENT_WRITE and sent < size:
                try:
                    sent += s.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
                if sent == size:
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    b = s.recv(262144)
                except BlockingIOError:
                    continue
                if not b:
                    deadline = 0
                    break
                got.update(b)
                received += len(b)
    s.close()
    secs = time.monotonic() - start
    ok = received == size and got.hexdigest() == want
    result(ok, f"tcp-echo {size} bytes each way",
           f"sent {sent} received {received} in {secs:.1f} s, sha256 {'match' if ok else 'MISMATCH'} {want[:16]}")


def chargen(addr, size, timeout):
    want = hashlib.sha256(chargen_pattern(size)).hexdigest()
    got = hashlib.sha256()
    n = 0
    start = time.monotonic()
    s = socket.create_connection((addr, 19), timeout=timeout)
    s.sendall(f"{size}\r\n".encode())
    try:
        while time.monotonic() - start < timeout:
            b = s.recv(262144)
            if not b:
                break
            got.update(b)
            n += len(b)
    except OSError as e:
        print(f"chargen: {e}", file=sys.stderr)
    s.close()
    secs = time.monotonic() - start
    ok = n == size and got.hexdigest() == want
    result(ok, f"chargen {size} bytes", f"received {n} in {secs:.1f} s, sha256 {'match' if ok else 'MISMATCH'} {want[:16]}")


def conns(addr, count, timeout, sources):
    sel = selectors.DefaultSelector()
    state = {}
    failed = 0
    for i in range(count):
        s = socket.socket()
        if sources:
            s.bind((sources[i % len(sources)], 0))
        s.setblocking(False)
        try:
            s.connect((addr, 7))
        except BlockingIOError:
            pass
        msg = (f"conn {i:04d} ".encode() * 512)[:4096]
        state[s] = [msg, 0, bytearray()]
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    done = 0
    while state and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1):
            s = key.fileobj
            msg, off, buf = state[s]
            try:
                if ev & selectors.EVENT_WRITE and off < len(msg):
                    off = state[s][1] = off + s.send(msg[off:])
                    if off == len(msg):
                        sel.modify(s, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    b = s.recv(65536)
                    if not b:
                        raise ConnectionError("closed early")
                    buf += b
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                failed += 1
                sel.unregister(s)
                s.close()
                del state[s]
                continue
            if len(buf) >= len(msg):
                if bytes(buf) != msg:
                    failed += 1
                else:
                    done += 1
                sel.unregister(s)
                s.close()
                del state[s]
    for s in state:
        s.close()
    ok = done == count
    result(ok, f"{count} concurrent connections", f"{done} echoed correctly, {failed} failed, {len(state)} unfinished")


def udp(addr, count, timeout):
    back = 0
    deadline = time.monotonic() + timeout
    for i in range(count):
        if time.monotonic() >= deadline:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        msg = f"datagram {i}".encode()
        s.sendto(msg, (addr, 7))
        try:
            b, _ = s.recvfrom(2048)
            back += b == msg
        except OSError:
            pass
        s.close()
    result(back == count, f"udp {count} datagrams from {count} ports", f"{back} came back")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--sources", default="", help="comma-separated local addresses for conns")
    p.add_argument("check", choices=["echo", "chargen", "conns", "udp"])
    p.add_argument("addr")
    p.add_argument("n", type=int)
    a = p.parse_args()
    try:
        if a.check == "conns":
            conns(a.addr, a.n, a.timeout, [x for x in a.sources.split(",") if x])
        else:
            {"echo": echo, "chargen": chargen, "udp": udp}[a.check](a.addr, a.n, a.timeout)
    except OSError as e:
        result(False, a.check, str(e))


if __name__ == "__main__":
    main()
