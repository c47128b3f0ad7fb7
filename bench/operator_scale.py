"""Operator scale benchmark against the kmock API server: N MoltingModels applied at once, the
time from each apply to its training Job, and the operator's peak memory.

The API server (kmock with tests/integration/kopf/apiserver.py's additions) runs in this process
on 127.0.0.1; the operator runs as a real `molting operator` subprocess that finds it through a
kubeconfig, as it would find a cluster. Times are taken by the API server itself: when it stored
each MoltingModel and when it stored that model's training Job. Peak RSS is the operator
process's VmHWM. Figures are printed and written to bench/out/operator_scale.json;
docs/performance.md ("Operator") records a run.

    .venv/bin/python bench/operator_scale.py [--models 100 500] [--settle 15] [--rate 0]

By default every model is applied at once (a burst: the median model waits behind the others);
``--rate R`` applies R models a second instead, which shows the reaction time when the operator
and the API server keep up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import attrs
import kmock
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "tests" / "integration" / "kopf"))

from apiserver import ApiServer  # noqa: E402
from kopfkit import declare_resources  # noqa: E402

NS = "bench"
JOBS = kmock.resource("batch/v1/jobs")
MODELS = kmock.resource("molting.dev/v1alpha1/moltingmodels")


@attrs.define(kw_only=True)
class TimedApiServer(ApiServer):
    """Notes when each model and each training Job was stored (monotonic seconds)."""

    model_at: dict[str, float] = attrs.field(factory=dict)
    job_at: dict[str, float] = attrs.field(factory=dict)

    def _stamp_new(self, request) -> None:
        super()._stamp_new(request)
        meta = request.data["metadata"]
        if request.resource == MODELS:
            self.model_at.setdefault(meta["name"], time.monotonic())
        elif request.resource == JOBS and meta.get("labels", {}).get("molting.dev/kind") == "train":
            self.job_at.setdefault(meta["labels"]["molting.dev/model"], time.monotonic())


def model(name: str) -> dict:
    return {
        "apiVersion": "molting.dev/v1alpha1", "kind": "MoltingModel",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "baseModel": {"source": "TinyLlama/TinyLlama-1.1B-Chat-v1.0"},
            "dataset": {"configMap": {"name": "bench-data", "key": "conversations.jsonl"}},
        },
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process used so far (Linux /proc, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def run_once(n: int, settle_s: float, workdir: Path, rate: float = 0.0) -> dict:
    async with TimedApiServer() as server, kmock.Server(server) as http:
        declare_resources(server)
        url = str(http.url).rstrip("/")
        kubeconfig = workdir / f"kubeconfig-{n}"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "bench",
            "clusters": [{"name": "bench", "cluster": {"server": url}}],
            "users": [{"name": "bench", "user": {"token": "bench"}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
        }))
        async with aiohttp.ClientSession(url) as session:
            await _post(session, "/api/v1/namespaces/bench/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "bench-data", "namespace": NS},
                "data": {"conversations.jsonl": '{"prompt": "hi", "completion": "hello"}\n'}})
            log = (workdir / f"operator-{n}.log").open("w")
            env = {**os.environ, "KUBECONFIG": str(kubeconfig), "MOLTING_KUBERAY": "true"}
            operator = await asyncio.create_subprocess_exec(
                str(ROOT / ".venv" / "bin" / "molting"), "operator", "--namespace", NS,
                "--liveness-port", "18080", "--metrics-port", "19090",
                env=env, stdout=log, stderr=log)
            try:
                await _wait_healthy(session, operator)
                # One model first: the burst starts once the operator is watching, as it would
                # be on a cluster where it has been running for a while.
                await _post(session, "/apis/molting.dev/v1alpha1/namespaces/bench/moltingmodels",
                            model("warmup"))
                while "warmup" not in server.job_at:
                    await asyncio.sleep(0.05)
                del server.job_at["warmup"], server.model_at["warmup"]
                idle_mb = rss_mb(operator.pid)
                cpu_before, own_before = cpu_seconds(operator.pid), time.process_time()
                started = time.monotonic()
                posts = []
                for i in range(n):
                    if rate:  # paced: model i goes out at i / rate seconds
                        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                    posts.append(asyncio.create_task(_post(
                        session, "/apis/molting.dev/v1alpha1/namespaces/bench/moltingmodels",
                        model(f"m{i:04d}"))))
                await asyncio.gather(*posts)
                applied_s = time.monotonic() - started
                deadline = time.monotonic() + 300
                while len(server.job_at) < n and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                all_jobs_s = time.monotonic() - started
                operator_cpu = cpu_seconds(operator.pid) - cpu_before
                server_cpu = time.process_time() - own_before
                # Let the timers run (every model reconciles every 5 s) before reading the peak.
                cpu_before = cpu_seconds(operator.pid)
                await asyncio.sleep(settle_s)
                steady_cpu = (cpu_seconds(operator.pid) - cpu_before) / settle_s if settle_s else 0
                steady_mb = rss_mb(operator.pid)
                # Then a few models alone, with every other model still ticking: the reaction
                # time of an operator that is keeping up.
                single = []
                for i in range(5):
                    name = f"single{i}"
                    await _post(session, "/apis/molting.dev/v1alpha1/namespaces/bench/moltingmodels",
                                model(name))
                    while name not in server.job_at:
                        await asyncio.sleep(0.01)
                    single.append(server.job_at.pop(name) - server.model_at.pop(name))
                    await asyncio.sleep(0.5)
                peak_mb = peak_rss_mb(operator.pid)
            finally:
                operator.terminate()
                await operator.wait()
                log.close()
    latencies = [server.job_at[m] - server.model_at[m] for m in server.job_at]
    return {
        "models": n,
        "rate_per_s": rate or "burst",
        "jobs": len(latencies),
        "apply_burst_s": round(applied_s, 2),
        "all_jobs_s": round(all_jobs_s, 2),
        "apply_to_job_p50_s": round(percentile(latencies, 0.50), 3),
        "apply_to_job_p99_s": round(percentile(latencies, 0.99), 3),
        "apply_to_job_mean_s": round(statistics.fmean(latencies), 3),
        "single_apply_to_job_median_s": round(statistics.median(single), 3),
        "operator_cpu_s": round(operator_cpu, 2),
        "api_server_cpu_s": round(server_cpu, 2),
        "operator_steady_cpu_cores": round(steady_cpu, 3),
        "operator_idle_rss_mb": round(idle_mb, 1),
        "operator_steady_rss_mb": round(steady_mb, 1),
        "operator_peak_rss_mb": round(peak_mb, 1),
    }


async def _post(session: aiohttp.ClientSession, path: str, body: dict) -> None:
    async with session.post(path, json=body) as response:
        if response.status >= 400:
            raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")


async def _wait_healthy(session: aiohttp.ClientSession, operator: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if operator.returncode is not None:
            raise RuntimeError(f"the operator exited with {operator.returncode}")
        try:
            async with session.get("http://127.0.0.1:18080/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the operator did not become healthy in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds of timer-driven reconciles before the memory is read")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="apply this many models a second (default: all at once)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.models:
            load = os.getloadavg()[0]
            result = asyncio.run(run_once(n, args.settle, Path(tmp), args.rate))
            result["load_average_1m_before"] = round(load, 2)
            results.append(result)
            print(json.dumps(result), flush=True)
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                         f"{platform.python_version()}",
              "load_average_1m_after": round(os.getloadavg()[0], 2), "results": results}
    (OUT / "operator_scale.json").write_text(json.dumps(report, indent=2))
    print()
    print(f"{'models':>6} {'rate/s':>6} {'p50 apply→Job':>14} {'p99':>8} {'all Jobs':>9} "
          f"{'one alone':>10} {'peak RSS':>9} {'steady RSS':>11}")
    for r in results:
        print(f"{r['models']:>6} {r['rate_per_s']:>6} {r['apply_to_job_p50_s']:>13.3f}s {r['apply_to_job_p99_s']:>7.3f}s "
              f"{r['all_jobs_s']:>8.2f}s {r['single_apply_to_job_median_s']:>9.3f}s "
              f"{r['operator_peak_rss_mb']:>7.1f}MB "
              f"{r['operator_steady_rss_mb']:>9.1f}MB")


if __name__ == "__main__":
    main()
