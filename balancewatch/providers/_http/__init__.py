"""The providers' HTTP infrastructure (private): the one shared client (:mod:`.transport`:
httpx's types over aiohttp's pool), the one fetch path (:mod:`.fetch`) and a URL reader that
needs no httpx (:mod:`.url`). The only modules that import httpx, aiohttp and yarl."""
