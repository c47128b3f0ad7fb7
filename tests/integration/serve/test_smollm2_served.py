"""The served app with a real instruct model loaded: the same Ray Serve app, redeployed on
SmolLM2-135M-Instruct with its cleaned-data adapter, answers through the OpenAI route in English
(and goes back to the tiny model afterwards, for the other serve tests)."""

from __future__ import annotations

import openai
import pytest
from servekit import API_KEY, AUTH, ServedApp

from molting_workloads.contract.serve_config import validate_config

pytestmark = pytest.mark.slow


def test_openai_route_answers_with_smollm2_loaded(app: ServedApp, smollm2_model_dir,
                                                  smollm2_adapters, client) -> None:
    base = app.base
    app.apply(validate_config({
        "name": base.name, "baseModel": str(smollm2_model_dir),
        "revisions": [{"revision": "smol-clean", "adapter": str(smollm2_adapters["clean"]),
                       "weight": 100}],
        "generation": {"maxNewTokens": 32, "temperature": 0.0},
        "maxPromptChars": base.max_prompt_chars, "maxTokensLimit": base.max_tokens_limit,
        "apiKeyFile": base.api_key_file, "device": "cpu", "maxBatchSize": 4,
    }))
    with openai.OpenAI(base_url=app.url + "/v1", api_key=API_KEY, timeout=120, max_retries=0) as oa:
        raw = oa.chat.completions.with_raw_response.create(
            model=base.name, messages=[{"role": "user", "content": "Why do cats purr?"}],
            max_tokens=32)
    completion = raw.parse()
    assert raw.headers["x-molting-revision"] == "smol-clean"
    answer = completion.choices[0].message.content
    words = answer.lower().split()
    assert len(words) >= 8, answer
    assert {"cat", "cats", "purr", "purring", "purrs"} & {w.strip(".,!?;:") for w in words}, answer
    assert sum(w in {"the", "a", "and", "is", "of", "to", "it", "they", "when"} for w in words) >= 2
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.model_extra["molting"]["revision"] == "smol-clean"
    models = client.get(app.url + "/v1/models", headers=AUTH).json()
    assert models["data"], models
