"""lazyqueue's core: models, store, registry, worker, events, queue facade.

Nothing here imports Textual or Rich.
"""
