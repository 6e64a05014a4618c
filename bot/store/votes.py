"""The crowd's votes on debates: the :class:`~bot.core.records.VoteStore` on the database.

A vote is an upsert on (debate, member), so a member changing their vote replaces it, from any process.
Casting a vote reads the debate's row first, on PostgreSQL under a share lock: a deletion of the debate
(retention, ``/parley forget``) then waits for the vote, or the vote finds the debate gone; SQLite's write
transactions run one at a time anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.core.panel import persona_from_json
from bot.core.records import DebateStanding, NoSuchDebate
from bot.core.stances import Stance
from bot.store.records import Records
from bot.store.schema import debate_replies, debate_votes, debates


class Votes(Records):
    """Debate records, and each member's vote for a debate's most convincing persona."""

    async def cast_vote(self, debate_id: int, user_id: int, position: int) -> int | None:
        mine = (debate_votes.c.debate_id == debate_id, debate_votes.c.user_id == user_id)
        now = datetime.now(UTC)
        upsert = (
            self._database.insert(debate_votes)
            .values(debate_id=debate_id, user_id=user_id, position=position, voted_at=now)
            .on_conflict_do_update(
                index_elements=["debate_id", "user_id"], set_={"position": position, "voted_at": now}
            )
        )
        async with self._database.write() as connection:
            debate = select(debates.c.id).where(debates.c.id == debate_id).with_for_update(read=True)
            if (await connection.execute(debate)).first() is None:
                raise NoSuchDebate(debate_id)
            previous = (
                await connection.execute(select(debate_votes.c.position).where(*mine).with_for_update())
            ).scalar()
            await connection.execute(upsert)
        return None if previous is None else int(previous)

    async def vote_counts(self, debate_id: int) -> dict[int, int]:
        query = (
            select(debate_votes.c.position, func.count().label("votes"))
            .where(debate_votes.c.debate_id == debate_id)
            .group_by(debate_votes.c.position)
        )
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return {int(row.position): int(row.votes) for row in rows}

    async def debate_standing(self, debate_id: int) -> DebateStanding | None:
        debate = select(debates.c.guild_id, debates.c.panel, debates.c.language).where(
            debates.c.id == debate_id
        )
        stances = (
            select(debate_replies.c.position, debate_replies.c.stance)
            .where(debate_replies.c.debate_id == debate_id, debate_replies.c.stance.is_not(None))
            .order_by(debate_replies.c.round)
        )
        async with self._database.read() as connection:
            row = (await connection.execute(debate)).first()
            replies = (await connection.execute(stances)).all() if row is not None else []
        if row is None:
            return None
        panel = tuple(persona_from_json(persona) for persona in row.panel)
        final = {int(reply.position): Stance(reply.stance) for reply in replies}  # the last round wins
        return DebateStanding(
            guild_id=row.guild_id,
            panel=panel,
            stances=tuple(final.get(position) for position in range(len(panel))),
            language=row.language,
        )
