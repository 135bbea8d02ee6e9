"""Backend URLs: which ones are the cluster's, and how they are shown (password masked)."""

from __future__ import annotations

import re

SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_cluster_url(url: str | None) -> bool:
    return bool(url) and url.startswith(SCHEMES)


def mask(url: str) -> str:
    """The URL with its password replaced by ***: safe to print."""
    return re.sub(r"^([a-z+]+://[^:/@?#]*):[^@/?#]*@", r"\1:***@", url)


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy needs for psycopg 3."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def dbos_url(url: str) -> str:
    """The URL DBOS is given (it picks its own driver)."""
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    return url
