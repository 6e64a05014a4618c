"""Closing debates that did not finish: a note where they were posting, the status line, the record."""

from __future__ import annotations

import contextlib
import logging

import discord

from bot.admission import Admission
from bot.core.records import DebateStatus, Storage, UnfinishedDebate
from bot.core.render import failed_state, interruption_note, status_content
from bot.core.translation import N_, _
from bot.posting.channels import ChannelSenders

log = logging.getLogger(__name__)
NO_PINGS = discord.AllowedMentions.none()
RESTARTED = N_("Parley restarted before it finished")
"""Closing notes and status lines speak English: the record does not keep the debate's language."""


async def close_interrupted(
    client: discord.Client,
    senders: ChannelSenders,
    store: Storage,
    admission: Admission,
    debate: UnfinishedDebate,
    why: str,
) -> None:
    """Tell the channel, finish the status line, mark the record and charge the tokens its recorded
    answers used (the run that started it never did), each as far as Discord allows."""
    if debate.posts_channel_id is not None:
        note = interruption_note(debate.answered, len(debate.panel), _(why))
        with contextlib.suppress(Exception):
            await senders.post_note(debate.posts_channel_id, note)
    if debate.status_message_id is not None:
        status = client.get_partial_messageable(debate.status_channel_id).get_partial_message(
            debate.status_message_id
        )
        with contextlib.suppress(discord.HTTPException):
            await status.edit(
                content=status_content(
                    debate.question, debate.panel, failed_state(_("interrupted ({why})").format(why=_(why)))
                ),
                allowed_mentions=NO_PINGS,
                view=None,  # no Stop button any more
            )
    await store.end_debate(
        debate.id, DebateStatus.INTERRUPTED, f"interrupted: {why}", verdict=None, stats=None
    )
    if debate.continues_id is not None:  # another round that never reached its verdict may be asked again
        await store.release_round(debate.continues_id, debate.id)
    await admission.charge(debate.guild_id, await store.debate_tokens(debate.id), complete=False)
    log.info("closed interrupted debate %s in guild %s", debate.id, debate.guild_id)


async def recover(
    client: discord.Client,
    senders: ChannelSenders,
    store: Storage,
    admission: Admission,
    run_id: str,
    why: str = RESTARTED,
) -> int:
    """Close every debate that earlier runs left running in the servers this process serves; returns
    how many. Debates of this run (``run_id``) go on: they may have started before ``on_ready``."""
    closed = 0
    for debate in await store.unfinished_debates(not_of_run=run_id):
        if client.get_guild(debate.guild_id) is None:
            continue  # another process's server (or one that removed the bot)
        await close_interrupted(client, senders, store, admission, debate, why)
        closed += 1
    return closed
