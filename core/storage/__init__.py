"""Persistence for supportbot: SQLAlchemy tables, repositories, unit of work, migrations.

    engine = make_engine("sqlite:///./supportbot.db")   # or postgresql+psycopg://…
    upgrade("sqlite:///./supportbot.db")                 # safe at every start
    new_uow = unit_of_work_factory(engine)               # () -> UnitOfWork
    with new_uow() as uow: ...; uow.commit()

This is the only package that imports SQLAlchemy (DESIGN §2).
"""

from core.storage.engine import make_engine
from core.storage.migrate import current_revision, head_revision, upgrade
from core.storage.uow import SqlUnitOfWork, unit_of_work_factory

__all__ = [
    "SqlUnitOfWork",
    "current_revision",
    "head_revision",
    "make_engine",
    "unit_of_work_factory",
    "upgrade",
]
