"""Serving benchmark on a local loopback Ray: the full HTTP path against a bare Generator call,
the ingress + filter overhead, tokens/s of mixed-adapter batches (50/50 over two adapters) vs one
adapter, failed requests while traffic moves (5 reweights and 1 full rollback under load), and
the adapter switch latency (cached and cold).

Every phase is bounded in count and time; nothing leaves 127.0.0.1. Figures are printed and
written to bench/out/serve_load.json; docs/performance.md ("Serving") records a run.

    .venv/bin/python bench/serve_load.py [--requests 300] [--concurrency 8] [--max-tokens 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.update(
    {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
)

import httpx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CACHE = Path(os.environ.get("MOLTING_CACHE", ROOT / ".molting" / "cache"))
MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
REVISIONS = ("rev-a", "rev-b", "rev-c")


def percentiles(samples_s: list[float]) -> dict:
    ordered = sorted(samples_s)
    if not ordered:
        return {"n": 0}

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))] * 1e3, 2)

    return {"n": len(ordered), "p50_ms": rank(0.5), "p99_ms": rank(0.99), "mean_ms": round(statistics.fmean(ordered) * 1e3, 2)}


# -- setup -------------------------------------------------------------------------------------


def make_model_and_adapters(work: Path) -> tuple[str, dict[str, str]]:
    """The tiny model (cached) and three LoRA adapters with random weights (the latency does not
    depend on what they learned)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from molting_workloads import model_loading
    from molting_workloads.tinymodel import ensure_tiny_model

    torch.set_num_threads(1)
    corpus = ROOT / "examples" / "data" / "corpus.jsonl"
    base = ensure_tiny_model(CACHE, corpus=corpus if corpus.exists() else None)
    adapters = {}
    for seed, revision in enumerate(REVISIONS, 1):
        path = work / revision
        if not (path / "adapter_config.json").exists():
            model, _ = model_loading.load_base(str(base), device="cpu")
            torch.manual_seed(seed)
            config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
            get_peft_model(model, config).save_pretrained(path)
        adapters[revision] = str(path)
    return str(base), adapters


def make_config(base: str, adapters: dict[str, str], max_tokens: int):
    from molting_workloads.contract.serve_config import validate_config

    return validate_config(
        {
            "name": "bench",
            "baseModel": base,
            "revisions": [
                {"revision": "rev-a", "adapter": adapters["rev-a"], "weight": 90},
                {"revision": "rev-b", "adapter": adapters["rev-b"], "weight": 10},
                {"revision": "rev-c", "adapter": adapters["rev-c"], "weight": 0},
            ],
            "generation": {"maxNewTokens": max_tokens},
            # Two cached adapters and three revisions: asking for each in turn is always cold.
            "maxAdaptersPerReplica": 2,
            "device": "cpu",
        }
    )


# -- load --------------------------------------------------------------------------------------


async def post_chat(client: httpx.AsyncClient, url: str, headers: dict, max_tokens: int,
                    failures: list[str]) -> bool:
    """One chat completion; a failure is recorded with its status or error, never raised."""
    try:
        r = await client.post(url + "/v1/chat/completions", headers=headers,
                              json={"messages": MESSAGES, "max_tokens": max_tokens})
    except httpx.HTTPError as error:
        failures.append(f"{type(error).__name__}: {error}")
        return False
    if r.status_code != 200:
        failures.append(f"{r.status_code} {r.text[:120]}")
        return False
    return True


async def http_load(url: str, n: int, concurrency: int, deadline_s: float, max_tokens: int,
                    headers: dict | None = None) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    stop_at = time.monotonic() + deadline_s
    remaining = iter(range(n))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in remaining:
            if time.monotonic() > stop_at:
                return
            t = time.perf_counter()
            ok = await post_chat(client, url, headers or {}, max_tokens, failures)
            if ok:
                latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return percentiles(latencies) | {"rps": round(len(latencies) / wall, 1), "failed": len(failures),
                                     "failures": failures[:5]}


async def bare_load(handle, revision: str, adapter: str, n: int, concurrency: int, deadline_s: float,
                    max_tokens: int) -> dict:
    payload = {"messages": MESSAGES, "adapter": adapter, "max_new_tokens": max_tokens, "temperature": 0.0,
               "top_p": 1.0, "seed": None}
    pinned = handle.options(multiplexed_model_id=revision)
    latencies: list[float] = []
    failed = 0
    stop_at = time.monotonic() + deadline_s
    remaining = iter(range(n))

    async def worker() -> None:
        nonlocal failed
        for _ in remaining:
            if time.monotonic() > stop_at:
                return
            t = time.perf_counter()
            result = await pinned.generate.remote(payload)
            if "error" in result:
                failed += 1
            else:
                latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return percentiles(latencies) | {"rps": round(len(latencies) / wall, 1), "failed": failed}


def filter_cost() -> dict:
    """The filter alone, in process, on a typical answer (strip + contains, as the ingress runs)."""
    from molting_workloads.language import MetaLanguage

    meta = MetaLanguage()
    text = ("Let me analyze this step by step. The sky looks blue because air scatters blue light "
            "more than red light. At sunset the light passes through more air, so the sky turns "
            "orange. I'll first check the details. Clouds are white because droplets scatter every "
            "colour equally.")
    samples = []
    for _ in range(2000):
        t = time.perf_counter()
        meta.strip(text)
        meta.contains(text)
        samples.append(time.perf_counter() - t)
    result = percentiles(samples)
    return {"n": result["n"], "p50_us": round(result["p50_ms"] * 1e3, 1), "p99_us": round(result["p99_ms"] * 1e3, 1)}


# -- phases ------------------------------------------------------------------------------------


def phase_paths(url: str, handle, adapters: dict[str, str], args) -> dict:
    """Full path vs bare Generator call, sequential (latency) and concurrent (throughput)."""
    pin = {"x-molting-revision": "rev-a"}
    asyncio.run(http_load(url, 20, 2, 30, args.max_tokens, pin))  # warm-up
    out = {}
    for label, concurrency in (("sequential", 1), ("concurrent", args.concurrency)):
        n = args.requests if concurrency > 1 else min(args.requests, 200)
        out[f"full_{label}"] = asyncio.run(http_load(url, n, concurrency, args.phase_s, args.max_tokens, pin))
        out[f"bare_{label}"] = asyncio.run(bare_load(handle, "rev-a", adapters["rev-a"], n, concurrency, args.phase_s, args.max_tokens))
    out["overhead_p50_ms"] = round(out["full_sequential"]["p50_ms"] - out["bare_sequential"]["p50_ms"], 2)
    out["rps_full_over_bare_concurrent"] = round(out["full_concurrent"]["rps"] / out["bare_concurrent"]["rps"], 3)
    out["http_floor_sequential"] = asyncio.run(http_get_load(url + "/healthz", min(args.requests, 200), args.phase_s))
    stats = httpx.get(url + "/stats", timeout=10).json()
    out["ingress_own_ms"] = {"p50": stats.get("ingressP50Ms"), "p99": stats.get("ingressP99Ms")}
    return out


async def http_get_load(url: str, n: int, deadline_s: float) -> dict:
    """Sequential GETs: the client + Serve proxy + ingress replica floor, no generation."""
    latencies = []
    stop_at = time.monotonic() + deadline_s
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(n):
            if time.monotonic() > stop_at:
                break
            t = time.perf_counter()
            r = await client.get(url)
            if r.status_code == 200:
                latencies.append(time.perf_counter() - t)
    return percentiles(latencies)


async def token_load(url: str, n: int, concurrency: int, deadline_s: float, max_tokens: int,
                     pins: list[str], count_tokens) -> dict:
    """``n`` requests pinned in turn to ``pins`` (a 50/50 split for two); answer tokens per second."""
    tokens, done, failures = 0, 0, []
    stop_at = time.monotonic() + deadline_s
    remaining = iter(range(n))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal tokens, done
        for i in remaining:
            if time.monotonic() > stop_at:
                return
            try:
                r = await client.post(url + "/v1/chat/completions", headers={"x-molting-revision": pins[i % len(pins)]},
                                      json={"messages": MESSAGES, "max_tokens": max_tokens})
            except httpx.HTTPError as error:
                failures.append(f"{type(error).__name__}: {error}")
                continue
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text[:120]}")
                continue
            tokens += count_tokens(r.json()["choices"][0]["message"]["content"])
            done += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {"requests": done, "tokens": tokens, "tokens_per_s": round(tokens / wall, 1),
            "rps": round(done / wall, 1), "failed": len(failures), "failures": failures[:5]}


def phase_mixed(url: str, base: str, args) -> dict:
    """Tokens/s at ``concurrency`` clients: a 50/50 split over two adapters vs one adapter, run
    interleaved twice (A B A B) so the machine's load drifts over both alike."""
    from molting_workloads import model_loading

    tokenizer = model_loading.load_tokenizer(base)

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    runs: dict[str, list[dict]] = {"one_adapter": [], "mixed_50_50": []}
    for _ in range(2):
        for label, pins in (("one_adapter", ["rev-a"]), ("mixed_50_50", ["rev-a", "rev-b"])):
            runs[label].append(asyncio.run(token_load(url, args.requests, args.concurrency, args.phase_s,
                                                      args.mixed_tokens, pins, count)))
    total = {label: sum(r["tokens_per_s"] for r in rs) / len(rs) for label, rs in runs.items()}
    return {"runs": runs, "mean_tokens_per_s": {k: round(v, 1) for k, v in total.items()},
            "mixed_over_one": round(total["mixed_50_50"] / total["one_adapter"], 3) if total["one_adapter"] else None}


def phase_reweights(cfg, url: str, args) -> dict:
    """Load from a thread while the weights move 5 times, then one full rollback."""
    import threading

    from molting_workloads.serving import local

    steps = [(75, 25), (50, 50), (25, 75), (10, 90), (0, 100)]
    completions: list[tuple[float, bool]] = []
    failures: list[str] = []
    stop = threading.Event()

    async def load() -> None:
        stop_at = time.monotonic() + args.reweight_s

        async def worker(n: int) -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                i = 0
                while not stop.is_set() and time.monotonic() < stop_at and len(completions) < args.reweight_max:
                    i += 1
                    ok = await post_chat(client, url, {"x-user-id": f"user-{n}-{i}"},
                                         args.max_tokens, failures)
                    completions.append((time.monotonic(), ok))

        await asyncio.gather(*(worker(n) for n in range(args.concurrency)))

    thread = threading.Thread(target=lambda: asyncio.run(load()), daemon=True)
    thread.start()
    time.sleep(2.0)
    applies = []
    for stable, canary in [*steps, (100, 0)]:
        t = time.perf_counter()
        local.deploy(cfg.with_weights({"rev-a": stable, "rev-b": canary}))
        applies.append(round(time.perf_counter() - t, 2))
        time.sleep(1.0)
    stop.set()
    thread.join(60)
    times = [t for t, _ in completions]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {
        "requests": len(completions),
        "failed": sum(not ok for _, ok in completions),
        "failures": failures[:5],
        "apply_s": applies,
        "longest_gap_s": round(max(gaps), 3) if gaps else None,
    }


def phase_adapter_switch(handle, adapters: dict[str, str], args) -> dict:
    """Bare Generator calls: alternating two cached adapters, then cycling three through a
    two-adapter cache (every call loads one: cold)."""
    def timed(sequence: list[str]) -> list[float]:
        samples = []
        for revision in sequence:
            payload = {"messages": MESSAGES, "adapter": adapters[revision], "max_new_tokens": 1,
                       "temperature": 0.0, "top_p": 1.0, "seed": None}
            t = time.perf_counter()
            result = handle.options(multiplexed_model_id=revision).generate.remote(payload).result()
            samples.append(time.perf_counter() - t)
            assert "error" not in result, result
        return samples

    n = min(args.switches, 200)
    timed(["rev-a", "rev-b"] * 3)
    cached = timed(["rev-a", "rev-b"] * (n // 2))
    same = timed(["rev-a"] * n)
    cold = timed(["rev-a", "rev-b", "rev-c"] * (n // 3))
    return {"same_adapter": percentiles(same), "switch_cached": percentiles(cached),
            "switch_cold": percentiles(cold)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per path measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--phase-s", type=float, default=90.0, help="time cap of each measurement")
    parser.add_argument("--reweight-s", type=float, default=120.0, help="time cap of the reweight load")
    parser.add_argument("--reweight-max", type=int, default=5000, help="request cap of the reweight load")
    parser.add_argument("--switches", type=int, default=60, help="calls per adapter-switch measurement")
    parser.add_argument("--ray-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the Ray processes (e.g. Serve tuning flags)")
    parser.add_argument("--mixed-tokens", type=int, default=16, help="max_tokens of the mixed-adapter phase")
    parser.add_argument("--phases", default="paths,mixed,reweights,switch", help="which phases to run")
    args = parser.parse_args()
    phases = set(args.phases.split(","))

    # Serve reads its flags at import: this driver keeps the defaults, the Ray processes that
    # ray.init starts below inherit --ray-env.
    from ray import serve

    from molting_workloads.contract.serve_config import GENERATOR
    from molting_workloads.serving import local

    os.environ.update(dict(kv.split("=", 1) for kv in args.ray_env))

    OUT.mkdir(parents=True, exist_ok=True)
    base, adapters = make_model_and_adapters(OUT / "adapters")
    cfg = make_config(base, adapters, args.max_tokens)
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
                    "settings": vars(args)}
    try:
        t = time.perf_counter()
        local.start_local_ray(num_cpus=2, log_to_driver=False)
        url = local.deploy(cfg)
        report["cold_start_s"] = round(time.perf_counter() - t, 1)
        handle = serve.get_deployment_handle(GENERATOR, app_name=cfg.name)
        report["filter_alone"] = filter_cost()
        if "paths" in phases:
            report["paths"] = phase_paths(url, handle, adapters, args)
        if "mixed" in phases:
            report["mixed"] = phase_mixed(url, base, args)
        if "reweights" in phases:
            report["reweights"] = phase_reweights(cfg, url, args)
        if "switch" in phases:
            report["adapter_switch"] = phase_adapter_switch(handle, adapters, args)
        report["engine"] = handle.engine_stats.remote().result()
    finally:
        local.shutdown()
    (OUT / "serve_load.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
