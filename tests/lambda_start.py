#!/usr/bin/env python3
"""Start-to-ready of a Lambda function binary (budget in the README).

Serves a minimal Lambda runtime API on a loopback port, starts the binary with
AWS_LAMBDA_RUNTIME_API pointing at it, and measures the time from exec until the function
asks for its first invocation (GET /2018-06-01/runtime/invocation/next): everything a cold
start does before it can take a request. Prints the median and worst of N starts.

Usage: lambda_start.py <binary> [runs] (extra environment comes from the caller).
"""
import http.server
import os
import socket
import statistics
import subprocess
import sys
import threading
import time


def measure(binary: str) -> float:
    ready = threading.Event()

    class Runtime(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the runtime API's method)
            if self.path.endswith("/runtime/invocation/next"):
                ready.set()
                # Hold the request: the function waits for work, as on Lambda.
                time.sleep(2)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "buddo-bench")
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    env.setdefault("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
    env.setdefault("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not ready.wait(timeout=10):
            err = proc.stderr.read1(4096).decode(errors="replace") if proc.poll() is not None else ""
            raise SystemExit(f"{binary} did not ask for an invocation within 10 s {err}")
        return (time.perf_counter() - start) * 1000
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
        server.server_close()


def main() -> None:
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    times = [measure(binary) for _ in range(runs)]
    print(f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms over {runs} starts")


if __name__ == "__main__":
    main()
