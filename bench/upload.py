"""Benchmark: stream a large dataset upload through the running server, next to `cp` of the same file.

Prints the upload's throughput as a ratio of `cp` + fsync on the same disk
(goal >= 0.8), the server's peak RSS growth during the upload (goal <= 64 MiB),
and the p99 latency of `GET /healthz` polled while the upload runs (goal <= 50 ms).

    .venv/bin/python -m bench.upload [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.support.server import free_port, server_env, start_server, wait_until_healthy

KEY = "test-admin-key-000"
CHUNK = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    line = (
        b'{"messages": [{"role": "user", "content": "'
        + b"q" * 400
        + b'"}, {"role": "assistant", "content": "a"}]}\n'
    )
    block = line * (CHUNK // len(line) + 1)
    with path.open("wb") as handle:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            handle.write(piece)
            written += len(piece)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def time_cp(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    fd = os.open(target, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def upload_once(base: str, dataset_id: str, source: Path, server_pid: int) -> dict[str, float]:
    """One upload with curl while /healthz is polled and the server's RSS sampled."""
    latencies: list[float] = []
    baseline_rss = peak_rss = rss_bytes(server_pid)
    done = threading.Event()

    def poll_health() -> None:
        with httpx.Client(base_url=base, timeout=10) as probe:
            while not done.is_set():
                started = time.perf_counter()
                probe.get("/healthz")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)

    def sample_rss() -> None:
        nonlocal peak_rss
        while not done.is_set():
            peak_rss = max(peak_rss, rss_bytes(server_pid))
            time.sleep(0.02)

    threads = [threading.Thread(target=poll_health), threading.Thread(target=sample_rss)]
    for thread in threads:
        thread.start()
    # curl streams the multipart body from disk in C, so the client costs little of the 2 cores
    started = time.perf_counter()
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail-with-body",
            "-X",
            "PUT",
            "-H",
            f"Authorization: Bearer {KEY}",
            "-F",
            f"file=@{source}",
            f"{base}/v1/datasets/{dataset_id}/files",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    done.set()
    for thread in threads:
        thread.join()
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["bytes"] == source.stat().st_size
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as client:
        client.delete(f"/v1/uploads/{answer['upload_id']}").raise_for_status()
    return {
        "seconds": seconds,
        "rss_growth": peak_rss - baseline_rss,
        "p99": statistics.quantiles(latencies, n=100)[98],
        "p50": statistics.median(latencies),
        "probes": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating cp / upload rounds; medians are reported"
    )
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    cp_times: list[float] = []
    uploads: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        work = Path(tmp)
        source = work / "big.jsonl"
        make_file(source, size)
        port = free_port()
        env = server_env(
            f"sqlite:///{work / 'bench.db'}",
            port,
            TUNING_DATA_DIR=str(work / "data"),
            TUNING_LOG_LEVEL="WARNING",
            TUNING_MAX_UPLOAD_BYTES=str(size * 2),
            TUNING_INLINE_VALIDATION_BYTES="0",  # validate in the background; each round's file is removed
        )
        server = start_server(env, work)
        try:
            wait_until_healthy(server, port)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as client:
                dataset_id = client.post("/v1/datasets", json={"name": "bench"}).json()["id"]
            for _ in range(args.rounds):
                os.sync()
                cp_times.append(time_cp(source, work / "copy.jsonl"))
                os.sync()
                uploads.append(upload_once(base, dataset_id, source, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=60)

    mib = size / 1024 / 1024
    cp_seconds = statistics.median(cp_times)
    upload_seconds = statistics.median(u["seconds"] for u in uploads)
    print(f"file: {mib:.0f} MiB, {args.rounds} alternating rounds, medians")
    print(f"cp + fsync      : {mib / cp_seconds:8.1f} MiB/s  (rounds: {[round(mib / t) for t in cp_times]})")
    upload_rounds = [round(mib / u["seconds"]) for u in uploads]
    print(f"upload (HTTP)   : {mib / upload_seconds:8.1f} MiB/s  (rounds: {upload_rounds})")
    print(f"throughput ratio upload / cp: {cp_seconds / upload_seconds:.2f}  (goal >= 0.8)")
    growth = max(u["rss_growth"] for u in uploads) / 1024 / 1024
    print(f"server peak RSS growth: {growth:.1f} MiB (worst round)  (goal <= 64)")
    p99 = statistics.median(u["p99"] for u in uploads) * 1000
    p50 = statistics.median(u["p50"] for u in uploads) * 1000
    print(f"GET /healthz during upload: p50 {p50:.1f} ms, p99 {p99:.1f} ms  (goal p99 <= 50 ms)")


if __name__ == "__main__":
    main()
