"""Alembic migrations; run at start-up by :func:`bot.store.engine.run_migrations`."""
