"""Alembic environment for the case store.

Run only through storage.migrate, which hands over a connection already
inside a write transaction: the whole upgrade commits or none of it does,
and a second process upgrading at the same moment waits for the first.
"""

from alembic import context

from storage.tables import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("storage migrations run through storage.migrate, which supplies the connection")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite can alter tables only by copying them ("batch" mode).
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
