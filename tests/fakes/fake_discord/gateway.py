"""The gateway websocket: HELLO/heartbeat/IDENTIFY/RESUME, compression, shards and dispatches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import WSMsgType, web

from .snowflake import shard_for

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON = dict[str, Any]

# Opcodes.
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11
REQUEST_SOUNDBOARD_SOUNDS = 31

# Intents.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT
ALL_INTENTS = (1 << 26) - 1

# Close codes Discord documents.
CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SEQ = 4007
CLOSE_RATE_LIMITED = 4008
CLOSE_INVALID_SHARD = 4010
CLOSE_INVALID_API_VERSION = 4012
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014
_CLOSE_REASONS = {
    CLOSE_UNKNOWN_ERROR: "Unknown error.",
    CLOSE_UNKNOWN_OPCODE: "Unknown opcode.",
    CLOSE_DECODE_ERROR: "Error while decoding payload.",
    CLOSE_NOT_AUTHENTICATED: "Not authenticated.",
    CLOSE_AUTHENTICATION_FAILED: "Authentication failed.",
    CLOSE_ALREADY_AUTHENTICATED: "Already authenticated.",
    CLOSE_INVALID_SEQ: "Invalid seq.",
    CLOSE_RATE_LIMITED: "Rate limited.",
    CLOSE_INVALID_SHARD: "Invalid shard.",
    CLOSE_INVALID_API_VERSION: "Invalid API version.",
    CLOSE_INVALID_INTENTS: "Invalid intent(s).",
    CLOSE_DISALLOWED_INTENTS: "Disallowed intent(s).",
}
MAX_CLIENT_PAYLOAD = 4096
SEND_LIMIT = (120, 60.0)


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...


class ZlibStreamCompressor:
    """``zlib-stream``: one deflate context per connection, every message ends in a Z_SYNC_FLUSH."""

    def __init__(self) -> None:
        self._ctx = zlib.compressobj()

    def compress(self, data: bytes) -> bytes:
        """Compress one message and flush so it is decodable on its own given the stream so far."""
        return self._ctx.compress(data) + self._ctx.flush(zlib.Z_SYNC_FLUSH)


class ZstdStreamCompressor:
    """``zstd-stream``: one zstd frame per connection, every message flushed as a complete block."""

    def __init__(self) -> None:
        import zstandard

        self._zstd = zstandard
        self._ctx = zstandard.ZstdCompressor().compressobj()

    def compress(self, data: bytes) -> bytes:
        """Compress one message and flush the block."""
        out: bytes = self._ctx.compress(data) + self._ctx.flush(self._zstd.COMPRESSOBJ_FLUSH_BLOCK)
        return out


@dataclass
class _Outgoing:
    text: str | None
    sent: asyncio.Future[float] | None = None
    close_code: int | None = None


class GatewayConnection:
    """One websocket: an ordered writer (compression is stateful) and the session it carries."""

    def __init__(self, ws: web.WebSocketResponse, *, compress: str | None, path: str = "/") -> None:
        self.ws = ws
        self.path = path
        self.compress = compress
        self.compressor: _Compressor | None = None
        if compress == "zlib-stream":
            self.compressor = ZlibStreamCompressor()
        elif compress == "zstd-stream":
            self.compressor = ZstdStreamCompressor()
        self.session: GatewaySession | None = None
        self.identified = False
        self.closing = False
        self.heartbeats: list[float] = []
        self.received: list[JSON] = []
        self._recv_window: list[float] = []
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._writer: asyncio.Task[None] = asyncio.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item.close_code is not None:
                    self.closing = True
                    reason = _CLOSE_REASONS.get(item.close_code, "").encode()
                    await self.ws.close(code=item.close_code, message=reason)
                    return
                assert item.text is not None
                if self.ws.closed:
                    raise ConnectionResetError("websocket closed")
                if self.compressor is not None:
                    await self.ws.send_bytes(self.compressor.compress(item.text.encode()))
                else:
                    await self.ws.send_str(item.text)
                if item.sent is not None and not item.sent.done():
                    item.sent.set_result(time.monotonic())
            except (ConnectionError, RuntimeError) as exc:
                if item.sent is not None and not item.sent.done():
                    item.sent.set_exception(exc)
                self.closing = True
                return

    def send(self, payload: JSON, *, track: bool = False) -> asyncio.Future[float] | None:
        """Queue a payload; with ``track`` returns a future resolving to the monotonic send time."""
        fut: asyncio.Future[float] | None = asyncio.get_running_loop().create_future() if track else None
        self._queue.put_nowait(_Outgoing(text=json.dumps(payload, separators=(",", ":")), sent=fut))
        return fut

    def close(self, code: int) -> None:
        """Queue a close frame after everything already queued."""
        if not self.closing:
            self.closing = True
            self._queue.put_nowait(_Outgoing(text=None, close_code=code))

    def note_received(self) -> bool:
        """Count a client payload against 120/60 s; False when over the limit."""
        now = time.monotonic()
        self._recv_window = [t for t in self._recv_window if now - t < SEND_LIMIT[1]]
        self._recv_window.append(now)
        return len(self._recv_window) <= SEND_LIMIT[0]

    async def shutdown(self, code: int = 1001) -> None:
        """Close the socket and stop the writer."""
        self.close(code)
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), 2.0)
        except (TimeoutError, asyncio.CancelledError):
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if not self.ws.closed:
            await self.ws.close(code=code)

    async def stop_writer(self) -> None:
        """Stop the writer task (connection gone)."""
        if not self._writer.done():
            self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


@dataclass
class GatewaySession:
    """An identified session: sequence numbers, replay buffer, current connection."""

    session_id: str
    shard_id: int
    shard_count: int
    intents: int
    identify: JSON
    seq: int = 0
    buffer: list[tuple[int, JSON]] = field(default_factory=list)
    connection: GatewayConnection | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    resumable: bool = True
    disconnected_at: float | None = None
    resumes: int = 0
    #: (URL path, transport compression) of every connection that carried this session.
    transports: list[tuple[str, str | None]] = field(default_factory=list)

    def owns(self, guild_id: int) -> bool:
        """Whether this shard receives the guild's events."""
        return shard_for(guild_id, self.shard_count) == self.shard_id

    def dispatch(self, event: str, data: JSON, *, track: bool = False) -> asyncio.Future[float] | None:
        """Number, buffer and (if connected) send one dispatch."""
        self.seq += 1
        payload: JSON = {"t": event, "s": self.seq, "op": DISPATCH, "d": data}
        self.buffer.append((self.seq, payload))
        if len(self.buffer) > 2000:
            del self.buffer[:1000]
        if self.connection is not None and not self.connection.closing:
            return self.connection.send(payload, track=track)
        return None


def _op(op: int, data: Any) -> JSON:
    return {"t": None, "s": None, "op": op, "d": data}


class Gateway:
    """Serves the websocket on the fake's HTTP port and routes dispatches to shard sessions."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()
        self.identify_count = 0
        self.closed_codes: list[int | None] = []
        self._state_changed = asyncio.Event()

    # ---- lifecycle -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every websocket (1001 going away)."""
        for conn in list(self.connections):
            await conn.shutdown(1001)
        self.connections.clear()

    def active_sessions(self) -> list[GatewaySession]:
        """Sessions with a live connection."""
        return [s for s in self.sessions.values() if s.connection is not None and not s.connection.closing]

    def session_for_shard(self, shard_id: int) -> GatewaySession | None:
        """The live session of a shard, if any."""
        for s in self.active_sessions():
            if s.shard_id == shard_id:
                return s
        return None

    async def wait_until_ready(self, shard_ids: list[int]) -> None:
        """Wait until every listed shard has a live, READY session."""
        while True:
            ready = {s.shard_id for s in self.active_sessions() if s.ready.is_set()}
            if all(sid in ready for sid in shard_ids):
                return
            self._state_changed.clear()
            await self._state_changed.wait()

    def _changed(self) -> None:
        self._state_changed.set()

    # ---- dispatching -----------------------------------------------------------------------------

    def dispatch(
        self, event: str, data: JSON, *, guild_id: int | None, intent: int | None = None
    ) -> list[GatewaySession]:
        """Send an event to every live or resumable session that owns ``guild_id`` (shard 0 for DMs)."""
        targets: list[GatewaySession] = []
        for session in self.sessions.values():
            if not session.resumable and session.connection is None:
                continue
            owns = session.owns(guild_id) if guild_id is not None else session.shard_id == 0
            if not owns or (intent is not None and not session.intents & intent):
                continue
            if not session.ready.is_set():
                continue
            session.dispatch(event, data)
            targets.append(session)
        return targets

    # ---- websocket handler -----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for the gateway URL."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        conn = GatewayConnection(
            ws, compress=compress if compress in ("zlib-stream", "zstd-stream") else None, path=request.path
        )
        self.connections.add(conn)
        try:
            if request.query.get("v") != "10":
                conn.close(CLOSE_INVALID_API_VERSION)
            elif request.query.get("encoding", "json") != "json":
                conn.close(CLOSE_DECODE_ERROR)
            elif compress is not None and conn.compressor is None:
                conn.close(CLOSE_UNKNOWN_ERROR)
            else:
                conn.send(
                    _op(
                        HELLO,
                        {"heartbeat_interval": self.fake.heartbeat_interval_ms, "_trace": ["fake-gateway"]},
                    )
                )
            async for msg in ws:
                if conn.closing:
                    continue
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        conn.close(CLOSE_DECODE_ERROR)
                    continue
                await self._on_text(conn, msg.data)
        finally:
            self.connections.discard(conn)
            await conn.stop_writer()
            self.closed_codes.append(ws.close_code)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                session.disconnected_at = time.monotonic()
                # A client closing with 1000/1001 ends its session; anything else may RESUME.
                if ws.close_code in (1000, 1001) and not conn.closing:
                    session.resumable = False
            self._changed()
        return ws

    async def _on_text(self, conn: GatewayConnection, text: str) -> None:
        if len(text.encode()) > MAX_CLIENT_PAYLOAD:
            conn.close(CLOSE_DECODE_ERROR)
            return
        if not conn.note_received():
            conn.close(CLOSE_RATE_LIMITED)
            return
        try:
            msg = json.loads(text)
            op = msg["op"]
        except (ValueError, KeyError, TypeError):
            conn.close(CLOSE_DECODE_ERROR)
            return
        conn.received.append(msg)
        data = msg.get("d")
        if op == HEARTBEAT:
            conn.heartbeats.append(time.monotonic())
            conn.send(_op(HEARTBEAT_ACK, None))
        elif op == IDENTIFY:
            self._identify(conn, data)
        elif op == RESUME:
            self._resume(conn, data)
        elif not conn.identified:
            conn.close(CLOSE_NOT_AUTHENTICATED if op in (3, 4, 8, 31) else CLOSE_UNKNOWN_OPCODE)
        elif op == REQUEST_GUILD_MEMBERS:
            self._request_members(conn, data)
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE, REQUEST_SOUNDBOARD_SOUNDS):
            pass
        else:
            conn.close(CLOSE_UNKNOWN_OPCODE)

    def _token_ok(self, token: object) -> bool:
        if not isinstance(token, str):
            return False
        return token.removeprefix("Bot ") == self.fake.token

    def _identify(self, conn: GatewayConnection, data: Any) -> None:
        if conn.identified:
            conn.close(CLOSE_ALREADY_AUTHENTICATED)
            return
        if not isinstance(data, dict):
            conn.close(CLOSE_DECODE_ERROR)
            return
        if not self._token_ok(data.get("token")):
            conn.close(CLOSE_AUTHENTICATION_FAILED)
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0 or intents & ~ALL_INTENTS:
            conn.close(CLOSE_INVALID_INTENTS)
            return
        if intents & PRIVILEGED_INTENTS & ~self.fake.privileged_intents:
            conn.close(CLOSE_DISALLOWED_INTENTS)
            return
        shard = data.get("shard", [0, 1])
        if (
            not isinstance(shard, list)
            or len(shard) != 2
            or not all(isinstance(x, int) for x in shard)
            or shard[1] < 1
            or not 0 <= shard[0] < shard[1]
        ):
            conn.close(CLOSE_INVALID_SHARD)
            return
        self.identify_count += 1
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            shard_id=shard[0],
            shard_count=shard[1],
            intents=intents,
            identify=data,
        )
        self.sessions[session.session_id] = session
        conn.identified = True
        conn.session = session
        session.connection = conn
        session.transports.append((conn.path, conn.compress))
        guilds = [
            g for g in self.fake.guilds.values() if self.fake.bot_user_id in g.members and session.owns(g.id)
        ]
        ready = {
            "v": 10,
            "user_settings": {},
            "user": self.fake.bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.resume_gateway_url,
            "shard": [session.shard_id, session.shard_count],
            "application": {"id": str(self.fake.application_id), "flags": self.fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake-region"],
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        session.dispatch("READY", ready)
        for guild in guilds:
            session.dispatch("GUILD_CREATE", self.fake.guild_create_payload(guild, session.intents))
        session.ready.set()
        self._changed()

    def _resume(self, conn: GatewayConnection, data: Any) -> None:
        if conn.identified:
            conn.close(CLOSE_ALREADY_AUTHENTICATED)
            return
        if not isinstance(data, dict) or not self._token_ok(data.get("token")):
            conn.close(CLOSE_AUTHENTICATION_FAILED)
            return
        session = self.sessions.get(str(data.get("session_id")))
        too_late = (
            session is not None
            and session.disconnected_at is not None
            and time.monotonic() - session.disconnected_at > self.fake.resume_window_s
        )
        if session is None or not session.resumable or session.connection is not None or too_late:
            conn.send(_op(INVALID_SESSION, False))
            return
        seq = data.get("seq")
        if not isinstance(seq, int) or seq > session.seq:
            conn.close(CLOSE_INVALID_SEQ)
            return
        conn.identified = True
        conn.session = session
        session.connection = conn
        session.disconnected_at = None
        session.resumes += 1
        session.transports.append((conn.path, conn.compress))
        for s, payload in session.buffer:
            if s > seq:
                conn.send(payload)
        session.dispatch("RESUMED", {"_trace": ["fake-gateway"]})
        self._changed()

    def _request_members(self, conn: GatewayConnection, data: Any) -> None:
        session = conn.session
        if session is None or not isinstance(data, dict):
            return
        guild_ids = data.get("guild_id")
        ids = guild_ids if isinstance(guild_ids, list) else [guild_ids]
        query = data.get("query")
        user_ids = data.get("user_ids")
        if query == "" and not session.intents & INTENT_GUILD_MEMBERS:
            conn.close(CLOSE_INVALID_INTENTS)
            return
        for raw in ids:
            if not str(raw).isdigit():
                continue
            guild = self.fake.guilds.get(int(str(raw)))
            if guild is None or not session.owns(guild.id):
                continue
            members = list(guild.members.values())
            if user_ids is not None:
                wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
                members = [m for m in members if m.id in wanted]
            elif isinstance(query, str) and query:
                members = [m for m in members if m.user.username.startswith(query)]
            limit = data.get("limit") or 0
            if limit:
                members = members[:limit]
            chunk: JSON = {
                "guild_id": str(guild.id),
                "members": [m.to_dict() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # ---- server-side controls --------------------------------------------------------------------

    def disconnect(self, shard_id: int, code: int = 4000) -> None:
        """Drop a shard's connection (its session stays resumable)."""
        session = self.session_for_shard(shard_id)
        if session is None or session.connection is None:
            raise RuntimeError(f"shard {shard_id} has no live gateway connection")
        session.connection.close(code)

    def request_reconnect(self, shard_id: int) -> None:
        """Send op 7 RECONNECT to a shard."""
        session = self.session_for_shard(shard_id)
        if session is None or session.connection is None:
            raise RuntimeError(f"shard {shard_id} has no live gateway connection")
        session.connection.send(_op(RECONNECT, None))

    def invalidate_session(self, shard_id: int, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION to a shard."""
        session = self.session_for_shard(shard_id)
        if session is None or session.connection is None:
            raise RuntimeError(f"shard {shard_id} has no live gateway connection")
        session.resumable = resumable
        session.connection.send(_op(INVALID_SESSION, resumable))
