"""GET /v1/sources: the sources of the indexed articles, to filter questions by."""
from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends

from qa_service.api.deps import Runtime, runtime
from qa_service.api.routes_articles import all_articles
from qa_service.api.schemas import SourceList, error_responses

router = APIRouter(prefix="/v1", tags=["articles"])


@router.get("/sources", response_model=SourceList, responses=error_responses(503))
def list_sources(rt: Runtime = Depends(runtime)) -> SourceList:
    """Each distinct source with its number of articles (the names `filters.sources` takes)."""
    counts = Counter(record.source for record in all_articles(rt.services.store))
    return SourceList(sources=[{"name": name, "articles": n} for name, n in sorted(counts.items())])
