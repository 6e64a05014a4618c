"""The tables Parley keeps, as the newest migration leaves them (Alembic compares against ``metadata``)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from bot.core.validation import MODEL_NAME_MAX_LENGTH, NAME_MAX_LENGTH

# Full Unicode case folding maps one code point to at most three (CaseFolding.txt, status F: "ΐ" becomes
# "ΐ"), so the folded key of a valid name can be three times as long as the name.
NAME_KEY_LENGTH = 3 * NAME_MAX_LENGTH

metadata = MetaData()

guilds = Table(
    "guilds",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("moderator_role_id", BigInteger, nullable=True),
    Column("cooldown_s", Integer, nullable=True),
    Column("max_debates", Integer, nullable=True),
    Column("daily_token_budget", BigInteger, nullable=True),
    Column("retention_days", Integer, nullable=True),
    Column("language", String(16), nullable=True),
)
LIMIT_COLUMNS = ("cooldown_s", "max_debates", "daily_token_budget")

personas = Table(
    "personas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, ForeignKey("guilds.guild_id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(NAME_MAX_LENGTH), nullable=False),
    Column("name_key", String(NAME_KEY_LENGTH), nullable=False),
    Column("emoji", String(100), nullable=False),
    Column("instructions", Text, nullable=False),
    Column("colour", Integer, nullable=False),
    Column("model", String(100), nullable=True),
    Column("grounded", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("guild_id", "name_key", name="uq_personas_guild_name"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_id", BigInteger, nullable=False),
    Column("action", String(32), nullable=False),
    Column("summary", Text, nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
)

token_usage = Table(
    "token_usage",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("tokens", BigInteger, nullable=False),
)

debates = Table(
    "debates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("channel_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("question", Text, nullable=False),
    Column("panel", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status_message_id", BigInteger, nullable=True),
    Column("posts_channel_id", BigInteger, nullable=True),
    Column("verdict", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("wall_s", Float, nullable=True),
    Column("persona_sum_s", Float, nullable=True),
    Column("verdict_s", Float, nullable=True),
    Column("tokens", BigInteger, nullable=True),
    Column("run_id", String(32), nullable=True),
    Column("rounds", Integer, nullable=False, server_default="1"),
    Column("judge_order", JSON, nullable=True),
    Column("verdict_model", String(MODEL_NAME_MAX_LENGTH), nullable=True),
    Column(
        "continues_id",
        Integer,
        ForeignKey("debates.id", name="fk_debates_continues_id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("root_id", Integer, nullable=True, index=True),
    Column("kind", String(16), nullable=True),
    Column("next_round_id", Integer, nullable=True),
    Column("language", String(16), nullable=True),
    Index("ix_debates_guild_started", "guild_id", "started_at"),
    Index("ix_debates_guild_user", "guild_id", "user_id"),
)

debate_replies = Table(
    "debate_replies",
    metadata,
    Column("debate_id", Integer, ForeignKey("debates.id", ondelete="CASCADE"), primary_key=True),
    Column("round", Integer, primary_key=True, autoincrement=False),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("persona", String(NAME_MAX_LENGTH), nullable=False),
    Column("text", Text, nullable=True),
    Column("failure", Text, nullable=True),
    Column("cut_off", Boolean, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("stance", String(16), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("key_claim", Text, nullable=True),
)

debate_votes = Table(
    "debate_votes",
    metadata,
    Column("debate_id", Integer, ForeignKey("debates.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("position", Integer, nullable=False),
    Column("voted_at", DateTime(timezone=True), nullable=False),
)
"""Each member's vote for the most convincing persona of a debate (its panel position): one per member."""
