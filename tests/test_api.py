"`topo-r1 predict --model api:...` against a real OpenAI-compatible HTTP server of each test's own, on 127.0.0.1."
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from topo_r1.api import api_paths, predict_api, read_cache
from topo_r1.cli import main
from topo_r1.curriculum import easy_split

KEY = "sk-test-DO-NOT-LEAK-4242"
BOX = '<think>one gap</think><answer>[{"bbox_2d": %s, "type": "broken_connection"}]</answer>'

def ok(text, usage=(100, 20)):
    return 200, {"id": "c", "object": "chat.completion", "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

class Server:
    "A small OpenAI-compatible /v1/chat/completions; `reply(n, body)` scripts the n-th answer (1-based): (status, json) or 'die'."
    def __init__(self, reply):
        self.reply, self.bodies, self.auth, self.lock = reply, [], [], threading.Lock()
        outer = self
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.bodies.append(body); outer.auth.append(self.headers.get("Authorization")); n = len(outer.bodies)
                assert self.path == "/v1/chat/completions", self.path
                r = outer.reply(n, body)
                if r == "die": outer.stop(); return          # no answer: the connection drops, the port is closed
                status, payload = r
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status); self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
            def log_message(self, *a): pass
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True); self.thread.start()
    def stop(self):
        self.httpd.shutdown(); self.httpd.server_close()
    def __enter__(self): return self
    def __exit__(self, *a):
        if self.thread.is_alive(): self.stop()

@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return easy_split(tmp_path_factory.mktemp("api") / "easy", n_sft=4, n_rl=2, n_test=4, size=64)

@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("TOPO_R1_TEST_KEY", KEY); monkeypatch.delenv("OPENAI_API_KEY", raising=False)

def run(server, split, out, **kw):
    kw = {"api_key_env": "TOPO_R1_TEST_KEY", "backoff": 0.001, "progress": False, "concurrency": 2, **kw}
    return predict_api("api:test-model", split, out, base_url=server.url, **kw)

def preds(path): return [json.loads(l) for l in Path(path).read_text().splitlines()]
def manifest(path): return json.loads(api_paths(path)["manifest"].read_text())

def assert_no_key(*texts, folder=None):
    files = [p for p in Path(folder).rglob("*") if p.is_file()] if folder else []
    for t in list(texts) + [p.read_bytes().decode("utf-8", "replace") for p in files]: assert KEY not in t

@pytest.mark.parametrize("frame,written", [("pixels", [8, 8, 24, 24]), ("relative1000", [125, 125, 375, 375])])
def test_sends_the_kit_prompt_and_reads_boxes_in_mask_pixels(split, tmp_path, frame, written, capsys):
    with Server(lambda n, b: ok(BOX % written)) as s:
        f = run(s, split, tmp_path / "PRED.jsonl", box_frame=frame, view="pair")
    rows = preds(f)
    assert len(rows) == 4 == len(s.bodies)
    assert all(r["detections"] == [{"bbox_2d": [8.0, 8.0, 24.0, 24.0], "type": "broken_connection"}] and r["format_ok"] for r in rows)
    b = s.bodies[0]
    assert b["model"] == "test-model" and b["temperature"] == 0.0 and b["max_tokens"] == 1024
    assert [m["role"] for m in b["messages"]] == ["system", "user"] and "<answer>" in b["messages"][0]["content"]
    parts = b["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]          # the pair view: photo, mask
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in parts[:2])
    assert ("0 to 1000" in parts[2]["text"]) == (frame == "relative1000") == ("64×64" not in parts[2]["text"])
    assert set(s.auth) == {f"Bearer {KEY}"}
    m = manifest(f)
    assert (m["requests"], m["failures"], m["format_failures"], m["prompt_tokens"], m["completion_tokens"]) == (4, 0, 0, 400, 80)
    out = capsys.readouterr()
    assert_no_key(out.out, out.err, folder=tmp_path)

def test_a_429_is_retried_and_a_second_run_sends_nothing(split, tmp_path):
    reply = lambda n, b: (429, {"error": {"message": "slow down"}}) if n == 1 else ok(BOX % [8, 8, 24, 24])
    with Server(reply) as s:
        f = run(s, split, tmp_path / "PRED.jsonl", concurrency=1, view="overlay", temperature=0.7)
        assert len(s.bodies) == 5 and s.bodies[0] == s.bodies[1]                  # the same request, sent again
        assert len(s.bodies[0]["messages"][1]["content"]) == 2 and s.bodies[0]["temperature"] == 0.7
        m = manifest(f)
        assert (m["requests"], m["retries"], m["failures"], m["cached"]) == (5, 1, 0, 0)
        first = preds(f)
        run(s, split, f, concurrency=1, view="overlay", temperature=0.7)
        assert len(s.bodies) == 5 and preds(f) == first                          # all from the cache
        assert (manifest(f)["requests"], manifest(f)["cached"]) == (0, 4)
        run(s, split, f, concurrency=1, view="overlay", temperature=0.0)          # other sampling: other keys
        assert len(s.bodies) == 9
        run(s, split, f, limit=1, view="overlay", extra_body={"max_tokens": None, "temperature": None, "max_completion_tokens": 99})
        assert len(s.bodies) == 10 and {k for k in s.bodies[-1] if k != "messages"} == {"model", "max_completion_tokens"}

def test_a_timeout_is_retried(split, tmp_path):
    release = threading.Event()
    def reply(n, b):
        if n == 1: release.wait(30); return 500, {}       # no answer while the client waits for one
        return ok(BOX % [8, 8, 24, 24])
    with Server(reply) as s:
        try: f = run(s, split, tmp_path / "PRED.jsonl", concurrency=1, limit=1, timeout=0.3)
        finally: release.set()
    assert (manifest(f)["retries"], manifest(f)["failures"], preds(f)[0]["format_ok"]) == (1, 0, True)

def test_a_malformed_answer_is_a_format_failure_not_a_crash(split, tmp_path):
    replies = {1: ok("I think the mask looks fine."), 2: (200, {"unexpected": KEY}), 3: (200, "not json")}
    with Server(lambda n, b: replies.get(n, ok(BOX % [8, 8, 24, 24]))) as s:
        f = run(s, split, tmp_path / "PRED.jsonl", concurrency=1, max_retries=0)
    rows = preds(f)
    assert [r["format_ok"] for r in rows] == [False, False, False, True]
    assert rows[0]["detections"] == [] and "error" not in rows[0] and rows[1]["error"].startswith("not a chat completion")
    m = manifest(f)
    assert (m["format_failures"], m["failures"]) == (1, 2)
    assert len(read_cache(api_paths(f)["cache"])) == 2                            # only real answers are cached
    assert_no_key(folder=tmp_path)                                                # the echoed key is scrubbed

def test_a_server_that_dies_mid_run_is_resumed_from_the_cache(split, tmp_path):
    f = tmp_path / "PRED.jsonl"
    with Server(lambda n, b: "die" if n == 3 else ok(BOX % [8, 8, 24, 24])) as s:
        run(s, split, f, concurrency=1, max_retries=2)
    m = manifest(f)
    assert (m["failures"], len(read_cache(api_paths(f)["cache"]))) == (2, 2)
    assert [("error" in r) for r in preds(f)] == [False, False, True, True]
    sent_before = {json.dumps(b, sort_keys=True) for b in s.bodies[:2]}
    with Server(lambda n, b: ok(BOX % [8, 8, 24, 24])) as s2:
        run(s2, split, f, concurrency=2)
        assert len(s2.bodies) == 2 and not sent_before & {json.dumps(b, sort_keys=True) for b in s2.bodies}
        assert all(r["format_ok"] for r in preds(f)) and manifest(f)["cached"] == 2
        assert manifest(f)["prompt_tokens"] == 200 and manifest(f)["all_answers"]["prompt_tokens"] == 400
        run(s2, split, f)
        assert len(s2.bodies) == 2                                               # nothing sent twice

def test_shots_put_solved_examples_before_the_question(split, tmp_path):
    with Server(lambda n, b: ok(BOX % [8, 8, 24, 24])) as s:
        f = run(s, split, tmp_path / "PRED.jsonl", shots=2, limit=1)
        msgs = s.bodies[0]["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
        assert msgs[2]["content"].startswith("<think>") and "<answer>[" in msgs[2]["content"]
        assert len(manifest(f)["shots"]) == 2
        with pytest.raises(ValueError, match=r"has \d+ tokens, more than the limit of 100"):
            run(s, split, tmp_path / "P2.jsonl", shots=2, limit=1, max_prompt_tokens=100)
        assert len(s.bodies) == 1                                                 # refused before it was sent

def test_cli_missing_key_names_the_variable_and_a_wrong_key_stops(split, tmp_path, capsys):
    args = ["predict", "--model", "api:test-model", "--split", str(split), "--out", str(tmp_path / "PRED.jsonl")]
    assert main(args + ["--base-url", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and len(err.strip().splitlines()) == 1
    with Server(lambda n, b: (401, {"error": {"message": f"bad key {b and KEY}"}})) as s:   # a server that echoes the key
        assert main(args + ["--base-url", s.url, "--api-key-env", "TOPO_R1_TEST_KEY"]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "***" in err
    with Server(lambda n, b: ok(BOX % [8, 8, 24, 24])) as s:
        assert main(args + ["--base-url", s.url, "--api-key-env", "TOPO_R1_TEST_KEY", "--box-frame", "pixels",
                            "--sample", "--temperature", "0.5", "--max-new-tokens", "64", "--extra-body", '{"top_p": 0.9}']) == 0
        assert (s.bodies[0]["temperature"], s.bodies[0]["max_tokens"], s.bodies[0]["top_p"]) == (0.5, 64, 0.9)
    out = capsys.readouterr()
    assert "4 requests" in out.out
    assert_no_key(out.out, out.err, folder=tmp_path)

@pytest.mark.slow
def test_zero_shot_experiment_through_the_api(split, tmp_settings):
    "`topo-r1 run zero_shot -p model api:NAME -p base_url URL`: K = 0 and 1 side by side; the saved notebook holds no key."
    from topo_r1.experiments import run_experiment
    with Server(lambda n, b: ok(BOX % [8, 8, 24, 24])) as s:
        d = run_experiment("zero_shot", {"model": "api:test-model", "base_url": s.url, "api_key_env": "TOPO_R1_TEST_KEY",
                                         "split": str(split), "shots": [0, 1], "concurrency": 2}, progress=False)
    m = json.loads((d / "metrics.json").read_text())
    assert m["n"] == 4 and m["shots"]["1"]["api"]["requests"] == 4 and len(s.bodies) == 8
    assert sorted(len(b["messages"]) for b in s.bodies) == [2] * 4 + [4] * 4      # 1-shot: system, example, answer, question
    assert (d / "zero_shot.ipynb").is_file()
    assert_no_key(folder=d)
