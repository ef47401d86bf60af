"""The CLI end to end, as a user runs it: real models, real Chroma, a real `qa-service serve`.

Client mode must print what local mode prints for the same index. The two
modes cannot share one embedded Chroma (one writer process), so each gets a
data directory of its own and the same commands in the same order, starting
from an empty index: local mode runs first, then the server starts on its
empty directory and the client repeats the sequence. Every command runs in a
subprocess from this checkout, wrapped to report the modules it imported.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from processes import clean_env, free_port, running

from index.demo import demo_corpus_path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KEY = "cli-test-key"
# Answered right from the demo corpus (evals/gold/demo.jsonl, demo-048), from a sentence long
# enough to wrap at 80 columns.
QUESTION = "Who won the men's race at the Busan Harbour Marathon?"
ANSWER = "Daniel Kiprono"
NONSENSE = "zqxv wplk frobnitz quux?"  # matches nothing in the demo corpus: abstains without the model
MODELS = {"torch", "sentence_transformers", "llama_cpp", "chromadb"}
CHEESE = {
    "title": "Goat farmer wins gold at the Wexham Cheese Fair",
    "body": "The Wexham Cheese Fair gave its gold medal on Saturday to Marta Quill, a goat farmer from Ashby, "
            "for a smoked blue cheese she ripens in a disused railway tunnel.",
    "url": "https://news.example.org/wexham-cheese-fair",
    "published_at": "2025-09-20",
}

# Runs the CLI as the console script does and, at exit, writes the names of the
# modules it imported and where our packages came from (--help imports no qa_service).
_WRAPPER = """
import atexit, json, sys
path = sys.argv.pop(1)
atexit.register(lambda: open(path, "w").write(json.dumps(
    {"modules": sorted(sys.modules),
     "ours": [sys.modules[p].__file__ for p in ("cli", "qa_service") if p in sys.modules]})))
from cli.main import app
app(prog_name="qa-service")
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    modules: set[str]

    def json(self):
        return json.loads(self.stdout)


def cli(tmp: Path, *args: str, **env: str) -> Run:
    report = tmp / f"modules-{len(list(tmp.glob('modules-*')))}.json"
    done = subprocess.run([sys.executable, "-c", _WRAPPER, str(report), *args], capture_output=True, text=True,
                          timeout=900, cwd=tmp,
                          env=clean_env(PYTHONPATH=str(ROOT), QA_LLM_THREADS="1", COLUMNS="80", **env))
    imported = json.loads(report.read_text())
    assert all(Path(f).is_relative_to(ROOT) for f in imported["ours"]), "the CLI must run this checkout's code"
    return Run(done.returncode, done.stdout, done.stderr, set(imported["modules"]))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The demo corpus, one more article (deleted later) and a file that cannot be read."""
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copytree(demo_corpus_path(), folder / "demo")
    (folder / "cheese.json").write_text(json.dumps(CHEESE))
    (folder / "broken.json").write_text('{"title": "x", ')
    return folder


def sequence(tmp: Path, corpus: Path, **env: str) -> dict[str, Run]:
    """The same commands in both modes; the article deleted is the one added from cheese.json."""
    runs = {"ingest": cli(tmp, "ingest", str(corpus), "--json", **env),
            "list": cli(tmp, "articles", "list", "--json", **env)}
    cheese = next(a["id"] for a in runs["list"].json()["articles"] if a["title"] == CHEESE["title"])
    runs["show"] = cli(tmp, "articles", "show", cheese, "--json", **env)
    runs["search"] = cli(tmp, "search", QUESTION, "--json", "--verbose", **env)
    runs["ask"] = cli(tmp, "ask", QUESTION, "--json", **env)
    runs["delete"] = cli(tmp, "articles", "delete", cheese, **env)
    runs["list after delete"] = cli(tmp, "articles", "list", "--json", **env)
    return runs


@pytest.fixture(scope="module")
def local_data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("local-data")


@pytest.fixture(scope="module")
def local(tmp_path_factory, corpus, local_data) -> dict[str, Run]:
    return sequence(tmp_path_factory.mktemp("local-runs"), corpus, QA_DATA_DIR=str(local_data))


@pytest.fixture(scope="module")
def server(tmp_path_factory, local) -> str:
    """A real `qa-service serve` with an API key, on an empty index, started after local mode is done."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"PYTHONPATH": str(ROOT), "QA_LLM_THREADS": "1", "QA_API_KEY": KEY,
           "QA_DATA_DIR": str(tmp_path_factory.mktemp("server-data"))}
    with running([sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                 f"{url}/readyz", timeout_s=300, env=env):
        yield url


@pytest.fixture(scope="module")
def client_env(server, tmp_path_factory) -> dict[str, str]:
    # A data directory that must stay untouched: client mode opens no local index.
    return {"QA_SERVER_URL": server, "QA_API_KEY": KEY,
            "QA_DATA_DIR": str(tmp_path_factory.mktemp("client") / "never-created")}


@pytest.fixture(scope="module")
def client(tmp_path_factory, corpus, client_env) -> dict[str, Run]:
    return sequence(tmp_path_factory.mktemp("client-runs"), corpus, **client_env)


def test_client_mode_prints_the_json_of_local_mode(local, client):
    for step in ("ingest", "list", "show", "search", "ask", "delete", "list after delete"):
        assert client[step].code == local[step].code, (step, client[step].stderr, local[step].stderr)
    assert local["ingest"].code == 1, "broken.json failed, so the exit status says so"
    ingested = local["ingest"].json()
    assert (ingested["added"], [Path(f["name"]).name for f in ingested["failed"]]) == (11, ["broken.json"])
    assert local["ask"].code == 0 and not local["ask"].json()["abstained"]
    assert local["ask"].json()["answer"].startswith(ANSWER + " [1]")
    for step in ("ingest", "list", "show", "search", "list after delete"):
        assert client[step].json() == local[step].json(), step
    # Timings are wall-clock measurements of two different processes; everything else must match.
    answers = [{k: v for k, v in run.json().items() if k != "timings_ms"} for run in (local["ask"], client["ask"])]
    assert answers[0] == answers[1]
    assert client["delete"].stdout == local["delete"].stdout
    assert len(local["list after delete"].json()["articles"]) == 10


def test_client_mode_loads_no_model_and_no_index(client, client_env):
    for step, run in client.items():
        assert not run.modules & MODELS, (step, run.modules & MODELS)
    assert not Path(client_env["QA_DATA_DIR"]).exists()


def test_help_and_listing_start_without_the_models(local, tmp_path):
    shown = cli(tmp_path, "--help")
    assert shown.code == 0 and "search" in shown.stdout
    assert not shown.modules & MODELS
    assert not local["list"].modules & {"torch", "llama_cpp", "sentence_transformers"}
    assert "llama_cpp" not in local["search"].modules and "torch" in local["search"].modules


def test_default_ask_writes_nothing_to_stderr(local, client):
    """No progress bars, no llama.cpp or transformers logs: the answer is all there is."""
    assert local["ask"].stderr == ""
    assert client["ask"].stderr == ""


def test_verbose_ends_with_who_answered(local, local_data, client, server):
    assert local["search"].stderr.splitlines()[-1] == f"answered by this process (index {local_data / 'chroma'})"
    assert client["search"].stderr.splitlines()[-1] == f"answered by the server at {server}"


def test_client_ingest_sends_batches_within_the_limit(tmp_path, client, client_env, corpus):
    again = cli(tmp_path, "ingest", str(corpus), "--json", **client_env, QA_MAX_BATCH_ARTICLES="4")
    assert again.code == 1, again.stderr  # broken.json, as before
    report, first = again.json(), client["ingest"].json()
    assert report["article_ids"] == first["article_ids"] and report["failed"] == first["failed"]
    assert (report["added"], report["unchanged"]) == (1, 10)  # cheese.json was deleted since


def test_abstaining_exits_with_3(tmp_path, client_env):
    run = cli(tmp_path, "ask", NONSENSE, **client_env)
    assert run.code == 3
    assert run.stdout.startswith("The indexed articles do not answer this question.")
    assert "Nearest passages:" in run.stdout


def test_answer_text_wraps_quotes_with_a_hanging_indent(tmp_path, client_env):
    run = cli(tmp_path, "ask", QUESTION, **client_env)
    assert run.code == 0
    lines = run.stdout.splitlines()
    assert lines[0] == f"{ANSWER} [1]" and lines[2] == "Sources:"  # the short answer, then its sources
    assert all(len(line) <= 80 for line in lines if "://" not in line)
    first = next(i for i, line in enumerate(lines) if line.startswith('      "'))
    last = next(i for i in range(first, len(lines)) if lines[i].endswith('"'))
    assert last > first, "the quote is long enough to wrap at 80 columns"
    assert all(line.startswith("       ") and line[7] != " " for line in lines[first + 1:last + 1])


def test_client_errors_are_one_line_with_what_to_do(tmp_path, client_env):
    down = f"http://127.0.0.1:{free_port()}"
    unreachable = cli(tmp_path, "ask", QUESTION, QA_SERVER_URL=down)
    assert unreachable.code == 1 and len(unreachable.stderr.splitlines()) == 1
    assert down in unreachable.stderr and "unset QA_SERVER_URL" in unreachable.stderr
    assert "qa-service serve" in unreachable.stderr

    no_key = cli(tmp_path, "articles", "list", **(client_env | {"QA_API_KEY": ""}))
    assert no_key.code == 1 and "QA_API_KEY" in no_key.stderr and len(no_key.stderr.splitlines()) == 1

    missing = cli(tmp_path, "articles", "show", "no-such-id", **client_env)
    assert missing.code == 1 and "no-such-id" in missing.stderr

    bad_url = cli(tmp_path, "articles", "list", QA_SERVER_URL="localhost:8000")
    assert bad_url.code == 1 and "QA_SERVER_URL" in bad_url.stderr and "http://" in bad_url.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["ask", "   "], "question must not be empty"),
    (["ask", QUESTION, "--as-of", "2025-13-01"], "--as-of must be a date YYYY-MM-DD"),
    (["ask", QUESTION, "--top-k", "0"], "--top-k"),
    (["search", QUESTION, "--server", "ftp://example.org"], "--server must be an http"),
    (["search", QUESTION, "--server", "http://127.0.0.1:9", "--local"], "--server or --local"),
    (["ingest"], "at least one PATH"),
])
def test_bad_input_is_refused_before_any_model_loads(tmp_path, args, says):
    run = cli(tmp_path, *args, QA_DATA_DIR=str(tmp_path / "data"))
    assert run.code == 2, run.stderr
    assert says in " ".join(run.stderr.replace("│", " ").split())
    assert not run.modules & MODELS
