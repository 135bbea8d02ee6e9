from .helpers import started  # noqa: F401  (fixture)
