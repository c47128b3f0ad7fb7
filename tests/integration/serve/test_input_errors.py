"""Bad input gets a 4xx with an OpenAI-shaped JSON error naming the problem, and the server keeps
serving. An adapter that cannot load makes only its revision answer 503 (counted). Auth: every
route but /healthz needs the bearer token."""

from __future__ import annotations

import pytest
from servekit import AUTH, MAX_PROMPT_CHARS, MAX_TOKENS_LIMIT, QUESTION, ServedApp, delta

CHAT = "/v1/chat/completions"


def _post_raw(app: ServedApp, client, content: bytes, headers: dict | None = None):
    return client.post(
        app.url + CHAT, content=content,
        headers=AUTH | {"content-type": "application/json"} | (headers or {}),
    )


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        (b'{"messages": [', 400, None, "not valid JSON"),
        (b'["a list"]', 400, None, "JSON object"),
        (b'{"model": "x"}', 400, "messages", "Field required"),
        (b'{"messages": []}', 400, "messages", "at least 1"),
        (b'{"messages": [{"role": "wizard", "content": "hi"}]}', 400, "messages.0.role", "'system', 'user' or 'assistant'"),
        (b'{"messages": [{"role": "user"}]}', 400, "messages.0.content", "Field required"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}', 400, "max_tokens", f"between 1 and {MAX_TOKENS_LIMIT}"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000}', 400, "max_tokens", f"between 1 and {MAX_TOKENS_LIMIT}"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 9}', 400, "temperature", "less than or equal to 2"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "n": 3}', 400, "n", "less than or equal to 1"),
    ],
    ids=["malformed-json", "not-an-object", "missing-messages", "empty-messages", "unknown-role",
         "missing-content", "max-tokens-zero", "max-tokens-too-big", "temperature-too-high", "n-above-1"],
)
def test_bad_request_body_gets_a_json_error_naming_it(app: ServedApp, client, body, status, param, words):
    r = _post_raw(app, client, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["param"] == param
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_oversized_prompt_is_refused_and_the_server_keeps_serving(app: ServedApp, client):
    r = app.chat(client, messages=[{"role": "user", "content": "x" * (MAX_PROMPT_CHARS + 1)}])
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "prompt_too_long"
    huge = b'{"messages": [{"role": "user", "content": "' + b"y" * (MAX_PROMPT_CHARS * 7 + 70000) + b'"}]}'
    assert _post_raw(app, client, huge).status_code == 413
    assert app.chat(client).status_code == 200


def test_unknown_pinned_revision_is_404_naming_the_header(app: ServedApp, client):
    r = app.chat(client, headers={"x-molting-revision": "nope"})
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["param"] == "x-molting-revision" and "'nope'" in error["message"]
    assert app.chat(client).status_code == 200


def test_unknown_route_is_a_json_404(app: ServedApp, client):
    r = client.get(app.url + "/v1/nothing", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_broken_adapter_gives_503_for_its_revision_while_the_others_serve(app: ServedApp, client):
    before = app.stats().of("broken").user
    for _ in range(3):
        r = app.chat(client, headers={"x-molting-revision": "broken"})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "revision_unavailable"
        assert "adapter_config.json" in r.json()["error"]["message"]
        stream = app.chat(client, headers={"x-molting-revision": "broken"}, stream=True)
        assert stream.status_code == 503
    after = app.stats().of("broken").user
    assert delta(after, before, "errors") == 6
    assert delta(after, before, "unavailable") == 6
    assert app.chat(client, headers={"x-molting-revision": "stable"}).status_code == 200

    # With traffic on it, users routed there get 503 and everyone else is served.
    app.reweight(stable=50, broken=50)
    codes = {}
    for i in range(40):
        r = app.chat(client, headers={"x-user-id": f"u{i}"})
        codes.setdefault(r.headers.get("x-molting-revision") or r.json()["error"]["code"], set()).add(r.status_code)
    assert codes.get("stable") == {200}
    assert codes.get("revision_unavailable") == {503}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models", "/stats", "/metrics", "/v1/nothing"])
def test_auth_refuses_requests_without_the_right_token(app: ServedApp, client, path):
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic bW9sdGluZw=="},
                    {"authorization": "Bearer café".encode("latin-1")}):
        r = client.request("POST" if "chat" in path else "GET", app.url + path, headers=headers,
                           json={"messages": QUESTION})
        assert r.status_code == 401, (path, headers)
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer"


def test_healthz_is_open_and_the_token_lets_requests_in(app: ServedApp, client):
    assert client.get(app.url + "/healthz").status_code == 200
    assert client.get(app.url + "/v1/models", headers=AUTH).status_code == 200
    assert app.chat(client).status_code == 200
