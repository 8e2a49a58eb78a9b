"""One page shape for every list: ``items``, ``total``, ``limit``, ``offset``."""

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

Limit = Annotated[int | None, Query(ge=1, le=200, description="Page size (default from settings).")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
