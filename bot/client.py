"""``ParleyBot``: the Discord client. It receives its dependencies; it does not build them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.admission import Admission
from bot.continuations import ContinuationService
from bot.core.limits import Limits
from bot.core.llm import LLM
from bot.core.records import Storage
from bot.core.throttles import GlobalPacer
from bot.debates import CLOSING_WAIT_S, DebateService
from bot.errors import report
from bot.history import HistoryService
from bot.i18n import CatalogueTranslator, speak_to
from bot.metrics import Metrics, MetricsServer
from bot.posting.channels import ChannelSenders
from bot.privacy import PURGE_EVERY_S, PrivacyService, stop_task
from bot.ratelimits import RateLimits
from bot.recovery import recover
from bot.settings import Settings
from bot.ui import AnotherRoundButton, FollowUpButton, StopButton, TranscriptButton, VoteButton
from bot.votes import VoteService

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.debate", "cogs.personas", "cogs.parley", "cogs.history")

INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,  # see the channel a command is used in
    send_messages=True,  # post in a channel where threads cannot be opened
    embed_links=True,  # persona and verdict embeds
    attach_files=True,  # persona panel exports
    read_message_history=True,  # find the debate's messages again
    create_public_threads=True,  # one thread per debate
    send_messages_in_threads=True,  # the answers go into that thread
)
"""What the invite URL asks for (the README documents each bit; a test keeps them in step)."""

# The fields of a command that Discord keeps as we send them; everything else it adds or defaults.
_COMMAND_KEYS = (
    "type",
    "name",
    "name_localizations",
    "description",
    "description_localizations",
    "options",
    "default_member_permissions",
    "contexts",
    "nsfw",
)
_OPTION_KEYS = (
    "type",
    "name",
    "name_localizations",
    "description",
    "description_localizations",
    "required",
    "choices",
    "options",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    "autocomplete",
    "channel_types",
)


_CHOICE_KEYS = ("name", "name_localizations", "value")


def _canonical(value: Any, keys: tuple[str, ...]) -> Any:
    """A command or option as comparable data: only the keys that matter, falsy defaults dropped."""
    if isinstance(value, list):
        return [_canonical(item, keys) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key in keys:
        item = value.get(key)
        if item in (None, False, [], {}, ""):
            continue
        if key == "options":
            item = _canonical(item, _OPTION_KEYS)
        elif key == "choices":
            item = [_canonical(choice, _CHOICE_KEYS) for choice in item]
        elif key == "type" and keys is _COMMAND_KEYS and item == 1:
            continue  # chat input is the default type
        elif key == "default_member_permissions":
            item = str(item)  # sent as a number, stored as a string
        out[key] = item
    return out


def same_commands(local: list[dict[str, Any]], remote: list[dict[str, Any]]) -> bool:
    """Whether Discord already has exactly this command set (order of commands aside)."""

    def by_name(commands: list[dict[str, Any]]) -> list[Any]:
        return sorted((_canonical(command, _COMMAND_KEYS) for command in commands), key=lambda c: c["name"])

    return by_name(local) == by_name(remote)


class ParleyTree(app_commands.CommandTree["ParleyBot"]):
    """The command tree: every command answers in the member's language; its one error handler answers
    every failed command."""

    async def interaction_check(self, interaction: discord.Interaction[ParleyBot]) -> bool:
        speak_to(interaction)  # the command (and its autocomplete) runs in this same task
        return True

    async def on_error(
        self, interaction: discord.Interaction[ParleyBot], error: app_commands.AppCommandError
    ) -> None:
        await report(interaction, error)


class ParleyBot(commands.AutoShardedBot):
    """Parley on Discord: slash commands only, the ``guilds`` intent only, and it never pings anyone."""

    def __init__(
        self,
        *,
        settings: Settings,
        llm: LLM,
        store: Storage,
        purge_every_s: float = PURGE_EVERY_S,
        global_pacer: GlobalPacer | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``purge_every_s``: how often debates past their server's retention are deleted;
        ``global_pacer``: spaces requests under Discord's global limit (this process alone by default);
        ``metrics``: what is counted (shared with the Gemini client when given; served at ``/metrics``
        when ``METRICS_PORT`` is set)."""
        self.started_at = time.monotonic()
        self.metrics = metrics or Metrics()
        self.metrics.follow_shard_count(lambda: self.shard_count)
        self._metrics_server: MetricsServer | None = None
        # Parley never joins voice: spare operators discord.py's warnings about missing voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Every REST URL discord.py builds, webhooks and interaction callbacks included, starts here.
        Route.BASE = settings.discord_api_base
        self.rate_limits = RateLimits(global_pacer, on_rate_limited=self.metrics.rate_limited)
        shards: dict[str, Any] = {}
        if settings.shard_count is not None:
            shards["shard_count"] = settings.shard_count
        if settings.shard_ids is not None:
            shards["shard_ids"] = list(settings.shard_ids)
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ParleyTree,
            **shards,
            http_trace=self.rate_limits.trace_config,
        )
        self.settings = settings
        self.llm = llm
        self.store = store
        self.admission = Admission(
            store,
            store,
            Limits(settings.debate_cooldown_s, settings.max_debates_per_guild, settings.daily_token_budget),
        )
        self.run_id = secrets.token_hex(8)
        """Marks the debates this run starts: recovery closes only those of earlier runs."""
        self.senders = ChannelSenders(self, self.rate_limits)
        self.debates = DebateService(
            config=settings.debate_config(),
            llm=llm,
            store=store,
            admission=self.admission,
            senders=self.senders,
            rate_limits=self.rate_limits,
            run_id=self.run_id,
            deadline_s=settings.longest_debate_s,
            metrics=self.metrics,
        )
        self.continuations = ContinuationService(self.debates, store, run_id=self.run_id)
        self.privacy = PrivacyService(store, self.admission)
        self._purge_every_s = purge_every_s
        self._purge: asyncio.Task[None] | None = None
        self.history = HistoryService(store, usual_verdict_model=settings.verdict_model)
        self.votes = VoteService(store, self.rate_limits)
        self._recovery: asyncio.Task[None] | None = None
        self._stopping = False

    async def setup_hook(self) -> None:
        if self.settings.metrics_port is not None:
            server = MetricsServer(self.metrics, self.settings.metrics_port)
            await server.start()  # MetricsPortUnavailable ends the start-up
            self._metrics_server = server
        if self.settings.custom_discord_api:
            await self._use_gateway_of_api_base()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # A press is answered whichever run of the bot showed the button.
        self.add_dynamic_items(StopButton, TranscriptButton, AnotherRoundButton, FollowUpButton, VoteButton)
        await self.tree.set_translator(CatalogueTranslator())  # command names in bot/locales/*
        await self.sync_commands()

    async def _use_gateway_of_api_base(self) -> None:
        """Take the gateway URL from ``GET {base}/gateway/bot``.

        discord.py connects to its hard-coded default gateway whenever the shard count is known and after
        an invalidated session, so the default itself is replaced; the shard count it reports is kept so
        that discord.py does not ask again.
        """
        shards, url, _limits = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        if self.settings.shard_count is None:
            self.shard_count = shards
        log.info("gateway %s (%d recommended shards)", url, shards)

    async def sync_commands(self) -> None:
        """Sync to ``DEV_GUILD_ID`` at every start (instant), or globally only when the set changed
        (localisations included)."""
        if self.settings.dev_guild_id is not None:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild.id)
            return
        assert self.application_id is not None  # set by login, before setup_hook
        translator = self.tree.translator
        local = [
            await command.get_translated_payload(self.tree, translator)
            if translator is not None
            else command.to_dict(self.tree)
            for command in self.tree.get_commands()
        ]
        # Docs get-global-application-commands: the localisations come back only with_localizations.
        remote = await self.http.request(
            Route("GET", "/applications/{application_id}/commands", application_id=self.application_id),
            params={"with_localizations": "true"},
        )
        if same_commands(local, list(remote)):
            log.info("global commands unchanged; not syncing")
            return
        synced = await self.tree.sync()
        log.info("synced %d global commands", len(synced))

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guilds (%s shards)", self.user, len(self.guilds), self.shard_count)
        if self._purge is None:
            self._purge = asyncio.create_task(
                self.privacy.purge_periodically(self._purge_every_s), name="retention purge"
            )
        if self._recovery is None:
            self._recovery = asyncio.create_task(self._recover_earlier_runs(), name="recovery")
            await asyncio.shield(self._recovery)

    async def _recover_earlier_runs(self) -> None:
        """Close the debates earlier runs left running (a shutdown waits for this to finish)."""
        closed = await recover(self, self.senders, self.store, self.admission, self.run_id)
        if closed:
            log.warning("closed %d debates a previous run left unfinished", closed)

    async def shutdown(self) -> None:
        """Stop gracefully: refuse new debates, give running ones the grace period, interrupt the rest
        (each posts what it had queued and its note), then disconnect."""
        if self._stopping:
            return
        self._stopping = True
        if self._recovery is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._recovery), CLOSING_WAIT_S)
        await self.admission.drain(self.settings.shutdown_grace_s)
        await self.interrupt_running(CLOSING_WAIT_S + 10, "stopping after the grace period")
        await self.senders.close()
        await self.close()

    async def close(self) -> None:
        """Stop the retention purge, the refreshes of votes and the metrics endpoint, then disconnect."""
        await stop_task(self._purge)
        await self.votes.close()
        if self._metrics_server is not None:
            await self._metrics_server.close()
            self._metrics_server = None
        await super().close()

    async def interrupt_running(self, wait_s: float, why: str) -> int:
        """Interrupt every debate still running (each posts what it had queued and its note) and wait up
        to ``wait_s`` for them to close; returns how many there were. New debates are refused first.
        ``why`` starts the log line."""
        left = await self.admission.drain(0)
        tasks = [ticket.task for ticket in left if ticket.task is not None and not ticket.task.done()]
        for task in tasks:
            task.cancel()
        log.log(
            logging.WARNING if tasks else logging.INFO, "%s, interrupting %d running debates", why, len(tasks)
        )
        if tasks:
            await asyncio.wait(tasks, timeout=wait_s)
        return len(tasks)
