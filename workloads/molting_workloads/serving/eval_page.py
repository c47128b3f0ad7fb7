"""The rater's page at /eval: one static HTML document, no external assets, a little vanilla JS.

The page itself holds no data and no secret. It asks for the API key once (or takes it from a
``#key=...`` fragment, which browsers never send to the server) and keeps it in sessionStorage;
every API call sends it as ``Authorization: Bearer``. Server text is set with ``textContent``
only. URLs are relative, so the page works under any route prefix.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Molting: human evaluation</title>
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
  header, .row { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }
  #question { font-size: 1.15rem; font-weight: 600; margin: 1.25rem 0 .75rem; white-space: pre-wrap; }
  .answers { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
  .answer { border: 1px solid #bbb; border-radius: .4rem; padding: .75rem 1rem; min-height: 6rem; }
  .answer h2 { margin: 0 0 .5rem; font-size: 1rem; }
  .answer div { white-space: pre-wrap; }
  .votes { margin: 1rem 0; gap: 1rem; }
  button { font-size: 1rem; padding: .45rem 1rem; cursor: pointer; }
  #status { color: #555; min-height: 1.4em; }
  #status.error { color: #b00020; }
  table { border-collapse: collapse; margin-top: .5rem; }
  td, th { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <strong>Which answer is better?</strong>
  <label>Your name <input id="rater" maxlength="64" size="14" placeholder="optional"></label>
  <button id="forget-key" type="button">Forget key</button>
</header>
<form id="key-form" hidden>
  <p>This page needs the app's API key (kept in this tab only).</p>
  <input id="key" type="password" autocomplete="off" size="40" placeholder="API key">
  <button type="submit">Use key</button>
</form>
<main id="main" hidden>
  <form id="ask" class="row">
    <input id="own-question" maxlength="4000" size="60" placeholder="Type your own question, or leave empty for one of ours">
    <button id="next" type="submit">New pair</button>
  </form>
  <div id="question"></div>
  <div class="answers">
    <section class="answer"><h2>A</h2><div id="answer-A"></div></section>
    <section class="answer"><h2>B</h2><div id="answer-B"></div></section>
  </div>
  <div class="row votes">
    <button id="vote-A" type="button" disabled>A is better</button>
    <button id="vote-tie" type="button" disabled>Tie</button>
    <button id="vote-B" type="button" disabled>B is better</button>
  </div>
  <p id="status"></p>
  <p id="recorded"></p>
  <details id="results-box">
    <summary>Results so far</summary>
    <table id="results"><thead><tr><th>revision</th><th>wins</th><th>losses</th><th>ties</th>
      <th>win rate</th><th>95% interval</th></tr></thead><tbody></tbody></table>
    <p id="results-note"></p>
  </details>
</main>
<script>
(function () {
  "use strict";
  var KEY = "molting-eval-key", RATER = "molting-eval-rater";
  var $ = function (id) { return document.getElementById(id); };
  var token = null;

  var hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("key")) {
    sessionStorage.setItem(KEY, hash.get("key"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("rater").value = sessionStorage.getItem(RATER) || "";
  $("rater").addEventListener("change", function () { sessionStorage.setItem(RATER, $("rater").value.trim()); });

  function status(text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; }
  function voting(on) { ["vote-A", "vote-tie", "vote-B"].forEach(function (id) { $(id).disabled = !on; }); }

  function call(method, path, body) {
    var init = { method: method, headers: { "Authorization": "Bearer " + (sessionStorage.getItem(KEY) || "") } };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401) { askKey("The key was not accepted."); throw new Error("unauthorized"); }
        if (!r.ok) { throw new Error((data.error && data.error.message) || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  function askKey(why) { $("main").hidden = true; $("key-form").hidden = false; if (why) { status(why, true); } }

  function loadPair() {
    token = null; voting(false);
    var own = $("own-question").value.trim();
    $("question").textContent = ""; $("answer-A").textContent = ""; $("answer-B").textContent = "";
    status("Generating two answers...");
    call("GET", "v1/eval/pair" + (own ? "?question=" + encodeURIComponent(own) : "")).then(function (p) {
      $("question").textContent = p.question;
      $("answer-A").textContent = p.answers.A;
      $("answer-B").textContent = p.answers.B;
      token = p.token; voting(true); status("Pick the better answer, or a tie.");
    }).catch(function (e) { if (e.message !== "unauthorized") { status(e.message, true); } });
  }

  function vote(choice) {
    if (!token) { return; }
    voting(false);
    var rater = $("rater").value.trim();
    call("POST", "v1/eval/vote", { token: token, choice: choice, rater: rater || null }).then(function (r) {
      token = null; $("own-question").value = "";
      $("recorded").textContent = "Recorded your vote (" + r.votes + " votes so far).";
      $("recorded").dataset.votes = String(r.votes);
      loadResults(); loadPair();
    }).catch(function (e) { if (e.message !== "unauthorized") { status(e.message, true); voting(!!token); } });
  }

  function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%"; }
  function loadResults() {
    call("GET", "v1/eval/results").then(function (r) {
      var body = $("results").tBodies[0];
      body.textContent = "";
      r.revisions.forEach(function (row) {
        var tr = document.createElement("tr");
        tr.dataset.revision = row.revision;
        [row.revision, row.wins, row.losses, row.ties, pct(row.winRate), pct(row.low) + " - " + pct(row.high)]
          .forEach(function (v) { var td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td); });
        body.appendChild(tr);
      });
      $("results-note").textContent = r.votes + " votes, " + r.raters + " named raters; " + r.ties + "; " + r.interval + ".";
    }).catch(function () {});
  }

  $("key-form").addEventListener("submit", function (e) {
    e.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim()); $("key").value = "";
    $("key-form").hidden = true; $("main").hidden = false; status(""); loadPair(); loadResults();
  });
  $("forget-key").addEventListener("click", function () { sessionStorage.removeItem(KEY); askKey(); });
  $("ask").addEventListener("submit", function (e) { e.preventDefault(); loadPair(); });
  $("vote-A").addEventListener("click", function () { vote("A"); });
  $("vote-B").addEventListener("click", function () { vote("B"); });
  $("vote-tie").addEventListener("click", function () { vote("tie"); });
  $("results-box").addEventListener("toggle", loadResults);

  $("main").hidden = false;
  loadPair(); loadResults();
})();
</script>
</body>
</html>
"""
