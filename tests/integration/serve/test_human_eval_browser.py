"""The human evaluation page in a real headless browser (Debian's chromium, driven by Selenium
through its chromedriver) against the real Serve app: the page asks for the key, shows a
question and two anonymised answers, a click on "A is better" and one on "Tie" land as votes,
and /v1/eval/results counts them under the revisions that wrote A and B (the votes file says
which, server-side).

Without chromium/chromedriver or Selenium the test skips and says how to get them
(`make browser-tools`); under CI (CI=true) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from servekit import API_KEY, AUTH, ServedApp

from molting_workloads.contract.serve_config import validate_config

QUESTION = "Why is the sky blue?"
WAIT_S = 90


def _missing(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI: {why}", pytrace=False)
    pytest.skip(why, allow_module_level=True)


# Checked at collection, before the session's Ray app starts for nothing.
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
except ImportError:
    _missing("selenium is not installed (the dev extra)")
if not CHROMIUM or not CHROMEDRIVER:
    _missing("no chromium/chromedriver: `make browser-tools` (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run", "--window-size=1200,900"):
        options.add_argument(arg)
    session = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    session.set_page_load_timeout(60)
    yield session
    session.quit()


def _results(client, app: ServedApp) -> dict[str, dict]:
    body = client.get(app.url + "/v1/eval/results", headers=AUTH).json()
    return {r["revision"]: r for r in body["revisions"]}


def _counts(rows: dict, revision: str) -> tuple[int, int, int]:
    row = rows.get(revision, {})
    return row.get("wins", 0), row.get("losses", 0), row.get("ties", 0)


def _last_vote(path) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return json.loads(path.read_text().splitlines()[-1])
        time.sleep(0.1)
    raise AssertionError(f"no vote in {path}")


def test_a_rater_votes_in_the_browser_and_the_results_count_it(app: ServedApp, client, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    votes = tmp_path / "votes.jsonl"
    app.apply(validate_config(app.base.to_wire() | {"humanEval": {
        "revisions": ["stable", "canary"], "questions": [QUESTION], "votesFile": str(votes), "maxNewTokens": 12,
    }}))
    assert client.get(app.url + "/v1/eval/results").status_code == 401  # the API needs the key
    before = _results(client, app)
    wait = WebDriverWait(browser, WAIT_S)

    browser.get(app.url + "/eval")  # no key yet: the page asks for it
    key = wait.until(lambda d: d.find_element(By.ID, "key") if d.find_element(By.ID, "key").is_displayed() else None)
    key.send_keys(API_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()

    def shown_pair(d):
        return d.find_element(By.ID, "vote-A").is_enabled() and d.find_element(By.ID, "question").text

    assert wait.until(shown_pair) == QUESTION
    shown = {letter: browser.find_element(By.ID, f"answer-{letter}").text for letter in "AB"}
    browser.find_element(By.ID, "rater").send_keys("ann")
    browser.find_element(By.ID, "vote-A").click()
    wait.until(lambda d: d.find_element(By.ID, "recorded").get_attribute("data-votes"))
    counted = int(browser.find_element(By.ID, "recorded").get_attribute("data-votes"))

    first = _last_vote(votes)
    assert (first["choice"], first["rater"], first["question"]) == ("A", "ann", QUESTION)
    assert {first["a"], first["b"]} == {"stable", "canary"} and first["winner"] == first["a"]
    # What the rater saw under A and B is what those revisions wrote (modulo the page's whitespace).
    assert shown["A"].split() == first["answers"][first["a"]].split()
    assert shown["B"].split() == first["answers"][first["b"]].split()

    wait.until(shown_pair)  # the next pair loads by itself
    browser.find_element(By.ID, "vote-tie").click()
    wait.until(lambda d: d.find_element(By.ID, "recorded").get_attribute("data-votes") == str(counted + 1))
    second = _last_vote(votes)
    assert (second["choice"], second["winner"], second["rater"]) == ("tie", None, "ann")  # the name stays

    after = _results(client, app)
    winner, loser = first["a"], first["b"]
    w0, l0, t0 = _counts(before, winner)
    assert _counts(after, winner) == (w0 + 1, l0, t0 + 1)
    w1, l1, t1 = _counts(before, loser)
    assert _counts(after, loser) == (w1, l1 + 1, t1 + 1)
    assert after[winner]["low"] < after[winner]["winRate"] < after[winner]["high"]

    # The page's own results table shows the same row (read in one script: the table re-renders).
    browser.find_element(By.CSS_SELECTOR, "#results-box summary").click()
    expected = [winner, str(w0 + 1), str(l0), str(t0 + 1)]
    row_cells = ("return Array.from(document.querySelectorAll('#results tr[data-revision=\"' + arguments[0]"
                 " + '\"] td')).map(function (td) { return td.textContent; });")
    wait.until(lambda d: d.execute_script(row_cells, winner)[:4] == expected)
