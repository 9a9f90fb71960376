#!/usr/bin/env python3
"""The soak: mixed traffic against one engine for N minutes, in phases, with proof.

Run by scripts/soak (which sets up the namespaces and cleans up); this process runs in
the peer namespace and drives everything from there:

  soak.py --bin BYPASS --tag TAG --net NET --minutes M --out DIR [--phase-secs S]

Load, all at once, each checking every byte it gets back:
- HTTP keep-alive POSTs and HTTP `Connection: close` requests (http-echo :80);
- bulk: 4 MiB echoed through tcp-echo :7 (SHA-256 of what came back against what went),
  chargen :19 downloads (pattern checked), uploads to discard :9;
- a UDP echo stream (:7) with sequence numbers (a reply must be one we sent, intact);
- idle HTTP connections left alone until the engine's idle timeout closes them.

Phases change every `--phase-secs` (default 60): clean; 1% loss on the peer's INPUT
(iptables statistic); connection churn up to the engine's --tcp-max-conns (new SYNs must
be refused with a counted reason while existing connections keep working); the peer's
link down for 9 s, past the engine's retransmission budget (connections in flight must time
out, counted; new ones must work after);
and, in the last phase, SIGKILL of the engine under load (no XDP program may be left
attached; a restart on the same interface must answer at once). The engine's own fault
injector (drop, duplicate, reorder, corrupt) runs throughout.

Every 2 s it samples the engine's RSS, `bypass stat --counters --json` (timed) and the
kernel's AF_XDP statistics in it, and fails when: a byte arrives wrong or a transfer ends
early outside the disruptive phases; RSS grows after the warm-up by more than the bound;
the frame ledger is unbalanced; a counter decreases; a worker makes no progress for a
sample while traffic is offered; the engine exits; a stat call takes over 100 ms.
Writes DIR/samples.csv, DIR/events.log, DIR/report.md and DIR/plot.svg.
"""
import argparse
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--tag", required=True)
ap.add_argument("--net", required=True)
ap.add_argument("--minutes", type=float, default=10)
ap.add_argument("--phase-secs", type=float, default=60)
ap.add_argument("--out", required=True)
ap.add_argument("--max-conns", type=int, default=1500, help="the engine's --tcp-max-conns (per worker)")
ap.add_argument("--rss-bound-mb", type=float, default=16)
args = ap.parse_args()

ENG_NS, ENG_IF, PEER_IF = f"{args.tag}-eng", f"{args.tag}-e", f"{args.tag}-p"
ENGINE_IP = f"{args.net}.2"
DURATION = args.minutes * 60
PHASES = ["clean", "loss", "churn", "flap"]
# How long the peer's link stays down in the flap phase: past the engine's retransmission
# budget (--tcp-max-retransmits 4 below: ~6.2 s).
VANISH_SECS = 9
# Short runs shorten the engine's timers so the same states are reached.
TIME_WAIT_MS = 60_000 if args.phase_secs >= 60 else max(2_000, int(args.phase_secs * 500))
# The warm-up is the first round of phases: RSS may grow while every kind of load meets
# the engine for the first time, not after.
WARMUP = len(PHASES) * args.phase_secs
ENGINE_ARGS = [
    "run", "--iface", ENG_IF, "--ip", f"{ENGINE_IP}/24", "--queues", "2", "--cores", "1,1",
    "--poll", "adaptive", "--serve", "http-echo:80", "--serve", "tcp-echo:7",
    "--serve", "chargen:19", "--serve", "discard:9", "--serve", "udp-echo:7",
    "--tcp-max-conns", str(args.max_conns), "--tcp-time-wait-ms", str(TIME_WAIT_MS),
    # Retransmissions at 0.2, 0.4, 0.8, 1.6 and 3.2 s: a connection whose peer vanished
    # times out after ~6 s, within the link-down part of the flap phase.
    "--tcp-max-retransmits", "4",
    "--fault", "drop=0.1,dup=0.1,reorder=0.2,corrupt=0.05,seed=7",
]
os.makedirs(args.out, exist_ok=True)
events = open(os.path.join(args.out, "events.log"), "w")
lock = threading.Lock()
failures = []
stop = threading.Event()
logged = set()
phases_run = []
state = {"phase": "clean", "disrupted_until": 0.0, "engine_restarts": 0}
done = {k: 0 for k in ["http_keepalive", "http_close", "echo_bytes", "download_bytes",
                       "upload_bytes", "udp_replies", "idle_closed", "churn_refused",
                       "transfer_errors", "transfers"]}


def log(msg):
    line = "%8.1f %s" % (time.time() - T0, msg)
    with lock:
        events.write(line + "\n")
        events.flush()
    print(line, flush=True)


def fail(msg):
    with lock:
        failures.append("%.1f s: %s" % (time.time() - T0, msg))
    log("FAIL " + msg)


def disrupted():
    return state["phase"] in ("flap", "kill") or time.time() < state["disrupted_until"]


def transfer_error(what, e):
    """A connection error: expected while the link is down or the engine restarts, or
    rarely under loss (a timeout); a failure otherwise."""
    with lock:
        done["transfer_errors"] += 1
    # Loss may time a transfer out; a full table (churn) refuses new connections.
    if not disrupted() and state["phase"] not in ("loss", "churn"):
        fail(f"{what}: {e!r}")
    else:
        key = (what, type(e).__name__, state["phase"])
        with lock:
            seen = key in logged
            logged.add(key)
        if not seen:
            log(f"{what}: {e!r} (during {state['phase']}; later ones of this kind not logged)")


def diagnose(what, sock):
    """On a stalled transfer: the kernel's view of the socket (ss) and the engine's view
    of the connection (bypass stat), into the events log."""
    try:
        port = sock.getsockname()[1]
    except OSError:
        return
    ss = subprocess.run(["ss", "-tinoe", "sport", "=", str(port)], capture_output=True, text=True).stdout
    st = eng([args.bin, "stat", "--pid", str(ENGINE.pid)]).stdout
    mine = [l for l in st.splitlines() if f":{port} " in l or l.rstrip().endswith(f":{port}") or "LISTEN" in l]
    counters, _ = ENGINE.stat()
    keys = ["open", "syn_received", "syn_dropped_table_full", "syn_cookies_sent", "syn_cookies_accepted",
            "syn_cookies_rejected", "time_wait_reused", "time_wait_recycled", "accept_queue_overflow"]
    tcp = {k: total(counters, k) for k in keys} if counters else "bypass stat failed"
    log(f"{what}: stalled socket, local port {port}\n  ss: {ss.strip()}\n  engine: {mine}\n  engine tcp: {tcp}")


def bump(k, n=1):
    with lock:
        done[k] += n


def eng(cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ENG_NS] + cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- the engine

class Engine:
    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", ENG_NS, args.bin] + ENGINE_ARGS,
                                     stdout=subprocess.PIPE, stderr=open(os.path.join(args.out, "engine.err"), "a"),
                                     env=dict(os.environ, RUST_LOG="warn"), text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("bypass: ready"):
            raise SystemExit(f"soak: the engine did not start: {line!r} (see {args.out}/engine.err)")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.pid = self.engine_pid()
        log(f"engine up (pid {self.pid}): {line.strip()}")

    def engine_pid(self):
        # `ip netns exec` execs the engine in place: the child is the engine.
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        try:
            for l in open(f"/proc/{self.pid}/status"):
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
        except OSError:
            return None

    def stat(self):
        t = time.time()
        # The control socket lives in the engine's network namespace.
        r = subprocess.run(["ip", "netns", "exec", ENG_NS, args.bin, "stat", "--counters", "--json", "--pid", str(self.pid)],
                           capture_output=True, text=True, timeout=5)
        ms = (time.time() - t) * 1000
        if r.returncode != 0:
            return None, ms
        return json.loads(r.stdout), ms

    def xdp_attached(self):
        out = eng(["ip", "link", "show", "dev", ENG_IF]).stdout
        return "xdp" in out

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


ENGINE = Engine()

# ---------------------------------------------------------------- load

class ConnectTimeout(TimeoutError):
    """A connect that timed out; `sock` still has its local port for the diagnosis."""
    def __init__(self, sock):
        super().__init__("connect timed out")
        self.sock = sock


def connect(port, timeout=10):
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((ENGINE_IP, port))
    except TimeoutError:
        raise ConnectTimeout(s) from None
    except OSError:
        s.close()
        raise
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(min(1 << 20, n - len(buf)))
        if not b:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += b
    return bytes(buf)


def http_read_response(s):
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            raise EOFError("EOF in response head")
        head += b
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for l in lines[1:]:
        if l.lower().startswith("content-length:"):
            length = int(l.split(":")[1])
    return status, recv_exact(s, length)


def http_keepalive():
    rng = random.Random(1)
    s = None
    while not stop.is_set():
        try:
            if s is None:
                s = connect(80)
            body = rng.randbytes(rng.choice([10, 1000, 20_000, 200_000]))
            s.sendall(b"POST /soak HTTP/1.1\r\nHost: e\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            status, got = http_read_response(s)
            if status != 200 or got != body:
                fail(f"http keep-alive: status {status}, {len(got)} bytes back of {len(body)}, equal {got == body}")
            bump("http_keepalive")
        except (OSError, EOFError) as e:
            transfer_error("http keep-alive", e)
            s = None
            time.sleep(0.2)


def http_close():
    while not stop.is_set():
        s = None
        try:
            s = connect(80)
            s.sendall(b"GET /c HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n")
            status, _ = http_read_response(s)
            if status != 200:
                fail(f"http close: status {status}")
            if s.recv(1) != b"":
                fail("http close: data after the response")
            s.close()
            bump("http_close")
        except (OSError, EOFError) as e:
            if isinstance(e, ConnectTimeout):
                diagnose("http close: connect timed out (SYN unanswered for 10 s);", e.sock)
                e.sock.close()
            elif isinstance(e, TimeoutError):
                diagnose("http close", s)
            transfer_error("http close", e)
            time.sleep(0.2)
        time.sleep(0.005)


CHARGEN = bytes(0x20 + i % 95 for i in range(95))


def bulk():
    rng = random.Random(2)
    n = 4 << 20
    while not stop.is_set():
        kind = rng.choice(["echo", "download", "upload"])
        s = None
        try:
            if kind == "echo":
                data = rng.randbytes(n)
                s = connect(7, timeout=30)
                out = {}
                def reader():
                    try:
                        out["got"] = recv_exact(s, n)
                    except Exception as e:  # noqa: BLE001 - reported below
                        out["err"] = e
                t = threading.Thread(target=reader)
                t.start()
                s.sendall(data)
                t.join(60)
                s.close()
                if "err" in out:
                    raise out["err"]
                if hashlib.sha256(out.get("got", b"")).digest() != hashlib.sha256(data).digest():
                    fail("echo: SHA-256 of what came back differs")
                bump("echo_bytes", n)
            elif kind == "download":
                s = connect(19, timeout=30)
                s.sendall(b"%d\n" % n)
                got = recv_exact(s, n)
                if s.recv(1) != b"":
                    fail("chargen sent more than asked")
                s.close()
                want = (CHARGEN * (n // 95 + 1))[:n]
                if hashlib.sha256(got).digest() != hashlib.sha256(want).digest():
                    fail("download: SHA-256 differs from the chargen pattern")
                bump("download_bytes", n)
            else:
                s = connect(9, timeout=30)
                s.sendall(rng.randbytes(n))
                s.shutdown(socket.SHUT_WR)
                if s.recv(1) != b"":
                    fail("discard answered")
                s.close()
                bump("upload_bytes", n)
            bump("transfers")
        except (OSError, EOFError) as e:
            if isinstance(e, ConnectTimeout):
                diagnose(f"bulk {kind}: connect timed out;", e.sock)
                e.sock.close()
            elif isinstance(e, TimeoutError):
                diagnose(f"bulk {kind}", s)
            transfer_error(f"bulk {kind}", e)
            time.sleep(0.5)


def udp_payload(seq):
    return b"%08d" % seq + hashlib.sha256(b"%d" % seq).digest()


def udp_stream():
    """Sequence-numbered datagrams; every reply must be one we sent, intact (the fault
    injector may drop or duplicate them: duplicates are fine, corruption is not)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.01)
    seq = 0
    while not stop.is_set():
        seq += 1
        try:
            s.sendto(udp_payload(seq), (ENGINE_IP, 7))
            while True:
                d, _ = s.recvfrom(2048)
                k = int(d[:8]) if d[:8].isdigit() else -1
                if not 1 <= k <= seq or d != udp_payload(k):
                    fail(f"udp: a reply we never sent ({d[:16]!r})")
                    break
                bump("udp_replies")
        except socket.timeout:
            pass
        except OSError as e:
            transfer_error("udp", e)
            time.sleep(0.1)
        time.sleep(0.002)


def idle_conns():
    """Opens a few HTTP connections and leaves them idle: the engine's idle timeout must
    close them (EOF), freeing their memory."""
    while not stop.is_set():
        conns = []
        try:
            for _ in range(20):
                conns.append(connect(80))
        except OSError as e:
            transfer_error("idle connect", e)
        deadline = time.time() + 90
        for c in conns:
            c.settimeout(max(0.1, deadline - time.time()))
            try:
                if c.recv(1) == b"":
                    bump("idle_closed")
            except OSError:
                pass
            c.close()
        stop.wait(1)


def churn_to_the_limit():
    """Opens idle connections until the engine's table is full (its per-worker
    --tcp-max-conns, counted as stack.tcp.syn_dropped_table_full), then closes them. The
    keep-alive and bulk load keep running meanwhile: existing connections must work."""
    before, _ = ENGINE.stat()
    if before is None:
        fail("churn: bypass stat failed")
        return
    base = total(before, "syn_dropped_table_full")
    conns, timeouts, full = [], 0, False
    limit = 2 * args.max_conns + 1000
    while len(conns) < limit and not stop.is_set():
        try:
            conns.append(connect(9, timeout=0.5))
            check = len(conns) % 250 == 0
        except OSError:
            timeouts += 1
            check = True
        if check:
            now, _ = ENGINE.stat()
            if now and total(now, "syn_dropped_table_full") > base:
                full = True
                break
            if timeouts > 50:
                break
    after, _ = ENGINE.stat()
    refused = total(after, "syn_dropped_table_full") - base if after else 0
    log(f"churn: {len(conns)} connections open, {timeouts} connects timed out, {refused} SYNs refused for a full table")
    if not full or refused <= 0:
        fail(f"churn: the table never filled or its refusals were not counted ({len(conns)} open, {timeouts} timeouts)")
    bump("churn_refused", refused)
    for c in conns:
        c.close()


def total(stat, key):
    """Sum over workers of stack.tcp.<key>; a missing key is a failure, not 0."""
    n = 0
    for w in stat["workers"]:
        tcp = w["stack"]["tcp"]
        if key not in tcp:
            fail(f"counter stack.tcp.{key} is missing from bypass stat")
            return 0
        n += tcp[key]
    return n


# ---------------------------------------------------------------- sampling and checks

GAUGES = ("frames", "queue", "open", "index", "core", "pinned")


def leaves(v, prefix=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, f"{prefix}.{k}" if prefix else k)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        yield prefix, v


def sampler(samples):
    try:
        sample_loop(samples)
    except Exception as e:  # noqa: BLE001 - a broken sampler must fail the soak, not vanish
        fail(f"sampler: {e!r}")
        stop.set()


def sample_loop(samples):
    last = None
    last_rx = None
    while not stop.is_set():
        stop.wait(2)
        t = time.time() - T0
        if not ENGINE.alive():
            if state["phase"] == "kill":
                continue
            fail("the engine exited")
            stop.set()
            break
        stat, ms = ENGINE.stat()
        rss = ENGINE.rss_kb()
        if stat is None:
            if state["phase"] != "kill":
                fail("bypass stat failed")
            continue
        if ms > 100:
            fail(f"bypass stat took {ms:.0f} ms")
        workers = stat["workers"]
        for w in workers:
            if not w["frames"]["balanced"]:
                fail(f"worker {w['index']}: frame ledger unbalanced: {w['frames']}")
        flat = {}
        for w in workers:
            for k, v in leaves(w):
                if not any(g in k.split(".") for g in GAUGES):
                    flat[f"w{w['index']}.{k}"] = v
        if last is not None and last[0] == state["engine_restarts"]:
            for k, v in flat.items():
                if k in last[1] and v < last[1][k]:
                    fail(f"counter {k} went down: {last[1][k]} -> {v}")
        last = (state["engine_restarts"], flat)
        rx = [w["stack"]["rx_frames"] for w in workers]
        if last_rx is not None and last_rx[0] == state["engine_restarts"] and not disrupted():
            for i, (a, b) in enumerate(zip(last_rx[1], rx)):
                if a == b:
                    fail(f"worker {i} received nothing for a sample while traffic was offered")
        last_rx = (state["engine_restarts"], rx)
        conns = sum(w["stack"]["tcp"]["open"] for w in workers)
        with lock:
            snap = dict(done)
        samples.append((t, state["phase"], rss, conns, snap["echo_bytes"] + snap["download_bytes"] + snap["upload_bytes"], snap["http_keepalive"] + snap["http_close"], ms))


def set_loss(on):
    rule = ["INPUT", "-i", PEER_IF, "-m", "statistic", "--mode", "random", "--probability", "0.01", "-j", "DROP"]
    subprocess.run(["iptables", "-A" if on else "-D"] + rule, capture_output=True)


def run_phases():
    i = 0
    while not stop.is_set():
        # The last phase is always the kill, even when earlier ones overran their time.
        left = DURATION - (time.time() - T0)
        phase = "kill" if left <= args.phase_secs else PHASES[i % len(PHASES)]
        i += 1
        state["phase"] = phase
        phases_run.append(phase)
        log(f"phase {phase}")
        left = max(left, 6.0)
        end = time.time() + min(args.phase_secs, left)
        if phase == "loss":
            set_loss(True)
        elif phase == "churn":
            churn_to_the_limit()
        elif phase == "flap":
            # The peer vanishes for longer than the engine's retransmission budget: its
            # connections with data in flight must time out (and be freed: the RSS check),
            # and new ones must work once the link is back.
            # One transfer certainly has data in flight when the link goes down (the mixed
            # load may happen to have none at that instant): a large chargen download,
            # read continuously, already flowing.
            victim = start_victim_download()
            before, _ = ENGINE.stat()
            subprocess.run(["ip", "link", "set", PEER_IF, "down"])
            stop.wait(VANISH_SECS)
            subprocess.run(["ip", "link", "set", PEER_IF, "up"])
            state["disrupted_until"] = time.time() + 15
            stop.wait(1)
            if not ping():
                fail("flap: no ping answer after the link came back")
            after, _ = ENGINE.stat()
            if before and after:
                timed_out = total(after, "errors_timed_out") - total(before, "errors_timed_out")
                log(f"flap: {timed_out} connections timed out while the peer was gone")
                if timed_out <= 0:
                    fail("flap: no connection timed out while the peer was gone for longer than the retransmission budget")
        elif phase == "kill":
            stop.wait(min(5, left / 3))
            ENGINE.kill9()
            log("engine killed (SIGKILL) under load")
            time.sleep(0.3)
            if ENGINE.xdp_attached():
                fail("an XDP program is still attached after SIGKILL")
            ENGINE.start()
            state["engine_restarts"] += 1
            if not ping():
                fail("the restarted engine does not answer ping")
            state["disrupted_until"] = time.time() + 15
            state["phase"] = "after-kill"
        stop.wait(max(0.0, end - time.time()))
        if phase == "loss":
            set_loss(False)
        if phase == "kill":
            break


def start_victim_download():
    """A chargen download of 1 GiB, read by a thread until it fails; returns once the
    first 64 KiB arrived (None if it never started)."""
    try:
        s = connect(19, timeout=30)
        s.sendall(b"%d\n" % (1 << 30))
        recv_exact(s, 64 << 10)
    except (OSError, EOFError) as e:
        log(f"flap: the in-flight download did not start: {e!r}")
        return None

    def drain():
        try:
            while s.recv(1 << 20):
                pass
        except OSError:
            pass
        s.close()
    threading.Thread(target=drain, daemon=True).start()
    return s


def ping():
    for _ in range(20):
        r = subprocess.run(["ping", "-c1", "-W1", ENGINE_IP], capture_output=True)
        if r.returncode == 0:
            return True
    return False


# ---------------------------------------------------------------- report

def svg_plot(samples, path):
    W, H, pad = 900, 520, 50
    series = [("RSS (MiB)", 2, lambda s: (s[2] or 0) / 1024, "#c0392b"),
              ("TCP connections", 3, lambda s: s[3], "#2980b9"),
              ("bulk MiB/s", 4, None, "#27ae60"),
              ("HTTP req/s", 5, None, "#8e44ad")]
    rows = []
    for idx, (name, col, f, color) in enumerate(series):
        pts = []
        for j, s in enumerate(samples):
            if f:
                y = f(s)
            else:
                if j == 0:
                    continue
                dt = s[0] - samples[j - 1][0] or 1
                y = (s[col] - samples[j - 1][col]) / dt / ((1 << 20) if col == 4 else 1)
            pts.append((s[0], y))
        if not pts:
            continue
        top = max(p[1] for p in pts) or 1
        h = (H - 2 * pad) / 4
        y0 = pad + idx * h
        tmax = max(p[0] for p in pts) or 1
        line = " ".join("%.1f,%.1f" % (pad + p[0] / tmax * (W - 2 * pad), y0 + h - 6 - p[1] / top * (h - 16)) for p in pts)
        rows.append(f'<text x="{pad}" y="{y0 + 12}" font-size="12">{name} (max {top:.1f})</text>'
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}"/>'
                    f'<line x1="{pad}" y1="{y0 + h - 6}" x2="{W - pad}" y2="{y0 + h - 6}" stroke="#ccc"/>')
    open(path, "w").write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">'
                          f'<rect width="100%" height="100%" fill="white"/>{"".join(rows)}'
                          f'<text x="{W / 2 - 40}" y="{H - 10}" font-size="12">time (s)</text></svg>')


def main():
    global T0
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * args.max_conns + 1200:
        raise SystemExit(f"soak: the open-files hard limit ({hard}) is below what churn needs ({2 * args.max_conns + 1200}); lower --max-conns")
    T0 = time.time()
    ENGINE.start()
    if not ping():
        raise SystemExit("soak: the engine does not answer ping")
    samples = []
    threads = [threading.Thread(target=f, daemon=True) for f in (http_keepalive, http_close, bulk, udp_stream, idle_conns)]
    threads.append(threading.Thread(target=sampler, args=(samples,), daemon=True))
    for t in threads:
        t.start()
    try:
        run_phases()
    finally:
        stop.set()
        set_loss(False)
        time.sleep(1)
        ENGINE.stop()
    for p in PHASES + ["kill"]:
        if p not in phases_run:
            fail(f"phase {p} never ran (one overran its time)")
    # RSS after the warm-up must not exceed its warm-up peak by more than the bound (the
    # engine restarted in the last phase: only its first incarnation counts).
    first = [(t, r) for (t, ph, r, *_rest) in samples if r and ph not in ("kill", "after-kill")]
    warm = [r for t, r in first if t < WARMUP]
    later = [r for t, r in first if t >= WARMUP]
    growth = (max(later) - max(warm)) / 1024 if warm and later else None
    if growth is None:
        fail(f"no RSS samples after the warm-up ({WARMUP:g} s): run longer")
    elif growth > args.rss_bound_mb:
        fail(f"RSS grew {growth:.1f} MiB past its warm-up peak (bound {args.rss_bound_mb} MiB)")
    with open(os.path.join(args.out, "samples.csv"), "w") as f:
        f.write("t_s,phase,rss_kb,tcp_conns,bulk_bytes,http_requests,stat_ms\n")
        for s in samples:
            f.write(",".join(str(x) for x in s) + "\n")
    svg_plot(samples, os.path.join(args.out, "plot.svg"))
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(f"# Soak: {args.minutes:g} min, phases of {args.phase_secs:g} s\n\n")
        f.write(f"- result: {'FAIL' if failures else 'pass'}\n")
        f.write(f"- engine: `{' '.join(ENGINE_ARGS)}`\n")
        g = "n/a" if growth is None else f"{growth:.1f} MiB"
        peak = max(warm) / 1024 if warm else 0
        f.write(f"- samples: {len(samples)}; RSS peak in the warm-up ({WARMUP:g} s) {peak:.1f} MiB, growth past it afterwards {g} (bound {args.rss_bound_mb} MiB)\n")
        f.write(f"- stat latency max {max((s[6] for s in samples), default=0):.0f} ms\n")
        for k, v in done.items():
            f.write(f"- {k}: {v}\n")
        f.write("\n![RSS, connections, throughput](plot.svg)\n")
        if failures:
            f.write("\n## Failures\n\n" + "\n".join(f"- {x}" for x in failures[:50]) + "\n")
    print(open(os.path.join(args.out, "report.md")).read())
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
