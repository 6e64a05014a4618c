"""The bot's wiring that needs no network: invite permissions, command-set comparison, error messages."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.client import INVITE_PERMISSIONS, same_commands
from bot.core.limits import Refused
from bot.core.render import CONTENT_LIMIT
from bot.core.text import discord_length, overflow, quoted
from bot.core.validation import Invalid
from bot.errors import BotActionForbidden, NotModerator, UserFacingError, describe, fitted, permission_names

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_invite_url_and_table_match_the_permissions_the_code_asks_for() -> None:
    (integer,) = set(re.findall(r"permissions=(\d+)", README))
    assert int(integer) == INVITE_PERMISSIONS.value
    rows = re.findall(r"^\s*\| (\d+) \| (\d+) \| ([A-Za-z ]+?) \|", README, flags=re.MULTILINE)
    assert sum(int(value) for _bit, value, _name in rows) == INVITE_PERMISSIONS.value
    assert all(int(value) == 1 << int(bit) for bit, value, _name in rows)


def test_the_debate_command_checks_only_permissions_the_invite_grants() -> None:
    from bot.venues import NEW_THREAD_NEEDS, THIS_CHANNEL_NEEDS, THIS_THREAD_NEEDS

    for needs in (NEW_THREAD_NEEDS, THIS_THREAD_NEEDS, THIS_CHANNEL_NEEDS):
        assert needs.value
        assert needs <= INVITE_PERMISSIONS


def command(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "debate",
        "description": "Ask the panel",
        "type": 1,
        "options": [
            {"type": 3, "name": "question", "description": "What?", "required": True, "max_length": 1000}
        ],
        "contexts": [0],
        "nsfw": False,
    }
    return {**base, **changes}


def test_commands_compare_equal_despite_what_discord_adds() -> None:
    remote = command(
        id="1",
        application_id="2",
        version="3",
        default_member_permissions=None,
        integration_types=[0],
        dm_permission=False,
        name_localizations=None,
        options=[
            {
                "type": 3,
                "name": "question",
                "description": "What?",
                "required": True,
                "max_length": 1000,
                "description_localizations": None,
            }
        ],
    )
    assert same_commands([command()], [remote])
    assert same_commands([command(default_member_permissions=32)], [command(default_member_permissions="32")])
    assert same_commands([command(), command(name="panel")], [command(name="panel"), remote])


@pytest.mark.parametrize(
    "change",
    [
        {"description": "Ask the whole panel"},
        {"options": []},
        {"options": [{"type": 3, "name": "question", "description": "What?", "required": False}]},
        {"default_member_permissions": "32"},
        {"contexts": [0, 1]},
    ],
)
def test_a_changed_command_is_noticed(change: dict[str, Any]) -> None:
    assert not same_commands([command()], [command(**change)])
    assert not same_commands([command()], [command(), command(name="extra")])


def invoke_error(error: Exception) -> app_commands.CommandInvokeError:
    holder: app_commands.Command[Any, ..., None] = app_commands.Command(
        name="x", description="x", callback=_noop
    )
    return app_commands.CommandInvokeError(holder, error)


async def _noop(interaction: discord.Interaction) -> None:  # pragma: no cover - never called
    return None


def test_permission_names_read_like_discord_shows_them() -> None:
    assert permission_names(["manage_guild"]) == "**Manage Server**"
    assert permission_names(["read_messages"]) == "**View Channel**"
    assert permission_names(["embed_links", "create_public_threads", "send_messages_in_threads"]) == (
        "**Embed Links**, **Create Public Threads** and **Send Messages In Threads**"
    )


def test_expected_errors_get_a_plain_message_without_reference() -> None:
    cases: list[tuple[Exception, str]] = [
        (UserFacingError("Nope."), "Nope."),
        (invoke_error(Invalid("The question is empty.")), "The question is empty."),
        (invoke_error(Refused("Slow down: you can start another debate soon.")), "Slow down: you can start"),
        (
            invoke_error(BotActionForbidden("Create Public Threads", "open the debate thread")),
            "I'm missing the **Create Public Threads** permission here, so I couldn't open the debate",
        ),
        (
            app_commands.BotMissingPermissions(["create_public_threads"]),
            "I need the **Create Public Threads** permission in this channel.",
        ),
        (app_commands.MissingPermissions(["manage_guild"]), "You need the **Manage Server** permission"),
        (app_commands.NoPrivateMessage(), "This command only works inside a server."),
    ]
    for error, expected in cases:
        message, reference = describe(error)
        assert message.startswith(expected), message
        assert reference is None


def test_unexpected_errors_get_a_reference_that_is_logged_with_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    try:
        raise KeyError("kaput")
    except KeyError as error:
        message, reference = describe(invoke_error(error))
    assert reference is not None
    assert re.fullmatch(r"[0-9a-f]{8}", reference)
    assert f"(ref `{reference}`)" in message
    (record,) = caplog.records
    assert reference in record.getMessage()
    assert record.exc_info is not None
    assert "kaput" in str(record.exc_info[1])


def test_not_moderator_is_explained_with_the_role_and_lives_apart_from_moderation() -> None:
    from bot import moderation

    assert moderation.NotModerator is NotModerator
    message, reference = describe(NotModerator(42))
    assert (
        message
        == "Only moderators can do this: it needs the **Manage Server** permission or the <@&42> role."
    )
    assert reference is None
    assert describe(NotModerator(None))[0].endswith("the **Manage Server** permission.")


def test_a_message_that_fits_goes_out_whole_without_attachment() -> None:
    content, files = fitted("Nothing changed: the name is empty.")
    assert content == "Nothing changed: the name is empty."
    assert files == []
    exactly = "x" * CONTENT_LIMIT
    assert fitted(exactly) == (exactly, [])


def test_a_long_problem_list_goes_out_short_with_every_problem_in_problems_txt() -> None:
    problems = [f"personas[{n // 10}] (Persona {n}): unknown key 'k{n}'." for n in range(200)]
    message, _reference = describe(invoke_error(Invalid(*problems)))
    content, files = fitted(message)
    assert discord_length(content) <= CONTENT_LIMIT
    lines = content.splitlines()
    assert lines[-1] == "…and more: the whole message is in the attached problems.txt."
    assert lines[:-1] == [f"• {problem}" for problem in problems[: len(lines) - 1]]
    (file,) = files
    assert file.filename == "problems.txt"
    assert file.fp.read().decode() == "\n".join(f"• {problem}" for problem in problems)


def test_overflow_keeps_whole_lines_and_cuts_a_single_long_one() -> None:
    assert overflow("a\nb", 10, "(more)") == ("a\nb", None)
    assert overflow("aaa\nbbb\nccc", 10, "(more)") == ("aaa\n(more)", "aaa\nbbb\nccc")
    content, spilled = overflow("z" * 50, 20, "(more)")
    assert content == "z" * 12 + "…\n(more)"
    assert len(content) <= 20
    assert spilled == "z" * 50
    emoji_line = "🚀" * 30
    content, _ = overflow(emoji_line, 21, "(more)")
    assert discord_length(content) <= 21


def test_user_values_are_quoted_briefly() -> None:
    assert quoted("gpt-9") == "'gpt-9'"
    assert quoted("m" * 3000) == "'" + "m" * 39 + "…'"
    assert quoted("line\nbreak", 20) == "'line\\nbreak'"
