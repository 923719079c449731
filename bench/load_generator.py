"""The HTTP part's load generator: team leads claiming and completing their tasks over the
API, each lead one keep-alive connection, all of them on one asyncio loop (aiohttp).

    <loadgen venv>/bin/python bench/load_generator.py job.json   # prints one JSON line

It runs apart from the project, in a virtual environment of the benchmark's own
(/tmp/approval-bench/loadgen-venv, made on first use by `loadgen_python()`): it needs only
the standard library and aiohttp, whose parser is compiled. On a 2-core machine the load
generator shares the CPU with what it measures; httpx, whose HTTP/1.1 is pure Python, took
3.6 ms of CPU per pair, a sixth of the machine, where aiohttp takes a fraction of that
(docs/performance.md, step 25).

The job (JSON): {"urls": [...], "keys": [...], "shares": [[task ids], ...], "warm": 2,
"seconds": 20}. Client i works shares[i] with keys[i] against urls[i % len(urls)]: its first
`warm` tasks before the clock starts, the rest until `seconds` have passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

LOADGEN_VENV = Path("/tmp/approval-bench/loadgen-venv")


def loadgen_python() -> str:
    """The load generator's interpreter, its virtual environment made on first use."""
    python = LOADGEN_VENV / "bin" / "python"
    ready = python.exists() and subprocess.run([str(python), "-c", "import aiohttp"]).returncode == 0
    if not ready:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(LOADGEN_VENV)], check=True)
        subprocess.run([str(LOADGEN_VENV / "bin" / "pip"), "install", "-q", "aiohttp>=3.9,<4"], check=True)
    return str(python)


def machine_busy_seconds() -> float:
    """CPU seconds this machine has spent busy since boot, every process counted (/proc/stat:
    all but idle, I/O wait and the time the hypervisor gave to others)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, _steal = fields[:8]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


async def posted(session, path: str, body: dict, headers: dict, out: dict) -> tuple[int, bytes] | None:
    """POST `body` as JSON: the status and the answer, or None when the connection failed
    (counted as an error, not the end of the run)."""
    import aiohttp

    try:
        async with session.post(path, json=body, headers=headers) as answer:
            return answer.status, await answer.read()
    except (TimeoutError, aiohttp.ClientError) as error:
        out["errors"].append(type(error).__name__)
        return None


async def lead_works(session, key: str, tasks: list[int], stop_at: float, out: dict) -> None:
    headers = {"Authorization": f"Api-Key {key}"}
    for task_id in tasks:
        if time.perf_counter() >= stop_at:
            return
        began = time.perf_counter()
        claim = await posted(session, f"/api/v1/tasks/{task_id}/claim/", {}, headers, out)
        claimed = time.perf_counter()
        if claim is None:
            continue
        out["requests"].append(claimed - began)
        if claim[0] != 200:
            out["errors"].append(claim[0])
            continue
        version = json.loads(claim[1])["version"]
        complete = await posted(
            session,
            f"/api/v1/tasks/{task_id}/complete/",
            {"outcome": "approve", "comment": "Within budget"},
            {**headers, "If-Match": f'"{version}"'},
            out,
        )
        done = time.perf_counter()
        if complete is None:
            continue
        out["requests"].append(done - claimed)
        if complete[0] != 200:
            out["errors"].append(complete[0])
            continue
        out["pairs"].append(done - began)


async def load(job: dict) -> dict:
    import aiohttp

    urls, keys, shares = job["urls"], job["keys"], job["shares"]
    warm, seconds = job.get("warm", 2), job["seconds"]
    clients = len(keys)
    out: dict = {"requests": [], "pairs": [], "errors": []}
    timeout = aiohttp.ClientTimeout(total=60)
    sessions = [
        aiohttp.ClientSession(
            base_url=urls[i % len(urls)],
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=1, force_close=False),
        )
        for i in range(clients)
    ]
    try:
        # Warm up every server (imports, connections, caches) before the clock starts.
        ignored: dict = {"requests": [], "pairs": [], "errors": []}
        await asyncio.gather(
            *(
                lead_works(sessions[i], keys[i], shares[i][:warm], time.perf_counter() + 30, ignored)
                for i in range(clients)
            )
        )
        busy, own = machine_busy_seconds(), time.process_time()
        began = time.perf_counter()
        stop_at = began + seconds
        work = (lead_works(sessions[i], keys[i], shares[i][warm:], stop_at, out) for i in range(clients))
        await asyncio.gather(*work)
        out["elapsed"] = time.perf_counter() - began
        out["generator"] = time.process_time() - own
        # What the pairs cost the machine (web processes, PostgreSQL, Redis, the relay, the
        # workers), without this load generator: unlike pairs per second it does not move
        # with the CPU time other machines take from this one.
        out["busy"] = machine_busy_seconds() - busy - out["generator"]
        out["ran_out"] = out["elapsed"] < seconds * 0.95
    finally:
        for session in sessions:
            await session.close()
    return out


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] in {"-h", "--help"}:
        print(__doc__)
        raise SystemExit(0 if len(sys.argv) == 2 else 2)
    job = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(asyncio.run(load(job))), flush=True)


if __name__ == "__main__":
    main()
