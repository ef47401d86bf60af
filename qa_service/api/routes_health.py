"""GET /healthz (alive), /readyz (models loaded, index reachable), /metrics (Prometheus)."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from qa_service.api.deps import Runtime, runtime
from qa_service.api.schemas import Health, Readiness

router = APIRouter(tags=["operations"])
log = logging.getLogger("qa_service.api")


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """The process is up and serving (says nothing about models or the index)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}})
async def readyz(rt: Runtime = Depends(runtime)) -> JSONResponse:
    """Ready to answer: models are loaded, the index answers a query and the model and the
    embedding model (model servers in openai mode) are reachable. 503 otherwise."""
    articles = None
    try:
        articles = await run_in_threadpool(rt.services.store.count_articles)
    except Exception as exc:  # e.g. the Chroma server is down: not ready, not an error of this request
        log.warning("index unreachable: %s", exc)
    warm = rt.services.warm
    model_reachable = warm and await run_in_threadpool(rt.services.generator.reachable)
    embedder_reachable = warm and await run_in_threadpool(rt.services.embedder.reachable)
    checks = {"models_loaded": warm, "index_reachable": articles is not None, "model_reachable": model_reachable,
              "embedder_reachable": embedder_reachable}
    ready = all(checks.values())
    body = Readiness(ready=ready, checks=checks, articles=articles,
                     queue={"waiting": rt.queue.waiting, "capacity": rt.queue.capacity, "busy": int(rt.queue.busy)})
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(rt: Runtime = Depends(runtime)) -> Response:
    """Prometheus text format."""
    return Response(rt.metrics.render(), media_type=rt.metrics.content_type)
