"""Connecting to PostgreSQL, and every connection problem as one line."""

from __future__ import annotations

from .errors import ClusterError, ClusterUnreachable
from .url import mask, sqlalchemy_url


def make_engine(url: str, pool_size: int = 5):
    """A SQLAlchemy engine for `url`, checked once; ClusterError in one line if unusable."""
    import sqlalchemy as sa

    shown = mask(url)
    try:
        engine = sa.create_engine(
            sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True,
            connect_args={"connect_timeout": 5, "application_name": "lazyqueue"},
        )
    except Exception as exc:  # noqa: BLE001 - a malformed URL surfaces here
        raise ClusterError(f"bad backend URL {shown}: {_first_line(exc)} "
                           "(expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)") from None
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        raise ClusterUnreachable(f"cannot reach the cluster database {shown}: {_first_line(exc)} "
                                 "— is PostgreSQL running there, and may this user connect?") from None
    return engine


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    line = text[0] if text else exc.__class__.__name__
    return line.replace("connection failed: ", "")


def translate(exc: BaseException, url: str) -> ClusterError:
    """A database error met after connecting, as a ClusterError naming the (masked) URL."""
    return ClusterError(f"cluster database {mask(url)}: {_first_line(exc)}")


__all__ = ["make_engine", "translate", "ClusterError"]
