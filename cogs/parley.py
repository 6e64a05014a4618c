"""``/parley``: server settings for moderators (the moderator role, the limits, the language, usage,
the audit log, how long debates are kept, forgetting a member's debates, and how this process is doing).

Every subcommand that writes acknowledges the interaction first (privately), then writes and answers.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.client import ParleyBot
from bot.core.languages import LANGUAGES, find_language
from bot.core.limits import next_reset, utc_now
from bot.core.records import RETENTION_MAX_DAYS
from bot.core.render import audit_embed, usage_embed
from bot.core.text import quoted
from bot.core.translation import _, ngettext, number
from bot.errors import UserFacingError, acknowledge_privately, send_private
from bot.moderation import ModeratorGroup
from bot.process_status import process_status

AUDIT_ENTRIES = 15


def role_problem(role: discord.Role) -> str | None:
    """Why ``role`` cannot be the moderator role, or ``None`` if it can."""
    if role.is_default():
        return _(
            "`@everyone` can't be the moderator role: every member has it, so anyone could change the "
            "panel and the limits. Nothing changed; pick a role only your moderators hold."
        )
    if role.managed:
        return _(
            "{role} is managed by an integration (a bot's own role, the booster role or a "
            "linked service's): Discord hands it out, not your moderators. Nothing changed; pick a role "
            "your moderators hold."
        ).format(role=role.mention)
    return None


class ParleyCog(commands.Cog):
    """The ``/parley`` settings group."""

    parley = ModeratorGroup(
        name=locale_str("parley"), description=locale_str("Parley's settings for this server (moderators)")
    )

    def __init__(self, bot: ParleyBot) -> None:
        self.bot = bot

    @parley.command(
        name=locale_str("moderator-role"),
        description=locale_str("Set or clear the role that may manage Parley here"),
    )
    @app_commands.rename(role=locale_str("role"))
    @app_commands.describe(
        role=locale_str("Members with this role manage the panel; leave it out to clear the role")
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def moderator_role(
        self, interaction: discord.Interaction[ParleyBot], role: discord.Role | None = None
    ) -> None:
        assert interaction.guild_id is not None  # the group is guild-only
        problem = role_problem(role) if role is not None else None
        if problem is not None:
            raise UserFacingError(problem)
        await acknowledge_privately(interaction)
        await self.bot.store.set_moderator_role(
            interaction.guild_id, interaction.user.id, role.id if role else None
        )
        if role is None:
            message = _("Cleared the moderator role: only members with **Manage Server** manage Parley now.")
        else:
            message = _("Members with {role} can now manage Parley's panel and settings here.").format(
                role=role.mention
            )
        await send_private(interaction, message)

    async def _limit(self, interaction: discord.Interaction[ParleyBot], reply: str, **change: int) -> None:
        assert interaction.guild_id is not None
        await acknowledge_privately(interaction)
        await self.bot.store.update_settings(interaction.guild_id, interaction.user.id, **change)
        await send_private(interaction, reply)

    @parley.command(
        name=locale_str("cooldown"),
        description=locale_str("Seconds a member waits between two debates they start"),
    )
    @app_commands.rename(seconds=locale_str("seconds"))
    @app_commands.describe(seconds=locale_str("0 lets members start debates back to back (at most a day)"))
    async def cooldown(
        self, interaction: discord.Interaction[ParleyBot], seconds: app_commands.Range[int, 0, 86_400]
    ) -> None:
        reply = (
            _("Members now wait {seconds} s between two debates they start.").format(seconds=seconds)
            if seconds
            else _("Members can now start debates back to back.")
        )
        await self._limit(interaction, reply, cooldown_s=seconds)

    @parley.command(
        name=locale_str("max-debates"),
        description=locale_str("How many debates may run at once in this server"),
    )
    @app_commands.rename(count=locale_str("count"))
    @app_commands.describe(
        count=locale_str("Debates running at once (1–100); more are refused until one finishes")
    )
    async def max_debates(
        self, interaction: discord.Interaction[ParleyBot], count: app_commands.Range[int, 1, 100]
    ) -> None:
        reply = ngettext(
            "At most {count} debate now runs at once here.",
            "At most {count} debates now run at once here.",
            count,
        ).format(count=count)
        await self._limit(interaction, reply, max_debates=count)

    @parley.command(
        name=locale_str("budget"),
        description=locale_str("Gemini tokens this server may use per day (0: no budget)"),
    )
    @app_commands.rename(tokens=locale_str("tokens"))
    @app_commands.describe(tokens=locale_str("Tokens per day, counted from 00:00 UTC; 0 removes the budget"))
    async def budget(
        self, interaction: discord.Interaction[ParleyBot], tokens: app_commands.Range[int, 0, 1_000_000_000]
    ) -> None:
        reply = (
            _("This server may now use {tokens} Gemini tokens a day (counted from 00:00 UTC).").format(
                tokens=number(tokens)
            )
            if tokens
            else _("This server now has no daily token budget.")
        )
        await self._limit(interaction, reply, daily_token_budget=tokens)

    async def _languages(
        self, _interaction: discord.Interaction[ParleyBot], current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().casefold()
        return [
            app_commands.Choice(name=language.label, value=language.code)
            for language in LANGUAGES.values()
            if typed in language.label.casefold() or typed == language.code.casefold()
        ][:25]

    @parley.command(
        name=locale_str("language"), description=locale_str("The language debates here are held in")
    )
    @app_commands.rename(language=locale_str("language"))
    @app_commands.describe(
        language=locale_str(
            "A language Discord offers, e.g. Français; leave it out for each asker's own language"
        )
    )
    @app_commands.autocomplete(language=_languages)
    async def language(
        self,
        interaction: discord.Interaction[ParleyBot],
        language: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        found = find_language(language) if language is not None else None
        if language is not None and found is None:
            raise UserFacingError(
                _("{language} is not a language Discord offers: pick one from the list.").format(
                    language=quoted(language)
                )
            )
        await acknowledge_privately(interaction)
        await self.bot.store.set_language(
            interaction.guild_id, interaction.user.id, found.code if found else None
        )
        reply = (
            _("Personas and verdicts here now answer in {language}, whoever asks.").format(
                language=found.label
            )
            if found is not None
            else _("Personas and verdicts here now answer in the language of each member who asks.")
        )
        await send_private(interaction, reply)

    @parley.command(
        name=locale_str("usage"),
        description=locale_str("Today's Gemini tokens against the budget, and debates running"),
    )
    async def usage(self, interaction: discord.Interaction[ParleyBot]) -> None:
        assert interaction.guild_id is not None
        admission = self.bot.admission
        limits = await admission.limits(interaction.guild_id)
        used = await admission.tokens_today(interaction.guild_id)
        embed = discord.Embed.from_dict(
            dict(usage_embed(used, limits, admission.running(interaction.guild_id), next_reset(utc_now())))
        )
        await send_private(interaction, embed=embed)

    @parley.command(
        name=locale_str("status"),
        description=locale_str("Parley's version, uptime, shards, gateway latency and today's usage"),
    )
    async def status(self, interaction: discord.Interaction[ParleyBot]) -> None:
        assert interaction.guild_id is not None
        embed = discord.Embed.from_dict(dict(await process_status(self.bot, interaction.guild_id)))
        await send_private(interaction, embed=embed)

    @parley.command(
        name=locale_str("retention"),
        description=locale_str("Delete debates older than this many days (0: keep them)"),
    )
    @app_commands.rename(days=locale_str("days"))
    @app_commands.describe(
        days=locale_str(
            f"Debates and their answers are deleted daily once this old (1–{RETENTION_MAX_DAYS}); 0: kept"
        )
    )
    async def retention(
        self,
        interaction: discord.Interaction[ParleyBot],
        days: app_commands.Range[int, 0, RETENTION_MAX_DAYS],
    ) -> None:
        assert interaction.guild_id is not None
        await acknowledge_privately(interaction)
        await self.bot.privacy.set_retention(interaction.guild_id, interaction.user.id, days)
        if days:
            reply = ngettext(
                "Debates started more than {days} day ago, and their answers, are now deleted here "
                "once a day.",
                "Debates started more than {days} days ago, and their answers, are now deleted here "
                "once a day.",
                days,
            ).format(days=days)
        else:
            reply = _("Debates are now kept here until a moderator deletes them (`/parley forget`).")
        await send_private(interaction, reply)

    @parley.command(
        name=locale_str("forget"),
        description=locale_str("Delete the debates a member started here, at their request"),
    )
    @app_commands.rename(member=locale_str("member"))
    @app_commands.describe(
        member=locale_str("The member whose debates (questions, answers, verdicts) are deleted")
    )
    async def forget(self, interaction: discord.Interaction[ParleyBot], member: discord.User) -> None:
        assert interaction.guild_id is not None
        await acknowledge_privately(interaction)
        deleted, running, votes = await self.bot.privacy.forget_member(
            interaction.guild_id, interaction.user.id, member.id
        )
        reply = ngettext(
            "Deleted {count} debate {member} started here.",
            "Deleted {count} debates {member} started here.",
            deleted,
        ).format(count=deleted, member=member.mention)
        if votes:
            reply += " " + ngettext(
                "Their vote on a debate here was deleted too.",
                "Their {count} votes on debates here were deleted too.",
                votes,
            ).format(count=votes)
        if running:
            reply += " " + ngettext(
                "{count} still running is kept: run this again once it has ended.",
                "{count} still running are kept: run this again once they have ended.",
                running,
            ).format(count=running)
        await send_private(interaction, reply)

    @parley.command(
        name=locale_str("audit"),
        description=locale_str("Show the latest changes to this server's panel and settings"),
    )
    async def audit(self, interaction: discord.Interaction[ParleyBot]) -> None:
        assert interaction.guild_id is not None
        entries = await self.bot.store.audit_log(interaction.guild_id, limit=AUDIT_ENTRIES)
        embed = discord.Embed.from_dict(dict(audit_embed(entries)))
        await send_private(interaction, embed=embed)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Parley was removed from the server (or it was deleted): delete everything of it."""
        await self.bot.privacy.guild_removed(guild.id)


async def setup(bot: ParleyBot) -> None:
    await bot.add_cog(ParleyCog(bot))
