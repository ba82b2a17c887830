"""The application layer: use cases (commands), reads, history readers, and the composition root.

Entry points (api.http, api.web, api.cli) import from here; nothing here imports an entry point.
"""

from api.service.application import KaoheApp

__all__ = ["KaoheApp"]
