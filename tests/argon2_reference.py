#!/usr/bin/env python3
"""The reference Argon2id rate on this machine, to compare Buddo's logins against.

Runs the C reference implementation (PyPI `argon2-cffi`) with Buddo's production parameters
(m=19 MiB, t=2, p=1): the time of one hash, one process hashing in a loop, and the rate of one
process per core hashing at once, which is the most logins per second any server can reach.

Usage: argon2_reference.py [seconds per measurement] (prints `key value` lines)
"""
import multiprocessing
import os
import statistics
import sys
import time

from argon2.low_level import Type, hash_secret_raw

PARAMS = dict(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, type=Type.ID)


def one_hash(i: int = 0) -> None:
    hash_secret_raw(b"correct horse battery staple", os.urandom(16), **PARAMS)


def rate(seconds: float, _: int = 0) -> int:
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        one_hash()
        n += 1
    return n


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    one_hash()  # warm up
    times = []
    for _ in range(20):
        start = time.perf_counter()
        one_hash()
        times.append((time.perf_counter() - start) * 1000)
    cores = os.cpu_count() or 1
    with multiprocessing.Pool(cores) as pool:
        pool.starmap(rate, [(0.5, i) for i in range(cores)])  # warm up every worker
        start = time.perf_counter()
        counts = pool.starmap(rate, [(seconds, i) for i in range(cores)])
        elapsed = time.perf_counter() - start
    print(f"hash_ms_median {statistics.median(times):.1f}")
    print(f"cores {cores}")
    print(f"parallel_hashes_per_s {sum(counts) / elapsed:.1f}")


if __name__ == "__main__":
    main()
