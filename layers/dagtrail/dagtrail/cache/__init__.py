"""Unchanged work is never recomputed: cache keys and the cache index."""

from dagtrail.cache.index import CacheEntry, CacheIndex
from dagtrail.cache.key import cache_key

__all__ = ["CacheEntry", "CacheIndex", "cache_key"]
