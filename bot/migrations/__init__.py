"""Alembic migrations; run at start-up by :func:`bot.store.run_migrations`."""
