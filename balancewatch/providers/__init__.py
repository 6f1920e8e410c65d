"""Balance providers: one module each, registered by name (see ``base.py``)."""

from balancewatch.providers import dhmad, http_json, oneclickdz, sunor, thedex
from balancewatch.providers.base import Provider, get_provider, registry

__all__ = [
    "Provider",
    "dhmad",
    "get_provider",
    "http_json",
    "oneclickdz",
    "registry",
    "sunor",
    "thedex",
]
