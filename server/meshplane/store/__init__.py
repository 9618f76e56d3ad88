"""The only package that runs SQL. See resources.py for the one write door."""

from meshplane.store.database import migrate
from meshplane.store.resources import ImportItem, Record, ResourceStore, Revision, Written, request_digest

__all__ = ["ImportItem", "Record", "ResourceStore", "Revision", "Written", "migrate", "request_digest"]
