"""The demo news site: synthetic pages served on 127.0.0.1, for `make demo`, tests and benchmarks."""

from .server import DemoServer, Fault, Faults, RequestRecord, serve_forever
from .site import DemoArticle, DemoSite

__all__ = ["DemoArticle", "DemoServer", "DemoSite", "Fault", "Faults", "RequestRecord", "serve_forever"]
