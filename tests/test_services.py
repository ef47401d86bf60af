"""The container: building it loads and opens nothing; warm_up() loads; close() releases.

Run in a fresh interpreter, so that "not imported yet" means something: the
test session has long imported torch and llama.cpp for its shared models.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Loads the real models or starts servers: not part of `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

LIFECYCLE = textwrap.dedent("""
    import sys
    from pathlib import Path

    from qa_service.services import Services
    from qa_service.settings import Settings

    HEAVY = ("torch", "sentence_transformers", "llama_cpp", "chromadb", "spacy")
    data = Path(sys.argv[1])
    services = Services(Settings(data_dir=data, llm_backend="llama_cpp"))
    embedder, generator = services.embedder, services.generator
    assert not [m for m in HEAVY if m in sys.modules], [m for m in HEAVY if m in sys.modules]
    assert not data.exists(), "building the container touched the data directory"
    assert not services.warm

    services.warm_up()
    assert services.warm and generator._llm is not None and embedder._model is not None
    assert services.answerer._primed and generator._prefix_tokens
    from index import analysis
    assert analysis.splitter.cache_info().currsize == analysis.reader.cache_info().currsize == 1
    query_thread = embedder._query_thread

    variant = services.variant(top_k=2)
    assert variant.settings.top_k == 2 and variant.embedder is embedder and variant.generator is generator
    variant.close()  # it shares the models: they stay loaded
    assert generator._llm is not None and embedder._model is not None

    client = services.store.client
    services.close()
    assert not services.warm
    assert generator._llm is None and embedder._model is None and embedder._query_thread is None
    assert query_thread._shutdown and client._closed
    print("ok")
""")


def test_building_loads_nothing_and_close_releases_what_warm_up_loaded(tmp_path):
    done = subprocess.run([sys.executable, "-c", LIFECYCLE, str(tmp_path / "data")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "HF_HUB_OFFLINE": "1",
                               "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
