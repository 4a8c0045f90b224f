#!/usr/bin/env python3
"""Open and hold N idle keep-alive HTTP/1.1 connections to a server (benches/idle_conns.sh).

Each connection sends one GET and reads the whole response (``--mode request``), or
only connects (``--mode connect``); then all are held open together. While they are
held the client reads the server's memory from /proc/PID/status (``--pid``), checks
that a new connection still gets 200, waits ``--hold`` seconds, and finally sends one
more request on every held connection to count how many the server kept alive.
Output: ``RESULT key=value`` lines, then a markdown table.

The soft RLIMIT_NOFILE is raised to fit N (+64); if the hard limit is too low it
stops with an error naming both numbers (raise it with ``ulimit -Hn`` as root).
"""

import argparse
import resource
import socket
import sys
import time


def status(pid):
    """VmRSS/VmHWM (KiB) and thread count of PID."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
            elif key == "Threads":
                out[key] = int(value)
    return out


def read_response(sock):
    """Reads one HTTP/1.1 response with a Content-Length body; returns the status code."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    code = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        rest += chunk
    return code


def request(sock, host, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return read_response(sock)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", required=True, help="HOST:PORT of the server")
    ap.add_argument("-n", type=int, default=10000, help="connections to hold")
    ap.add_argument("--mode", choices=["request", "connect"], default="request")
    ap.add_argument("--pid", type=int, help="server PID to read memory from")
    ap.add_argument("--hold", type=float, default=10.0, help="seconds to hold them")
    ap.add_argument("--path", default="/bench-bucket/idle")
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    port = int(port)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.n + 64
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit(f"idle_client: RLIMIT_NOFILE hard limit {hard} < {need} needed for {args.n} connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    print(f"RESULT nofile_soft={resource.getrlimit(resource.RLIMIT_NOFILE)[0]}", flush=True)

    before = status(args.pid) if args.pid else {}
    socks = []
    t0 = time.monotonic()
    for i in range(args.n):
        s = socket.create_connection((host, port), timeout=30)
        if args.mode == "request":
            code = request(s, args.addr, f"{args.path}/{i}")
            if code != 200:
                sys.exit(f"idle_client: request {i} answered {code}")
        socks.append(s)
    opened_s = time.monotonic() - t0
    time.sleep(1.0)  # let the server settle (allocator, lazily freed buffers)
    held = status(args.pid) if args.pid else {}

    t1 = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as s:
        fresh = request(s, args.addr, f"{args.path}/fresh")
    fresh_ms = (time.monotonic() - t1) * 1000

    time.sleep(max(0.0, args.hold - 1.0))
    alive = 0
    for i, s in enumerate(socks):
        try:
            if request(s, args.addr, f"{args.path}/again/{i}") == 200:
                alive += 1
        except OSError:
            pass
    after = status(args.pid) if args.pid else {}
    for s in socks:
        s.close()

    res = {
        "connections": args.n,
        "mode": args.mode,
        "open_seconds": f"{opened_s:.1f}",
        "rss_before_kib": before.get("VmRSS", ""),
        "rss_held_kib": held.get("VmRSS", ""),
        "hwm_kib": after.get("VmHWM", ""),
        "rss_after_second_round_kib": after.get("VmRSS", ""),
        "threads": held.get("Threads", ""),
        "fresh_request_status": fresh,
        "fresh_request_ms": f"{fresh_ms:.2f}",
        "alive_after_hold": alive,
        "hold_seconds": args.hold,
    }
    for k, v in res.items():
        print(f"RESULT {k}={v}")
    if before and held:
        per_conn = (held["VmRSS"] - before["VmRSS"]) * 1024 / args.n
        print()
        print("| connections held | proxy RSS before | RSS while held | per connection | peak (VmHWM) | threads | new request while held | still alive after hold |")
        print("|--:|--:|--:|--:|--:|--:|---|---|")
        print(
            f"| {args.n} ({args.mode}) | {before['VmRSS'] / 1024:.1f} MiB | {held['VmRSS'] / 1024:.1f} MiB "
            f"| {per_conn / 1024:.2f} KiB | {after['VmHWM'] / 1024:.1f} MiB | {held['Threads']} "
            f"| {fresh} in {fresh_ms:.2f} ms | {alive}/{args.n} after {args.hold:g} s |"
        )
    ok = fresh == 200 and alive == args.n
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
