"""Operator scale benchmark: N MoltingModels applied at once, the time from each apply to its
training Job, and the operator's peak memory, against two API servers in one run, side by side:

* ``kmock``: the emulator of tests/integration/kopf/apiserver.py, in this process; times are
  taken by the emulator when it stores each model and each training Job;
* ``kube``: the real kube-apiserver + etcd of tests/kube/controlplane.py on 127.0.0.1; times
  are the API server's own, from its audit log (when it stored each model and each Job).

The operator runs as a real `molting operator` subprocess that finds the server through a
kubeconfig, as it would find a cluster. Peak RSS is the operator process's VmHWM. Figures are
printed and written to bench/out/operator_scale.json; docs/performance.md ("Operator") records
a run.

    .venv/bin/python bench/operator_scale.py [--models 100 500] [--servers kmock kube]
                                             [--settle 15] [--rate 0]

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
from datetime import datetime
from pathlib import Path

import aiohttp
import attrs
import kmock
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "tests" / "integration" / "kopf"))
sys.path.insert(0, str(ROOT / "tests" / "kube"))

import httpx  # noqa: E402
from apiserver import ApiServer  # noqa: E402
from controlplane import ControlPlane  # noqa: E402
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


class Kmock:
    """The emulator in this process; it stamps models and Jobs as it stores them."""

    name = "kmock"

    async def __aenter__(self) -> Kmock:
        self._server = TimedApiServer()
        await self._server.__aenter__()
        self._http = kmock.Server(self._server)
        http = await self._http.__aenter__()
        declare_resources(self._server)
        self.url = str(http.url).rstrip("/")
        self._session = aiohttp.ClientSession(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()
        await self._http.__aexit__(*exc)
        await self._server.__aexit__(*exc)

    def kubeconfig(self, workdir: Path) -> Path:
        path = workdir / "kubeconfig-kmock"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "bench",
            "clusters": [{"name": "bench", "cluster": {"server": self.url}}],
            "users": [{"name": "bench", "user": {"token": "bench"}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
        }))
        return path

    async def post(self, path: str, body: dict) -> None:
        async with self._session.post(path, json=body) as response:
            if response.status >= 400:
                raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")

    def stamps(self) -> tuple[dict[str, float], dict[str, float]]:
        return self._server.model_at, self._server.job_at

    def cpu_seconds(self) -> float:
        return time.process_time()


class Kube:
    """kube-apiserver + etcd on 127.0.0.1 (tests/kube/controlplane.py). Its audit log says
    when each model and each training Job was stored."""

    name = "kube"

    def __init__(self, workdir: Path) -> None:
        self.plane = ControlPlane(workdir / "kube")
        self._offset = 0
        self._model_at: dict[str, float] = {}
        self._job_at: dict[str, float] = {}

    async def __aenter__(self) -> Kube:
        self.plane.start()
        self.plane.kubectl("apply", "-f", str(ROOT / "charts" / "molting" / "crds" / "moltingmodel.yaml"),
                           "-f", str(ROOT / "tests" / "kube" / "data" / "rayservice-crd.yaml"))
        self.plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                           "crd/moltingmodels.molting.dev", "crd/rayservices.ray.io")
        self.plane.kubectl("create", "namespace", NS)
        self.plane.kubectl("create", "serviceaccount", "default", "-n", NS)
        self._client = httpx.AsyncClient(base_url=self.plane.url, verify=self.plane.ssl_context(),
                                         timeout=60, limits=httpx.Limits(max_connections=32))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()
        self.plane.stop()

    def kubeconfig(self, workdir: Path) -> Path:
        return self.plane.admin_kubeconfig

    async def post(self, path: str, body: dict) -> None:
        response = await self._client.post(path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")

    def stamps(self) -> tuple[dict[str, float], dict[str, float]]:
        """New creates from the audit log since the last call (read incrementally)."""
        with self.plane.audit_log.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            if event.get("verb") != "create" or (event.get("responseStatus") or {}).get("code") != 201:
                continue
            ref = event.get("objectRef") or {}
            at = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()
            if ref.get("resource") == "moltingmodels":
                self._model_at.setdefault(ref["name"], at)
            elif ref.get("resource") == "jobs" and ref.get("name", "").endswith("-train"):
                self._job_at.setdefault(ref["name"].split("-")[0], at)
        return self._model_at, self._job_at

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.popen.pid) for p in self.plane.processes.values())


async def run_once(server: Kmock | Kube, n: int, settle_s: float, workdir: Path,
                   rate: float = 0.0) -> dict:
    models = "/apis/molting.dev/v1alpha1/namespaces/bench/moltingmodels"
    async with server:
        kubeconfig = server.kubeconfig(workdir)
        await server.post("/api/v1/namespaces/bench/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "bench-data", "namespace": NS},
            "data": {"conversations.jsonl": '{"prompt": "hi", "completion": "hello"}\n'}})
        log = (workdir / f"operator-{server.name}-{n}.log").open("w")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "MOLTING_KUBERAY": "true"}
        operator = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "molting"), "operator", "--namespace", NS,
            "--liveness-port", "18080", "--metrics-port", "19090",
            env=env, stdout=log, stderr=log)

        async def job_of(name: str) -> float:
            while True:
                model_at, job_at = server.stamps()
                if name in job_at and name in model_at:
                    return job_at.pop(name) - model_at.pop(name)
                await asyncio.sleep(0.02 if server.name == "kmock" else 0.1)

        try:
            await _wait_healthy(operator)
            # One model first: the burst starts once the operator is watching, as it would
            # be on a cluster where it has been running for a while.
            await server.post(models, model("warmup"))
            await job_of("warmup")
            idle_mb = rss_mb(operator.pid)
            cpu_before, server_before = cpu_seconds(operator.pid), server.cpu_seconds()
            started = time.monotonic()
            posts = []
            for i in range(n):
                if rate:  # paced: model i goes out at i / rate seconds
                    await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                posts.append(asyncio.create_task(server.post(models, model(f"m{i:04d}"))))
            await asyncio.gather(*posts)
            applied_s = time.monotonic() - started
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                model_at, job_at = server.stamps()
                if sum(1 for m in job_at if m.startswith("m")) >= n:
                    break
                await asyncio.sleep(0.05 if server.name == "kmock" else 0.25)
            all_jobs_s = time.monotonic() - started
            model_at, job_at = server.stamps()
            latencies = [job_at[m] - model_at[m] for m in job_at if m in model_at and m.startswith("m")]
            operator_cpu = cpu_seconds(operator.pid) - cpu_before
            server_cpu = server.cpu_seconds() - server_before
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
                await server.post(models, model(name))
                single.append(await job_of(name))
                await asyncio.sleep(0.5)
            peak_mb = peak_rss_mb(operator.pid)
        finally:
            operator.terminate()
            await operator.wait()
            log.close()
    return {
        "server": server.name,
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


async def _wait_healthy(operator: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
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
    parser.add_argument("--servers", nargs="+", choices=["kmock", "kube"], default=["kmock", "kube"])
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds of timer-driven reconciles before the memory is read")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="apply this many models a second (default: all at once)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.models:
            for name in args.servers:
                load = os.getloadavg()[0]
                server = Kmock() if name == "kmock" else Kube(Path(tmp) / f"{name}-{n}")
                result = asyncio.run(run_once(server, n, args.settle, Path(tmp), args.rate))
                result["load_average_1m_before"] = round(load, 2)
                results.append(result)
                print(json.dumps(result), flush=True)
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                         f"{platform.python_version()}",
              "load_average_1m_after": round(os.getloadavg()[0], 2), "results": results}
    (OUT / "operator_scale.json").write_text(json.dumps(report, indent=2))
    print()
    print(f"{'server':>6} {'models':>6} {'rate/s':>6} {'p50 apply→Job':>14} {'p99':>8} "
          f"{'all Jobs':>9} {'one alone':>10} {'peak RSS':>9} {'steady RSS':>11} "
          f"{'op CPU':>7} {'API CPU':>8}")
    for r in results:
        print(f"{r['server']:>6} {r['models']:>6} {r['rate_per_s']:>6} "
              f"{r['apply_to_job_p50_s']:>13.3f}s {r['apply_to_job_p99_s']:>7.3f}s "
              f"{r['all_jobs_s']:>8.2f}s {r['single_apply_to_job_median_s']:>9.3f}s "
              f"{r['operator_peak_rss_mb']:>7.1f}MB {r['operator_steady_rss_mb']:>9.1f}MB "
              f"{r['operator_cpu_s']:>6.1f}s {r['api_server_cpu_s']:>7.1f}s")


if __name__ == "__main__":
    main()
