#!/usr/bin/env python3
"""Kernel-side TCP client for the integration tests (runs in the peer namespace).

  tcpclient.py HOST PORT echo BYTES        send BYTES random bytes, read them back, compare SHA-256
  tcpclient.py HOST PORT chargen BYTES     ask chargen for BYTES, verify the pattern and the close
  tcpclient.py HOST PORT discard BYTES     send BYTES, half-close, wait for the server's close
  tcpclient.py HOST PORT short COUNT       COUNT connections in a row, each echoing 100 bytes
  tcpclient.py HOST PORT concurrent COUNT  COUNT connections at once, each echoing 64 KiB

Prints one JSON line of results; exits 1 on any mismatch or error.
"""
import hashlib
import json
import os
import selectors
import socket
import sys
import time

TIMEOUT = 60


def pattern(start, n):
    """Bytes start..start+n of the chargen stream: printable ASCII ' '..'~' repeating."""
    period = bytes(range(32, 127))
    rep = period * (n // 95 + 2)
    off = start % 95
    return rep[off:off + n]


def connect(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def echo(host, port, n):
    s = connect(host, port)
    sent_h, recv_h = hashlib.sha256(), hashlib.sha256()
    sel = selectors.DefaultSelector()
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    chunk = os.urandom(1 << 16)
    sent = got = 0
    deadline = time.time() + TIMEOUT * 4
    while got < n:
        if time.time() > deadline:
            raise RuntimeError(f"echo stalled at {got}/{n}")
        for key, ev in sel.select(timeout=1):
            if ev & selectors.EVENT_WRITE and sent < n:
                piece = chunk[: min(len(chunk), n - sent)]
                try:
                    k = s.send(piece)
                except BlockingIOError:
                    k = 0
                sent_h.update(piece[:k])
                sent += k
                if sent == n:
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    b = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not b:
                    raise RuntimeError(f"server closed early at {got}/{n}")
                recv_h.update(b)
                got += len(b)
    s.setblocking(True)
    s.shutdown(socket.SHUT_WR)
    tail = s.recv(1)
    s.close()
    ok = sent_h.hexdigest() == recv_h.hexdigest() and tail == b""
    return {"sent": sent, "received": got, "sha256": recv_h.hexdigest(), "ok": ok}


def chargen(host, port, n):
    s = connect(host, port)
    s.sendall(b"%d\n" % n)
    h, want = hashlib.sha256(), hashlib.sha256()
    got = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        h.update(b)
        got += len(b)
    s.close()
    done = 0
    while done < n:
        k = min(1 << 20, n - done)
        want.update(pattern(done, k))
        done += k
    return {"received": got, "sha256": h.hexdigest(), "ok": got == n and h.digest() == want.digest()}


def discard(host, port, n):
    s = connect(host, port)
    chunk = os.urandom(1 << 16)
    sent = 0
    while sent < n:
        sent += s.send(chunk[: min(len(chunk), n - sent)])
    s.shutdown(socket.SHUT_WR)
    tail = s.recv(1)
    s.close()
    return {"sent": sent, "ok": tail == b""}


def short(host, port, count):
    bad = 0
    for i in range(count):
        s = connect(host, port)
        msg = (b"%06d" % i) * 17
        s.sendall(msg[:100])
        got = b""
        while len(got) < 100:
            b = s.recv(200)
            if not b:
                break
            got += b
        s.close()
        bad += got != msg[:100]
    return {"connections": count, "bad": bad, "ok": bad == 0}


def concurrent(host, port, count):
    size = 64 * 1024
    socks = []
    for _ in range(count):
        s = connect(host, port)
        s.setblocking(False)
        socks.append({"s": s, "data": os.urandom(size), "sent": 0, "got": bytearray()})
    sel = selectors.DefaultSelector()
    for c in socks:
        sel.register(c["s"], selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    deadline = time.time() + TIMEOUT * 2
    pending = count
    while pending:
        if time.time() > deadline:
            raise RuntimeError(f"{pending} connections unfinished")
        for key, ev in sel.select(timeout=1):
            c = key.data
            if ev & selectors.EVENT_WRITE and c["sent"] < size:
                try:
                    c["sent"] += c["s"].send(c["data"][c["sent"]:])
                except BlockingIOError:
                    pass
                if c["sent"] == size:
                    sel.modify(c["s"], selectors.EVENT_READ, c)
            if ev & selectors.EVENT_READ:
                try:
                    b = c["s"].recv(1 << 16)
                except BlockingIOError:
                    continue
                if not b:
                    raise RuntimeError("server closed early")
                c["got"] += b
                if len(c["got"]) >= size:
                    sel.unregister(c["s"])
                    pending -= 1
    bad = sum(bytes(c["got"]) != c["data"] for c in socks)
    for c in socks:
        c["s"].close()
    return {"connections": count, "bad": bad, "ok": bad == 0}


def main():
    host, port, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    t0 = time.time()
    try:
        r = {"echo": echo, "chargen": chargen, "discard": discard, "short": short, "concurrent": concurrent}[mode](host, port, n)
    except Exception as e:  # noqa: BLE001 - report any failure as a result
        r = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    r["mode"] = mode
    r["seconds"] = round(time.time() - t0, 3)
    print(json.dumps(r))
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
