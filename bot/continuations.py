"""Continuing a finished debate from the controls under its verdict: another round, or a follow-up question.

A continuation goes the way of ``/debate`` (:class:`~bot.debates.DebateService`): the member who pressed is
admitted with their own cooldown and the server's budgets, the public deferral of their press (or of
their form) becomes its status line in the thread the verdict is in, it can be stopped, its answers go
through the channel's sender replying to that status line, and it is recorded, charged, and closed on an
interruption like any debate. Everything it goes on from is read back from the database, so the buttons
of a verdict posted by an earlier run of the bot work as well.

Another round of one verdict runs once: the claim is made in the database (safe across processes)
before anything is shown, and a second press is refused privately with a link to the newest verdict.
A round that ends without a verdict gives its claim back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import discord

from bot.core.continuations import (
    MAX_CONTINUATIONS,
    ChainFull,
    ContinuationKind,
    RoundTaken,
    context_of,
    earlier_rounds,
    follow_up_context,
    rounds_so_far,
)
from bot.core.records import DebateStatus, Storage, StoredDebate
from bot.core.transcript import status_message_link
from bot.core.translation import _
from bot.core.validation import check_question
from bot.debates import DebateService
from bot.errors import UserFacingError
from bot.ui import FollowUpModal
from bot.venues import Venue, choose_venue

log = logging.getLogger(__name__)


class ContinuationService:
    """Runs the Another round and Follow-up buttons under a verdict through the debate service."""

    def __init__(self, debates: DebateService, store: Storage, *, run_id: str) -> None:
        self._debates = debates
        self._store = store
        self._run_id = run_id

    async def another_round(self, interaction: discord.Interaction[discord.Client], record: int) -> None:
        """One more round of debate ``record``'s panel in the thread its verdict is in, then a verdict."""
        guild_id, venue = _where(interaction)
        chain = await self._chain(record, guild_id)
        latest = await self._store.latest_round(record)
        if latest is not None and latest.id != record:
            raise UserFacingError(_already_continued(latest.id, status_message_link(latest)))
        admitted, language = await self._debates.admit(interaction, guild_id)
        with admitted as ticket:
            try:
                continuation = await self._store.begin_continuation(
                    record,
                    ContinuationKind.ROUND,
                    user_id=interaction.user.id,
                    question=chain[-1].summary.question,
                    run_id=self._run_id,
                    rounds=rounds_so_far(chain) + 1,
                    limit=MAX_CONTINUATIONS,
                    language=language.code if language is not None else None,
                )
            except RoundTaken as taken:
                newest = await self._store.latest_round(taken.latest)
                link = None if newest is None else status_message_link(newest)
                raise UserFacingError(_already_continued(taken.latest, link)) from None
            except ChainFull:
                raise UserFacingError(_chain_full()) from None
            debate = None
            try:
                await interaction.response.defer(thinking=True)
                debate = self._debates.new_debate(
                    interaction,
                    venue,
                    ticket,
                    continuation,
                    chain[-1].summary.question,
                    chain[-1].panel,
                    rounds=rounds_so_far(chain) + 1,
                    language=language,
                    first_round=rounds_so_far(chain) + 1,
                    earlier=earlier_rounds(chain),
                    previous=context_of(chain),
                    kind=_("Another round of #{parent}").format(parent=record),
                )
                await self._debates.hold(interaction, venue, debate)
            finally:
                if debate is None or debate.ended is not DebateStatus.DONE:
                    await self._give_back(record, continuation, started=debate is not None)

    async def ask_follow_up(self, interaction: discord.Interaction[discord.Client], record: int) -> None:
        """Show the form a member types a follow-up question of debate ``record`` in."""
        guild_id, _venue = _where(interaction)
        await self._chain(record, guild_id)
        await interaction.response.send_modal(FollowUpModal(record))

    async def follow_up(
        self, interaction: discord.Interaction[discord.Client], record: int, question: str
    ) -> None:
        """The same panel answers ``question`` with debate ``record`` as context, then a verdict."""
        question = check_question(question)
        guild_id, venue = _where(interaction)
        chain = await self._chain(record, guild_id)
        admitted, language = await self._debates.admit(interaction, guild_id)
        with admitted as ticket:
            try:
                continuation = await self._store.begin_continuation(
                    record,
                    ContinuationKind.FOLLOW_UP,
                    user_id=interaction.user.id,
                    question=question,
                    run_id=self._run_id,
                    rounds=1,
                    limit=MAX_CONTINUATIONS,
                    language=language.code if language is not None else None,
                )
            except ChainFull:
                raise UserFacingError(_chain_full()) from None
            try:
                await interaction.response.defer(thinking=True)
            except BaseException:
                await self._give_back(record, continuation, started=False)
                raise
            debate = self._debates.new_debate(
                interaction,
                venue,
                ticket,
                continuation,
                question,
                chain[-1].panel,
                rounds=1,
                language=language,
                previous=follow_up_context(chain),
                kind=_("Follow-up to #{parent}").format(parent=record),
            )
            await self._debates.hold(interaction, venue, debate)

    async def _chain(self, record: int, guild_id: int) -> Sequence[StoredDebate]:
        """Debate ``record`` and the debates it continues, root first, when it is this server's and has a
        verdict to continue from."""
        chain = await self._store.debate_chain(record)
        if not chain or chain[-1].summary.guild_id != guild_id:
            raise UserFacingError(_("This debate is no longer kept, so it cannot be continued."))
        if chain[-1].summary.status is not DebateStatus.DONE or chain[-1].verdict is None:
            raise UserFacingError(_("Only a debate that reached its verdict can be continued."))
        if await self._store.count_continuations(record) >= MAX_CONTINUATIONS:
            raise UserFacingError(_chain_full())
        return chain

    async def _give_back(self, parent: int, continuation: int, *, started: bool) -> None:
        """A continuation that ended without a verdict: another round of ``parent`` may be asked again.
        One that never started (its deferral failed) is closed as failed."""
        with contextlib.suppress(Exception):
            if not started:
                await self._store.end_debate(
                    continuation, DebateStatus.FAILED, "failed: it could not start", verdict=None, stats=None
                )
            await self._store.release_round(parent, continuation)


def _where(interaction: discord.Interaction[Any]) -> tuple[int, Venue]:
    """The server and the venue of a press: the channel the verdict is in (a thread, mostly)."""
    if interaction.guild_id is None:
        raise discord.app_commands.NoPrivateMessage()
    channel_type = interaction.channel.type if interaction.channel is not None else None
    return interaction.guild_id, choose_venue(channel_type, interaction.app_permissions)


def _already_continued(latest: int, link: str | None) -> str:
    if link is None:
        return _("Another round of this debate was already asked for (debate #{latest}).").format(
            latest=latest
        )
    return _(
        "Another round of this debate was already asked for: the newest verdict is under debate "
        "#{latest}, {link}"
    ).format(latest=latest, link=link)


def _chain_full() -> str:
    return _("This debate has been continued {count} times, the most Parley allows.").format(
        count=MAX_CONTINUATIONS
    )
