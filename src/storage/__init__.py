"""One SQLAlchemy store shared by every feature: engine, sessions, tables, migrations."""

from src.storage.db import Store
from src.storage.tables import ApiKey, Base, Project, ProjectTag, Run

__all__ = ["ApiKey", "Base", "Project", "ProjectTag", "Run", "Store"]
