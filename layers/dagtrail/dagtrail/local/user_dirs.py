"""Where local mode keeps what lives outside --workdir (the parse cache, the warm server).

Strings, not pathlib: the console script reads this before every run (local/warm_client.py).
"""

from __future__ import annotations

import os


def cache_home() -> str:
    """XDG_CACHE_HOME, else ~/.cache."""
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
