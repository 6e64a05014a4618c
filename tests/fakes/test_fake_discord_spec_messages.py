"""Message rules from Discord's OpenAPI spec and developer docs: nonce, tts, IS_COMPONENTS_V2, components.

Spec: github.com/discord/discord-api-spec commit 74fda0fad044407ea280043a03ffc9bc64c4e49e (schemas named in
each test). Docs: discord.com/developers/docs (docs repo commit c98d64bc233833839cf0d8d369e81b77f21ade60).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import discord
import pytest
from discord.http import Route

from tests.fakes.fake_discord import FakeDiscord, guilds_client, running_client, the_guild

pytestmark = pytest.mark.timeout(30)

V2 = 1 << 15


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild; message buckets wide enough not to interfere."""
    async with FakeDiscord(bucket_limits={"messages": (50, 1.0), "message_edit": (50, 1.0)}) as running:
        running.add_guild("Parley Test")
        yield running


def text_channel(client: discord.Client, channel_id: int) -> discord.TextChannel:
    """A cached text channel."""
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def leaf(code: str, message: str) -> dict[str, Any]:
    """One ``_errors`` leaf of a 50035 body."""
    return {"_errors": [{"code": code, "message": message}]}


def legacy_field(name: str) -> dict[str, Any]:
    """What Discord answers for a legacy field on an IS_COMPONENTS_V2 message."""
    return leaf(
        "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
        f"The '{name}' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
    )


def form_errors(exc: pytest.ExceptionInfo[discord.HTTPException], fake: FakeDiscord) -> Any:
    """The ``errors`` tree of the 50035 that ``exc`` carries (checked to be one)."""
    assert exc.value.status == 400
    assert exc.value.code == 50035
    body = fake.requests[-1].response
    assert body["message"] == "Invalid Form Body"
    return body["errors"]


def post_message(channel_id: int) -> Route:
    return Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)


class Layout(discord.ui.LayoutView):
    """A components-v2 message: a container with a text display and a row with two buttons."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        row: discord.ui.ActionRow[Layout] = discord.ui.ActionRow(
            discord.ui.Button(label="Agree", custom_id="vote:agree"),
            discord.ui.Button(label="Disagree", custom_id="vote:disagree"),
        )
        self.add_item(discord.ui.Container(discord.ui.TextDisplay("This house would ban tabs"), row))


# ---- nonce and tts ------------------------------------------------------------------------------------


async def test_nonce_longer_than_25_characters_is_refused(fake: FakeDiscord) -> None:
    # Spec MessageCreateRequest/properties/nonce: string maxLength 25; docs: "up to 25 characters".
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        with pytest.raises(discord.HTTPException) as caught:
            await channel.send("hi", nonce="n" * 26)
        assert form_errors(caught, fake) == {
            "nonce": leaf("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        }
        sent = await channel.send("hi", nonce="n" * 25)
    (stored,) = fake.channel_messages(channel.id)
    assert stored["id"] == str(sent.id)
    assert stored["nonce"] == "n" * 25


async def test_enforce_nonce_returns_the_earlier_message(fake: FakeDiscord) -> None:
    # Docs resources/message#create-message, enforce_nonce: "If another message was created by the same
    # author with the same nonce, that message will be returned and no new message will be created."
    # discord.py sends every nonce with enforce_nonce=true.
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        first = await channel.send("Motion", nonce="motion-1")
        again = await channel.send("Motion, retried", nonce="motion-1")
        unenforced = await client.http.request(
            post_message(channel.id), json={"content": "no dedup", "nonce": "motion-1"}
        )
    assert fake.requests[-2].json["enforce_nonce"] is True
    assert again.id == first.id
    assert again.content == "Motion"
    assert [m["content"] for m in fake.channel_messages(channel.id)] == ["Motion", "no dedup"]
    assert unenforced["id"] != str(first.id)


async def test_integer_nonce_must_fit_in_int64(fake: FakeDiscord) -> None:
    # Spec MessageCreateRequest/properties/nonce: integer, minimum -2**63, maximum 2**63-1 (discord.py
    # stringifies nonces, so the raw integer goes through its HTTP client).
    channel_id = the_guild(fake).text_channel.id
    client = guilds_client()
    async with running_client(fake, client):
        for too_big in (2**63, -(2**63) - 1):
            with pytest.raises(discord.HTTPException) as caught:
                await client.http.request(post_message(channel_id), json={"content": "x", "nonce": too_big})
            (code,) = {e["code"] for e in form_errors(caught, fake)["nonce"]["_errors"]}
            assert code == ("NUMBER_TYPE_MAX" if too_big > 0 else "NUMBER_TYPE_MIN")
        with pytest.raises(discord.HTTPException) as wrong_type:
            await client.http.request(post_message(channel_id), json={"content": "x", "nonce": 1.5})
        assert form_errors(wrong_type, fake) == {
            "nonce": leaf("STRING_TYPE_COERCE", "Value is not a valid string.")
        }
        await client.http.request(post_message(channel_id), json={"content": "x", "nonce": 2**63 - 1})
    assert [m["nonce"] for m in fake.channel_messages(channel_id)] == [2**63 - 1]


async def test_non_boolean_tts_is_refused(fake: FakeDiscord) -> None:
    # Spec MessageCreateRequest/properties/tts: {"type": ["boolean", "null"]}; discord.py forwards the value.
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        with pytest.raises(discord.HTTPException) as caught:
            await channel.send("hi", tts=cast(bool, "yes"))
        assert form_errors(caught, fake) == {
            "tts": leaf("BOOLEAN_TYPE_COERCE", "Value is not a valid boolean.")
        }
        await channel.send("hi", tts=True)
    assert [m["tts"] for m in fake.channel_messages(channel.id)] == [True]


# ---- IS_COMPONENTS_V2 ---------------------------------------------------------------------------------


async def test_components_v2_refuses_content_and_embeds(fake: FakeDiscord) -> None:
    # Docs resources/message#create-message: with IS_COMPONENTS_V2 "Providing content, embeds, sticker_ids,
    # poll, or shared_client_theme will fail with a 400 BAD REQUEST response".
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        with pytest.raises(discord.HTTPException) as caught:
            # discord.py's overloads refuse content beside a LayoutView, but at runtime it sends both.
            await channel.send(  # type: ignore[call-overload]
                "Motion", embed=discord.Embed(title="Vote"), view=Layout()
            )
        assert fake.requests[-1].json["flags"] == V2
        assert form_errors(caught, fake) == {
            "content": legacy_field("content"),
            "embeds": legacy_field("embeds"),
        }
        sent = await channel.send(view=Layout())
    (stored,) = fake.channel_messages(channel.id)
    assert stored["id"] == str(sent.id)
    assert stored["flags"] == V2


@pytest.mark.parametrize(
    "legacy",
    [
        {"sticker_ids": ["749054660769218631"]},
        {"poll": {"question": {"text": "Tabs?"}, "answers": [{"poll_media": {"text": "Yes"}}]}},
    ],
    ids=["sticker_ids", "poll"],
)
async def test_components_v2_refuses_stickers_and_polls(fake: FakeDiscord, legacy: dict[str, Any]) -> None:
    channel_id = the_guild(fake).text_channel.id
    body = {"flags": V2, "components": [{"type": 10, "content": "Vote below"}], **legacy}
    client = guilds_client()
    async with running_client(fake, client):
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.request(post_message(channel_id), json=body)
    (field,) = legacy
    assert form_errors(caught, fake) == {field: legacy_field(field)}
    assert fake.channel_messages(channel_id) == []


async def test_v2_layout_without_the_flag_is_a_union_type_error(fake: FakeDiscord) -> None:
    # Docs components/reference "Legacy Message Component Behavior": without the flag only action rows
    # (up to 5) are top-level components; spec MessageCreateRequest/properties/components/items.
    channel_id = the_guild(fake).text_channel.id
    client = guilds_client()
    async with running_client(fake, client):
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.request(
                post_message(channel_id), json={"components": [{"type": 10, "content": "hello"}]}
            )
    assert form_errors(caught, fake) == {
        "components": {
            "0": leaf("UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1).'),
        }
    }


async def test_edit_into_components_v2_must_reset_legacy_fields_and_cannot_undo_the_flag(
    fake: FakeDiscord,
) -> None:
    # Docs resources/message#edit-message: IS_COMPONENTS_V2 "can only be set"; when set, the used content,
    # embeds, sticker_ids or poll "must have their values reset to empty … Failing to do this will result
    # in a 400 BAD REQUEST response".
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        message = await channel.send("Motion: ban tabs")
        with pytest.raises(discord.HTTPException) as kept_content:
            await message.edit(view=Layout())
        assert form_errors(kept_content, fake) == {"content": legacy_field("content")}
        upgraded = await message.edit(content=None, view=Layout())
        assert upgraded.flags.components_v2
        with pytest.raises(discord.HTTPException) as added_content:
            await upgraded.edit(content="again")
        assert form_errors(added_content, fake) == {"content": legacy_field("content")}
        await client.http.request(
            Route("PATCH", "/channels/{channel_id}/messages/{message_id}", channel_id=channel.id,
                  message_id=message.id),
            json={"flags": 0},
        )  # fmt: skip
    stored = fake.message(message.id)
    assert stored is not None
    assert stored["content"] == ""
    assert stored["flags"] == V2  # the flag cannot be removed


async def test_edit_changes_only_suppress_embeds(fake: FakeDiscord) -> None:
    # Docs resources/message#edit-message: flags "(SUPPRESS_EMBEDS and IS_COMPONENTS_V2 only)".
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        message = await channel.send("quiet", silent=True)
        assert message.flags.suppress_notifications
        await message.edit(suppress=True)
        await client.http.request(
            Route("PATCH", "/channels/{channel_id}/messages/{message_id}", channel_id=channel.id,
                  message_id=message.id),
            json={"flags": 1 << 2},
        )  # fmt: skip
    stored = fake.message(message.id)
    assert stored is not None
    assert stored["flags"] == (1 << 2) | (1 << 12)  # SUPPRESS_NOTIFICATIONS survives a flags edit


# ---- component ids and component rules --------------------------------------------------------------


async def test_components_come_back_with_sequential_numeric_ids(fake: FakeDiscord) -> None:
    # Docs components/reference#anatomy-of-a-component: ids are "generated sequentially if left empty" and
    # "won't use another id that exists in the message"; spec ActionRowComponentResponse and
    # ButtonComponentResponse require ``id``.
    class Vote(discord.ui.View):
        @discord.ui.button(label="Agree", custom_id="vote:agree")
        async def agree(self, interaction: discord.Interaction, button: discord.ui.Button[Vote]) -> None:
            raise AssertionError("never clicked")

        @discord.ui.button(label="Disagree", custom_id="vote:disagree")
        async def disagree(self, interaction: discord.Interaction, button: discord.ui.Button[Vote]) -> None:
            raise AssertionError("never clicked")

    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        sent = await channel.send("Vote!", view=Vote(timeout=None))
        layout = await channel.send(view=Layout())
        explicit = await client.http.request(
            post_message(channel.id),
            json={
                "content": "ids",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "custom_id": "a", "label": "A", "id": 2},
                            {"type": 2, "style": 1, "custom_id": "b", "label": "B", "id": 0},
                        ],
                    }
                ],
            },
        )
    (row,) = sent.components
    assert isinstance(row, discord.ActionRow)
    assert row.id == 1
    assert [b.id for b in row.children] == [2, 3]
    stored_layout = fake.message(layout.id)
    assert stored_layout is not None
    (container,) = stored_layout["components"]
    text, buttons = container["components"]
    assert (container["id"], text["id"], buttons["id"]) == (1, 2, 3)
    assert [b["id"] for b in buttons["components"]] == [4, 5]
    # An explicit id is kept and skipped by the generator; 0 counts as empty.
    assert explicit["components"][0]["id"] == 1
    assert [b["id"] for b in explicit["components"][0]["components"]] == [2, 3]


def _row(*children: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(children)}


def _button(custom_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "Go", "custom_id": custom_id, **extra}


_SELECT = {"type": 3, "custom_id": "pick", "options": [{"label": "One", "value": "1"}]}


@pytest.mark.parametrize(
    ("components", "errors"),
    [
        (
            [_row(_button("same"), _button("same"))],
            {
                "components": {
                    "0": {
                        "components": {
                            "1": {
                                "custom_id": leaf(
                                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                                    "Component custom id cannot be duplicated",
                                )
                            }
                        }
                    }
                }
            },
        ),
        (
            [_row(_button("long", label="x" * 81))],
            {
                "components": {
                    "0": {
                        "components": {
                            "0": {"label": leaf("BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")}
                        }
                    }
                }
            },
        ),
        (
            [_row(_SELECT, _button("go"))],
            {
                "components": {
                    "0": {
                        "components": leaf(
                            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                            "The specified component exceeds the maximum width",
                        )
                    }
                }
            },
        ),
        (
            [_row(*[_button(f"b{i}") for i in range(6)])],
            {
                "components": {
                    "0": {"components": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")}
                }
            },
        ),
        (
            [_row(_button(f"r{i}")) for i in range(6)],
            {"components": leaf("BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")},
        ),
        (
            [_row({"type": 2, "style": 1, "label": "No id"})],
            {
                "components": {
                    "0": {
                        "components": {
                            "0": {"custom_id": leaf("BASE_TYPE_REQUIRED", "This field is required")}
                        }
                    }
                }
            },
        ),
        (
            [_row({"type": 4, "style": 1, "custom_id": "text", "label": "Text"})],
            {
                "components": {
                    "0": {
                        "components": {
                            "0": leaf(
                                "UNION_TYPE_CHOICES",
                                'Value of field "type" must be one of (2, 3, 5, 6, 7, 8).',
                            )
                        }
                    }
                }
            },
        ),
    ],
    ids=[
        "duplicate-custom-id",
        "81-char-label",
        "select-beside-button",
        "6-buttons",
        "6-rows",
        "button-without-custom-id",
        "text-input-in-message",
    ],
)
async def test_message_component_rules(
    fake: FakeDiscord, components: list[dict[str, Any]], errors: dict[str, Any]
) -> None:
    # Spec ActionRowComponentForMessageRequest (1-5 children), ButtonComponentForMessageRequest (label
    # maxLength 80, custom_id 1-100); docs components/reference: custom ids unique per message, a row holds
    # up to 5 buttons or one select, non-link buttons must have a custom_id, at most 5 legacy rows.
    channel_id = the_guild(fake).text_channel.id
    client = guilds_client()
    async with running_client(fake, client):
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.request(
                post_message(channel_id), json={"content": "pick", "components": components}
            )
    assert form_errors(caught, fake) == errors
    assert fake.channel_messages(channel_id) == []


async def test_embed_urls_are_limited_to_2048_characters(fake: FakeDiscord) -> None:
    # Spec RichEmbed/properties/url and RichEmbedImage/properties/url: maxLength 2048.
    long_url = "https://example.com/" + "a" * 2029
    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, the_guild(fake).text_channel.id)
        with pytest.raises(discord.HTTPException) as caught:
            await channel.send(embed=discord.Embed(title="T", url=long_url).set_image(url=long_url))
        assert form_errors(caught, fake) == {
            "embeds": {
                "0": {
                    "url": leaf("BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length."),
                    "image": {"url": leaf("BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length.")},
                }
            }
        }
        await channel.send(embed=discord.Embed(title="T", url=long_url[:2048]))
    assert len(fake.channel_messages(channel.id)) == 1


async def test_text_display_mentions_ping_as_allowed_mentions_say(fake: FakeDiscord) -> None:
    # Docs components/reference#text-display: mentions in a Text Display "will ping and send notifications
    # based on the value of the allowed mention object".
    guild = the_guild(fake)
    member = fake.add_member(guild, "alice")

    class Mention(discord.ui.LayoutView):
        text: discord.ui.TextDisplay[Mention] = discord.ui.TextDisplay(f"<@{member.id}> replied")

    client = guilds_client()
    async with running_client(fake, client):
        channel = text_channel(client, guild.text_channel.id)
        quiet = await channel.send(view=Mention(), allowed_mentions=discord.AllowedMentions.none())
        loud = await channel.send(view=Mention(), allowed_mentions=discord.AllowedMentions(users=True))
    assert [(p["kind"], p["id"], p["message_id"]) for p in fake.pings] == [("user", member.id, loud.id)]
    stored = fake.message(quiet.id)
    assert stored is not None
    assert stored["mentions"] == []
