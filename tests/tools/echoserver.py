#!/usr/bin/env python3
"""A kernel-side TCP and UDP echo server for the integration tests: echoserver.py ADDR PORT.
Prints 'ready' once listening; serves until killed."""
import socket
import sys
import threading

addr, port = sys.argv[1], int(sys.argv[2])


def tcp_conn(c):
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)


def tcp():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, port))
    while True:
        d, a = u.recvfrom(65535)
        u.sendto(d, a)


threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
