"""Alembic environment: Parley hands it an open connection (see ``bot.store.engine.run_migrations``)."""

from __future__ import annotations

from alembic import context

from bot.store.schema import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run Parley's migrations through bot.store.engine.run_migrations (the bot does at start-up)"
        )
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
