"""The read cache's versions: every order in which a read and writes can interleave keeps the newest."""

from __future__ import annotations

from bot.store.cache import VersionedCache

GUILD, OTHER = 1, 2


def make(now: list[float] | None = None) -> VersionedCache[str]:
    clock = now if now is not None else [0.0]
    return VersionedCache(ttl_s=10, clock=lambda: clock[0])


def test_a_read_is_served_until_its_ttl() -> None:
    now = [0.0]
    cache = make(now)
    assert cache.get(GUILD) is None
    assert cache.offer(GUILD, cache.version(GUILD), "read") == "read"
    now[0] = 9.9
    assert cache.get(GUILD) == "read"
    assert cache.get(OTHER) is None
    now[0] = 10.0
    assert cache.get(GUILD) is None


def test_a_read_begun_before_a_write_and_offered_after_it_is_not_kept() -> None:
    cache = make()
    version = cache.version(GUILD)
    ticket = cache.begin_write(GUILD)
    cache.end_write(GUILD, ticket, "written")
    assert cache.offer(GUILD, version, "older") == "older"
    assert cache.get(GUILD) == "written"


def test_a_read_begun_while_a_write_held_the_lock_is_not_kept_after_the_commit() -> None:
    cache = make()
    ticket = cache.begin_write(GUILD)
    version = cache.version(GUILD)  # the read may see the state before the commit
    cache.end_write(GUILD, ticket, "written")
    cache.offer(GUILD, version, "older")
    assert cache.get(GUILD) == "written"


def test_a_read_offered_before_the_write_ends_is_replaced_by_the_write() -> None:
    cache = make()
    ticket = cache.begin_write(GUILD)
    cache.offer(GUILD, cache.version(GUILD), "older")
    assert cache.get(GUILD) == "older"  # true until the write commits
    cache.end_write(GUILD, ticket, "written")
    assert cache.get(GUILD) == "written"


def test_a_write_that_ends_after_the_next_one_began_keeps_nothing_older_than_itself() -> None:
    cache = make()
    cache.offer(GUILD, cache.version(GUILD), "before both")
    first = cache.begin_write(GUILD)
    second = cache.begin_write(GUILD)  # took the lock after the first write committed
    assert cache.end_write(GUILD, first, "first") == "first"
    assert cache.get(GUILD) is None, "what was cached predates the first write"
    cache.end_write(GUILD, second, "second")
    assert cache.get(GUILD) == "second"


def test_a_write_that_ends_after_the_next_one_ended_leaves_the_newer_result() -> None:
    cache = make()
    first = cache.begin_write(GUILD)
    second = cache.begin_write(GUILD)
    cache.end_write(GUILD, second, "second")
    cache.end_write(GUILD, first, "first")
    assert cache.get(GUILD) == "second"


def test_a_read_begun_during_the_next_write_survives_the_previous_writes_late_end() -> None:
    cache = make()
    first = cache.begin_write(GUILD)
    second = cache.begin_write(GUILD)
    cache.offer(GUILD, cache.version(GUILD), "after the first commit")
    cache.end_write(GUILD, first, "first")
    assert cache.get(GUILD) == "after the first commit"
    cache.end_write(GUILD, second, "second")
    assert cache.get(GUILD) == "second"


def test_a_read_after_the_write_ended_is_kept() -> None:
    cache = make()
    cache.end_write(GUILD, cache.begin_write(GUILD), "written")
    cache.offer(GUILD, cache.version(GUILD), "read after")
    assert cache.get(GUILD) == "read after"


def test_servers_have_versions_of_their_own() -> None:
    cache = make()
    version = cache.version(OTHER)
    cache.end_write(GUILD, cache.begin_write(GUILD), "written")
    cache.offer(OTHER, version, "other's")
    assert (cache.get(GUILD), cache.get(OTHER)) == ("written", "other's")
