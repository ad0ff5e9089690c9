#!/usr/bin/env python3
"""What an idle client connection costs the broker in memory (docs/broker.md, "Sizing
--max-connections").

Starts its own causeway-broker on 127.0.0.1 (a port chosen at run time, a fresh data dir),
captures the Hello frame a `causeway topic list` sends (through a one-shot proxy, so the
frame is the real client's), opens N connections that each say Hello and then nothing,
waits 6 s (the broker's heap trim runs every 5 s), and prints the broker's RSS before and
after. Ends only the broker it started, by its PID.

Usage: bench/connections/connection_memory.py BUILD_DIR [N ...]   (default N: 1000 2000)
"""
import os, socket, subprocess, sys, tempfile, threading, time, resource

build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
counts = [int(n) for n in sys.argv[2:]] or [1000, 2000]
broker_bin = os.path.join(build, "broker", "causeway-broker")
cli_bin = os.path.join(build, "client", "causeway")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, max(counts) + 256)), hard))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

def capture_hello(broker):
    ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
    got = {}
    def proxy():
        c, _ = ls.accept()
        b = socket.create_connection(broker)
        hdr = c.recv(4, socket.MSG_WAITALL)
        got["hello"] = hdr + c.recv(int.from_bytes(hdr, "little"), socket.MSG_WAITALL)
        b.sendall(got["hello"])
        def pump(a, z):
            try:
                while (d := a.recv(65536)):
                    z.sendall(d)
            except OSError:
                pass
            try:
                z.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        ts = [threading.Thread(target=pump, args=x) for x in ((c, b), (b, c))]
        [t.start() for t in ts]; [t.join() for t in ts]
    threading.Thread(target=proxy, daemon=True).start()
    subprocess.run([cli_bin, "--broker", "127.0.0.1:%d" % ls.getsockname()[1], "topic", "list"],
                   capture_output=True, timeout=30, check=True)
    return got["hello"]

port = free_port()
data = tempfile.mkdtemp(prefix="causeway-connmem-")
broker = subprocess.Popen([broker_bin, "--listen", "127.0.0.1:%d" % port, "--registry-listen", "off",
                           "--admin-listen", "off", "--max-connections", str(max(counts) + 16),
                           "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    addr = ("127.0.0.1", port)
    for _ in range(300):
        try:
            socket.create_connection(addr).close(); break
        except OSError:
            time.sleep(0.1)
    hello = capture_hello(addr)
    for n in counts:
        time.sleep(6)
        base = rss_kib(broker.pid)
        socks = []
        for _ in range(n):
            s = socket.create_connection(addr); s.sendall(hello)
            hdr = s.recv(4, socket.MSG_WAITALL); s.recv(int.from_bytes(hdr, "little"), socket.MSG_WAITALL)
            socks.append(s)
        time.sleep(6)
        after = rss_kib(broker.pid)
        print("%d idle connections: broker RSS %.1f -> %.1f MiB, %.1f KiB per connection"
              % (n, base / 1024, after / 1024, (after - base) / n))
        for s in socks:
            s.close()
finally:
    broker.terminate()
    broker.wait(timeout=30)
