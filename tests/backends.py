"""The storage backends the API and durability suites run against (store/database.py)."""

BACKENDS = ("sqlite", "postgresql")
