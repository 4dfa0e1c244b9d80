"""The video library: analysed videos kept with per-shot vectors, searched by words or example.

``Library`` (library.py) is the use case, over ``Analyzer`` for the analysis and a
``VectorEngine`` (engine.py) for where the vectors live: LanceDB on local disk by default
(lance.py). HTTP (``app/api/library.py``) is a thin adapter over it.
"""

from app.library.library import Library, LibraryVideo, SearchPage, SearchQuery

__all__ = ["Library", "LibraryVideo", "SearchPage", "SearchQuery"]
