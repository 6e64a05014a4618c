"""The vote service's refresh of a verdict message: every embed and field kept but the crowd's two, which
are rebuilt within the room left in the message and in the debate's language, whoever voted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import discord
import pytest

from bot.core import translation
from bot.core.crowd import CROWD_FIELDS_LIMIT, crowd_fields, fields_size
from bot.core.debate import PersonaReply, Position
from bot.core.llm import TokenUsage
from bot.core.personas import Persona
from bot.core.records import DebateStanding, Storage
from bot.core.render import EMBED_CHARS_PER_MESSAGE, Embed, pack_messages, shown_size, verdict_embeds
from bot.core.stances import Stance
from bot.core.translation import speaking_in
from bot.i18n import LOCALES_DIR, read_message_catalogues
from bot.ratelimits import RateLimits
from bot.votes import Refresh, VoteService
from tests.bot.core.test_crowd import maximal_panel
from tests.bot.core.test_render import STATS


@dataclass
class Standings:
    """The two reads a refresh makes of the store."""

    standing: DebateStanding
    counts: Mapping[int, int]

    async def debate_standing(self, debate_id: int) -> DebateStanding:
        return self.standing

    async def vote_counts(self, debate_id: int) -> Mapping[int, int]:
        return self.counts


@dataclass
class Message:
    """A posted verdict message: its embeds as discord.py holds them, and the edits it received."""

    embeds: list[discord.Embed]
    id: int = 1
    edits: list[list[dict[str, Any]]] = field(default_factory=list)
    edited_at: datetime | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    async def edit(
        self, *, embeds: list[discord.Embed], allowed_mentions: discord.AllowedMentions
    ) -> Message:
        assert allowed_mentions.everyone is False
        self.edits.append([dict(embed.to_dict()) for embed in embeds])
        return Message(embeds=embeds)


def last_verdict_message(panel: tuple[Persona, ...], verdict_length: int) -> list[Embed]:
    outcome = PersonaReply("v" * verdict_length, "gemini-test", 1.0, TokenUsage(1, 1))
    positions = [Position(persona, Stance.FOR, Stance.AGAINST) for persona in panel]
    crowd = crowd_fields(panel, tuple(Stance.FOR for _ in panel), {})
    embeds = verdict_embeds(outcome, STATS, positions, crowd=crowd, crowd_room=CROWD_FIELDS_LIMIT)
    return pack_messages(embeds)[-1]


@pytest.fixture(autouse=True)
def catalogues() -> None:
    translation.install(read_message_catalogues(LOCALES_DIR))


@pytest.mark.parametrize("verdict_length", [10, 1500, 3500, 4096 + 1200, 2 * 4096 - 200])
async def test_a_refresh_replaces_only_the_crowds_fields_within_the_room_left_in_german(
    verdict_length: int,
) -> None:
    panel = maximal_panel()
    stances = (Stance.FOR,) * 10
    counts = {position: 10**6 + position for position in range(10)}
    posted = last_verdict_message(panel, verdict_length)
    message = Message([discord.Embed.from_dict(dict(embed)) for embed in posted])
    store = Standings(DebateStanding(guild_id=1, panel=panel, stances=stances, language="de"), counts)
    votes = VoteService(cast(Storage, store), RateLimits())

    with speaking_in("fr"):  # the voter's language: not the one the refresh speaks
        await votes._edit(Refresh(7, cast(discord.Message, message), last_edit=0.0))

    (edited,) = message.edits
    before: list[dict[str, Any]] = [dict(embed.to_dict()) for embed in message.embeds]
    assert edited[:-1] == before[:-1]
    assert {**edited[-1], "fields": []} == {**before[-1], "fields": []}
    assert edited[-1]["fields"][:-2] == before[-1]["fields"][:-2]
    with speaking_in("de"):
        german = crowd_fields(panel, stances, counts)
    shown = cast(list[Embed], edited)
    assert sum(shown_size(embed) for embed in shown) <= EMBED_CHARS_PER_MESSAGE
    assert edited[-1]["fields"][-2:] == german, "the whole ranking fits the room packing kept"
    assert fields_size(german) > fields_size(before[-1]["fields"][-2:])
    assert "🟢 Dafür" in german[0]["value"]


async def test_a_refresh_of_a_crowded_message_shrinks_the_crowds_fields_to_the_room_left() -> None:
    panel = maximal_panel()
    stances = (Stance.AGAINST,) * 10
    counts = dict.fromkeys(range(10), 3)
    council: dict[str, Any] = {"name": "Council", "value": "🔴 Against 10", "inline": True}
    crowd = crowd_fields(panel, stances, {})
    posted: list[dict[str, Any]] = [
        {"title": "⚖️ Verdict", "description": "v" * 4096},
        {"description": "w" * 1100, "fields": [council, *crowd], "footer": {"text": "wall 1.0 s"}},
    ]
    message = Message([discord.Embed.from_dict(embed) for embed in posted])
    store = Standings(DebateStanding(guild_id=1, panel=panel, stances=stances), counts)
    votes = VoteService(cast(Storage, store), RateLimits())

    await votes._edit(Refresh(7, cast(discord.Message, message), last_edit=0.0))

    (edited,) = message.edits
    assert sum(shown_size(cast(Embed, embed)) for embed in edited) <= EMBED_CHARS_PER_MESSAGE
    assert [f["name"] for f in edited[-1]["fields"]] == ["Council", "👥 Crowd", "Agreement"]
    assert edited[-1]["fields"][1]["value"].startswith("**1.** ")
    assert fields_size(edited[-1]["fields"][-2:]) < fields_size(crowd_fields(panel, stances, counts))
