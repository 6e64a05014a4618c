"""Debate records and daily token usage: the :class:`~bot.core.records.DebateStore` on the database."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.continuations import ChainFull, ContinuationKind, RoundTaken
from bot.core.debate import DebateStats, PersonaFailure, PersonaReply
from bot.core.panel import persona_from_json, persona_json
from bot.core.personas import Persona
from bot.core.records import (
    DebateStatus,
    DebateSummary,
    Judging,
    StoredDebate,
    StoredReply,
    UnfinishedDebate,
)
from bot.core.stances import Stance
from bot.store.engine import Database
from bot.store.schema import debate_replies, debates, token_usage


class Records:
    """Every debate as it runs (each reply kept as it arrives), and each server's tokens per day."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # -- debates ----------------------------------------------------------------------------------

    async def begin_debate(
        self,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        question: str,
        panel: tuple[Persona, ...],
        run_id: str | None = None,
        rounds: int = 1,
        language: str | None = None,
    ) -> int:
        async with self._database.write() as connection:
            result = await connection.execute(
                insert(debates)
                .returning(debates.c.id)
                .values(
                    guild_id=guild_id,
                    channel_id=channel_id,
                    user_id=user_id,
                    question=question,
                    panel=[persona_json(persona) for persona in panel],
                    status=DebateStatus.RUNNING.value,
                    started_at=datetime.now(UTC),
                    run_id=run_id,
                    rounds=rounds,
                    language=language,
                )
            )
        return int(result.scalar_one())

    async def begin_continuation(
        self,
        parent_id: int,
        kind: str,
        *,
        user_id: int,
        question: str,
        run_id: str | None = None,
        rounds: int = 1,
        limit: int,
        language: str | None = None,
    ) -> int:
        async with self._database.write() as connection:
            # The root's row, locked (PostgreSQL; SQLite's writes are serial), makes the count and the
            # claim below one step for every continuation of the chain, whichever process asks.
            parent = (
                await connection.execute(select(debates).where(debates.c.id == parent_id).with_for_update())
            ).one()
            root_id = parent.root_id or parent.id
            if root_id != parent.id:
                await connection.execute(
                    select(debates.c.id).where(debates.c.id == root_id).with_for_update()
                )
            if kind == ContinuationKind.ROUND and parent.next_round_id is not None:
                raise RoundTaken(await _end_of_rounds(connection, parent_id))
            count = (
                await connection.execute(
                    select(func.count()).select_from(debates).where(debates.c.root_id == root_id)
                )
            ).scalar_one()
            if count >= limit:
                raise ChainFull()
            result = await connection.execute(
                insert(debates)
                .returning(debates.c.id)
                .values(
                    guild_id=parent.guild_id,
                    channel_id=parent.channel_id,
                    user_id=user_id,
                    question=question,
                    panel=parent.panel,
                    status=DebateStatus.RUNNING.value,
                    started_at=datetime.now(UTC),
                    run_id=run_id,
                    rounds=rounds,
                    continues_id=parent_id,
                    root_id=root_id,
                    kind=kind,
                    language=language,
                )
            )
            record = int(result.scalar_one())
            if kind == ContinuationKind.ROUND:
                claimed = await connection.execute(
                    update(debates)
                    .where(debates.c.id == parent_id, debates.c.next_round_id.is_(None))
                    .values(next_round_id=record)
                )
                if claimed.rowcount != 1:  # pragma: no cover - the lock above makes this unreachable
                    raise RoundTaken(await _end_of_rounds(connection, parent_id))
        return record

    async def count_continuations(self, debate_id: int) -> int:
        async with self._database.read() as connection:
            row = (
                await connection.execute(
                    select(debates.c.id, debates.c.root_id).where(debates.c.id == debate_id)
                )
            ).first()
            if row is None:
                return 0
            query = (
                select(func.count()).select_from(debates).where(debates.c.root_id == (row.root_id or row.id))
            )
            return int((await connection.execute(query)).scalar_one())

    async def release_round(self, parent_id: int, round_id: int) -> None:
        async with self._database.write() as connection:
            await connection.execute(
                update(debates)
                .where(debates.c.id == parent_id, debates.c.next_round_id == round_id)
                .values(next_round_id=None)
            )

    async def latest_round(self, debate_id: int) -> DebateSummary | None:
        async with self._database.read() as connection:
            latest = await _end_of_rounds(connection, debate_id)
            row = (await connection.execute(select(*_SUMMARY_COLUMNS).where(debates.c.id == latest))).first()
        return None if row is None else _summary(row)

    async def debate_chain(self, debate_id: int) -> list[StoredDebate]:
        chain: list[StoredDebate] = []
        next_id: int | None = debate_id
        while next_id is not None and len(chain) <= MAX_CHAIN:
            debate = await self.stored_debate(next_id)
            if debate is None:
                break
            chain.append(debate)
            next_id = debate.summary.continues_id
        return chain[::-1]

    async def locate_debate(
        self, debate_id: int, *, status_message_id: int, posts_channel_id: int | None
    ) -> None:
        async with self._database.write() as connection:
            await connection.execute(
                update(debates)
                .where(debates.c.id == debate_id)
                .values(status_message_id=status_message_id, posts_channel_id=posts_channel_id)
            )

    async def record_reply(
        self,
        debate_id: int,
        position: int,
        persona: Persona,
        outcome: PersonaReply | PersonaFailure,
        round_number: int = 1,
    ) -> None:
        reply = outcome if isinstance(outcome, PersonaReply) else None
        async with self._database.write() as connection:
            await connection.execute(
                insert(debate_replies).values(
                    debate_id=debate_id,
                    round=round_number,
                    position=position,
                    persona=persona.name,
                    text=reply.text if reply else None,
                    failure=outcome.reason if isinstance(outcome, PersonaFailure) else None,
                    cut_off=bool(reply and reply.cut_off),
                    latency_s=outcome.latency_s,
                    tokens=outcome.usage.total,
                    stance=reply.stance.value if reply else None,
                    confidence=reply.confidence if reply else None,
                    key_claim=reply.key_claim if reply else None,
                )
            )

    async def end_debate(
        self,
        debate_id: int,
        status: DebateStatus,
        outcome: str,
        *,
        verdict: str | None,
        stats: DebateStats | None,
        judging: Judging | None = None,
    ) -> None:
        figures: dict[str, object] = (
            {}
            if stats is None
            else {
                "wall_s": stats.wall_s,
                "persona_sum_s": stats.persona_sum_s,
                "verdict_s": stats.verdict_s,
                "tokens": stats.usage.total,
            }
        )
        if judging is not None:
            figures.update(verdict_model=judging.model, judge_order=list(judging.order))
        async with self._database.write() as connection:
            await connection.execute(
                update(debates)
                .where(debates.c.id == debate_id)
                .values(
                    status=status.value,
                    outcome=outcome,
                    verdict=verdict,
                    finished_at=datetime.now(UTC),
                    **figures,
                )
            )

    async def unfinished_debates(self, *, not_of_run: str | None = None) -> list[UnfinishedDebate]:
        answered = (
            select(func.count(func.distinct(debate_replies.c.position)))
            .select_from(debate_replies)
            .where(debate_replies.c.debate_id == debates.c.id)
            .scalar_subquery()
        )
        query = select(debates, answered.label("answered")).where(
            debates.c.status == DebateStatus.RUNNING.value
        )
        if not_of_run is not None:
            query = query.where(or_(debates.c.run_id.is_(None), debates.c.run_id != not_of_run))
        async with self._database.read() as connection:
            rows = (await connection.execute(query.order_by(debates.c.id))).all()
        return [
            UnfinishedDebate(
                id=row.id,
                guild_id=row.guild_id,
                channel_id=row.channel_id,
                status_message_id=row.status_message_id,
                posts_channel_id=row.posts_channel_id,
                question=row.question,
                panel=tuple(persona_from_json(persona) for persona in row.panel),
                answered=row.answered,
                continues_id=row.continues_id,
            )
            for row in rows
        ]

    async def debate_replies(self, debate_id: int) -> list[StoredReply]:
        query = (
            select(debate_replies)
            .where(debate_replies.c.debate_id == debate_id)
            .order_by(debate_replies.c.round, debate_replies.c.position)
        )
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return [_stored_reply(row) for row in rows]

    async def debate_judging(self, debate_id: int) -> Judging | None:
        query = select(debates.c.verdict_model, debates.c.judge_order).where(debates.c.id == debate_id)
        async with self._database.read() as connection:
            row = (await connection.execute(query)).first()
        if row is None or row.verdict_model is None or row.judge_order is None:
            return None
        return Judging(row.verdict_model, tuple(row.judge_order))

    async def debate_status(self, debate_id: int) -> DebateStatus | None:
        async with self._database.read() as connection:
            value = (
                await connection.execute(select(debates.c.status).where(debates.c.id == debate_id))
            ).scalar()
        return None if value is None else DebateStatus(value)

    async def debate_tokens(self, debate_id: int) -> int:
        query = select(func.coalesce(func.sum(debate_replies.c.tokens), 0)).where(
            debate_replies.c.debate_id == debate_id
        )
        async with self._database.read() as connection:
            return int((await connection.execute(query)).scalar_one())

    # -- history ----------------------------------------------------------------------------------

    async def debate_channels(self, guild_id: int) -> set[int]:
        query = select(debates.c.channel_id).where(debates.c.guild_id == guild_id).distinct()
        async with self._database.read() as connection:
            return set((await connection.execute(query)).scalars().all())

    async def count_debates(self, guild_id: int, *, channel_ids: Collection[int] | None = None) -> int:
        query = select(func.count()).select_from(debates).where(*_in_guild(guild_id, channel_ids))
        async with self._database.read() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def debate_summaries(
        self,
        guild_id: int,
        *,
        channel_ids: Collection[int] | None = None,
        limit: int,
        offset: int = 0,
        matching: str = "",
    ) -> list[DebateSummary]:
        conditions = _in_guild(guild_id, channel_ids)
        if matching.strip():
            text = matching.strip()
            found = func.lower(debates.c.question).contains(text.lower(), autoescape=True)
            conditions.append(or_(found, debates.c.id == int(text)) if text.isdigit() else found)
        query = (
            select(*_SUMMARY_COLUMNS)
            .where(*conditions)
            .order_by(debates.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return [_summary(row) for row in rows]

    async def stored_debate(self, debate_id: int) -> StoredDebate | None:
        query = select(
            *_SUMMARY_COLUMNS,
            debates.c.panel,
            debates.c.verdict,
            debates.c.wall_s,
            debates.c.persona_sum_s,
            debates.c.verdict_s,
            debates.c.judge_order,
            debates.c.finished_at,
        ).where(debates.c.id == debate_id)
        async with self._database.read() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return StoredDebate(
            summary=_summary(row),
            panel=tuple(persona_from_json(persona) for persona in row.panel),
            verdict=row.verdict,
            wall_s=row.wall_s,
            persona_sum_s=row.persona_sum_s,
            verdict_s=row.verdict_s,
            judge_order=None if row.judge_order is None else tuple(row.judge_order),
            finished_at=_utc(row.finished_at),
            replies=tuple(await self.debate_replies(debate_id)),
        )

    # -- usage ------------------------------------------------------------------------------------

    async def tokens_used(self, guild_id: int, day: date) -> int:
        query = select(token_usage.c.tokens).where(
            token_usage.c.guild_id == guild_id, token_usage.c.day == day
        )
        async with self._database.read() as connection:
            return int((await connection.execute(query)).scalar() or 0)

    async def add_tokens(self, guild_id: int, day: date, tokens: int) -> int:
        statement = self._database.insert(token_usage).values(guild_id=guild_id, day=day, tokens=tokens)
        statement = statement.on_conflict_do_update(
            index_elements=["guild_id", "day"], set_={"tokens": token_usage.c.tokens + tokens}
        )
        async with self._database.write() as connection:
            await connection.execute(statement)
            total = await connection.execute(
                select(token_usage.c.tokens).where(
                    token_usage.c.guild_id == guild_id, token_usage.c.day == day
                )
            )
            return int(total.scalar() or 0)


MAX_CHAIN = 100
"""How far a chain is followed back (chains are far shorter: a guard against a cycle)."""


async def _end_of_rounds(connection: AsyncConnection, debate_id: int) -> int:
    """The last debate of the chain of rounds continuing ``debate_id``."""
    current = debate_id
    for _ in range(MAX_CHAIN):
        following = (
            await connection.execute(select(debates.c.next_round_id).where(debates.c.id == current))
        ).scalar()
        if following is None:
            break
        current = int(following)
    return current


_REPLY_TOKENS = (
    select(func.sum(debate_replies.c.tokens))
    .where(debate_replies.c.debate_id == debates.c.id)
    .scalar_subquery()
)
_SUMMARY_COLUMNS = (
    debates.c.id,
    debates.c.guild_id,
    debates.c.channel_id,
    debates.c.user_id,
    debates.c.question,
    debates.c.status,
    debates.c.outcome,
    debates.c.rounds,
    func.coalesce(debates.c.tokens, _REPLY_TOKENS, 0).label("total_tokens"),
    debates.c.started_at,
    debates.c.status_message_id,
    debates.c.posts_channel_id,
    debates.c.verdict_model,
    debates.c.continues_id,
    debates.c.kind,
)


def _in_guild(guild_id: int, channel_ids: Collection[int] | None) -> list[ColumnElement[bool]]:
    conditions = [debates.c.guild_id == guild_id]
    if channel_ids is not None:
        conditions.append(debates.c.channel_id.in_(list(channel_ids)))
    return conditions


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were written in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _summary(row: Row[*tuple[Any, ...]]) -> DebateSummary:
    started_at = _utc(row.started_at)
    assert started_at is not None  # the column is not nullable
    return DebateSummary(
        id=row.id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        question=row.question,
        status=DebateStatus(row.status),
        outcome=row.outcome,
        rounds=row.rounds,
        tokens=int(row.total_tokens),
        started_at=started_at,
        status_message_id=row.status_message_id,
        posts_channel_id=row.posts_channel_id,
        verdict_model=row.verdict_model,
        continues_id=row.continues_id,
        kind=row.kind,
    )


def _stored_reply(row: Row[*tuple[Any, ...]]) -> StoredReply:
    return StoredReply(
        row.position,
        row.persona,
        row.text,
        row.failure,
        row.round,
        Stance(row.stance) if row.stance is not None else None,
        row.confidence,
        row.key_claim,
        bool(row.cut_off),
    )
