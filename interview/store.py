"""Interview sessions, what each candidate did, hints released and submissions, kept in a database.

SQLite through SQLAlchemy by default (a file beside the dataset cache), PostgreSQL by URL for a
team serving many interviews from several worker processes.  Everything an interview produces is
written as it happens, so a server restart loses nothing, and every query is scoped to one session,
so candidates on one server never see each other's data.

Secrets (the interviewer's token, each candidate's link) are stored only as SHA-256 digests and
compared in constant time; the plain token exists only in the URL printed at launch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    create_engine,
    delete,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

INTERVIEWER_TOKEN = "interviewer_token_sha256"
#: after the time limit, the candidate may still submit (marked late) this long, unless the
#: interviewer sets another grace for the session
DEFAULT_GRACE_S = 120.0
#: how long a hint release can be undone, provided the candidate has not loaded a page since
UNDO_HINT_S = 10.0


class Clock(StrEnum):
    """Where a session's clock stands, which decides what its candidate may do."""

    WAITING = "waiting"  # not started: nothing is open yet
    RUNNING = "running"
    PAUSED = "paused"  # nothing is open while paused
    GRACE = "grace"  # past the limit: still open, a submission is marked late
    CLOSED = "closed"  # ended by the interviewer, or past the limit and the grace: all refused


class Refusal(StrEnum):
    """Why a candidate's request is refused, as the platform answers it for a script to act on (the
    message says it to a person): no link in the client, a link no session has (removed), a session
    the server cannot serve now or is preparing the data of, or the clock (:data:`CLOCK_REFUSALS`)."""

    NO_LINK = "no_link"
    LINK_REVOKED = "link_revoked"
    NOT_SERVED = "not_served"
    PREPARING = "preparing"
    NOT_STARTED = "not_started"
    PAUSED = "paused"
    OVER = "over"


#: the refusal of each clock that allows the candidate nothing
CLOCK_REFUSALS = {
    Clock.WAITING: Refusal.NOT_STARTED,
    Clock.PAUSED: Refusal.PAUSED,
    Clock.CLOSED: Refusal.OVER,
}


class InterviewClosed(ValueError):
    """A candidate's write refused because the clock does not allow it (the message says why, and
    ``clock`` where it stands)."""

    def __init__(self, message: str, clock: Clock) -> None:
        super().__init__(message)
        self.clock = clock


def now() -> datetime:
    return datetime.now(UTC)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(token: str, stored_digest: str) -> bool:
    """Whether ``token`` is the secret whose digest is stored, compared in constant time."""
    return hmac.compare_digest(digest(token), stored_digest)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class InterviewSession(Base):
    """One candidate's interview: which scenario, the candidate link's digest, and the clock."""

    __tablename__ = "interview_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    link_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    candidate: Mapped[str] = mapped_column(String(200))
    scenario_id: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    time_limit_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    paused_s: Mapped[float] = mapped_column(Float, default=0.0)
    extended_s: Mapped[float] = mapped_column(Float, default=0.0)  # time the interviewer added
    grace_s: Mapped[float] = mapped_column(Float, default=DEFAULT_GRACE_S)
    # when the interviewer ended the interview: the clock stops for good there (unless reopened)
    ended_at: Mapped[datetime | None]

    def elapsed_s(self, at: datetime | None = None) -> float:
        """Interview time used: from the start, minus pauses (a running pause counts up to ``at``),
        and never past the end: an ended interview's figure does not grow while it is scored."""
        if self.started_at is None:
            return 0.0
        at = at or now()
        until = self.ended_at or self.paused_at or at
        return max(0.0, (as_utc(until) - as_utc(self.started_at)).total_seconds() - self.paused_s)

    def limit_s(self) -> float:
        """The time limit with every extension the interviewer gave."""
        return self.time_limit_s + self.extended_s

    def remaining_s(self, at: datetime | None = None) -> float:
        return max(0.0, self.limit_s() - self.elapsed_s(at))

    def clock(self, at: datetime | None = None) -> Clock:
        if self.started_at is None:
            return Clock.WAITING
        if self.ended_at is not None:
            return Clock.CLOSED
        if self.paused_at is not None:
            return Clock.PAUSED
        elapsed = self.elapsed_s(at)
        if elapsed <= self.limit_s():
            return Clock.RUNNING
        return Clock.GRACE if elapsed <= self.limit_s() + self.grace_s else Clock.CLOSED

    def refusal(self, at: datetime | None = None) -> str | None:
        """Why the candidate may not work now (for them to read), or None while they may."""
        clock = self.clock(at)
        if clock is Clock.WAITING:
            return "Your interviewer has not started the interview yet: this opens when they do."
        if clock is Clock.PAUSED:
            return "Your interviewer has paused the interview: this opens again when they resume it."
        if clock is Clock.CLOSED and self.ended_at is not None:
            return (
                "Your interviewer has ended the interview. Investigation, notes and submissions are"
                " closed; your interviewer has everything you sent before."
            )
        if clock is Clock.CLOSED:
            return (
                f"Time is up: the interview closed after its {self.limit_s() / 60:g} min and"
                f" {self.grace_s / 60:g} min of grace. Investigation, notes and submissions are closed;"
                " your interviewer has everything you sent before."
            )
        return None


class Event(Base):
    """One thing the candidate (or the interviewer, for hints) did, with wall and simulated time."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), index=True
    )
    wall_time: Mapped[datetime]
    sim_time: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class ApiToken(Base):
    """A candidate's API token (its digest): what a script or Grafana sends instead of the cookie.

    The token is derived from the candidate's link (:func:`api_token`), so their pages can show it
    again at any time while only its digest is stored; a row is added the first time it is shown.
    """

    __tablename__ = "api_tokens"
    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), index=True
    )


def api_token(link_token: str) -> str:
    """The API token of the candidate whose link is ``link_token``: a keyed digest of the link, so it
    reveals nothing of the link (a token pasted into a tool's settings does not open the platform's
    pages), and is the same every time it is shown."""
    return (
        "o11y_"
        + hmac.new(link_token.encode(), b"obsim prometheus api token", hashlib.sha256).hexdigest()[:40]
    )


class HintRelease(Base):
    """A hint given to a session's candidate; ``seen_at`` is when a page shown to them first
    carried it (None until then, which is what lets the interviewer still undo the release)."""

    __tablename__ = "hint_releases"
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    hint_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    released_at: Mapped[datetime]
    seen_at: Mapped[datetime | None]


class ReplacedLink(Base):
    """A candidate link the interviewer replaced by a new one, kept as its digest so that opening
    it is refused with the reason (replaced) rather than as an unknown link."""

    __tablename__ = "replaced_links"
    link_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), index=True
    )
    replaced_at: Mapped[datetime]


class SubmissionRecord(Base):
    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), index=True
    )
    submitted_at: Mapped[datetime]
    late: Mapped[bool]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    automatic_score: Mapped[dict[str, Any]] = mapped_column(JSON)


class RubricRecord(Base):
    """The interviewer's rubric score for a session (the latest one counts)."""

    __tablename__ = "rubric_scores"
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    scored_at: Mapped[datetime]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


def _event(session_id: str, kind: str, detail: dict[str, Any], sim_time: float | None = None) -> Event:
    return Event(session_id=session_id, wall_time=now(), sim_time=sim_time, kind=kind, detail=detail)


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored here is UTC (PostgreSQL's are read in UTC
    too, whatever the server's time zone)."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _interview(db: Session, session_id: str) -> InterviewSession:
    """The session's row in this transaction (KeyError when there is none)."""
    interview = db.get(InterviewSession, session_id)
    if interview is None:
        raise KeyError(session_id)
    return interview


def _engine(url: str) -> Engine:
    """An engine fit for several server processes writing at once.

    SQLite: a 30 s busy timeout, so a worker waits for another's write instead of failing with
    "database is locked" (writes here are single small rows); and write-ahead logging, so the
    candidates' reads (every request checks its link) never wait for a write nor a write for them,
    and a commit appends to the log without a sync of its own (``synchronous=NORMAL``: an
    application crash loses nothing, a power cut at most the last commits).  Every candidate
    request records one row: with the default rollback journal each commit's sync (16 ms at the
    median, 140 ms at worst on a busy disk) held the database, and 30 candidates queued behind it.
    PostgreSQL (or any server): connections are checked before use, so a worker survives a
    database restart.
    """
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _write_ahead)
        return engine
    # every timestamp read back in UTC, as the pages label them, whatever the server's time zone
    return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})


def _write_ahead(connection: Any, _: Any) -> None:
    """Write-ahead logging for a SQLite file (an in-memory database keeps its own journal)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: columns added after a table's first release: table -> column -> its SQL type and default
_LATER_COLUMNS = {
    "interview_sessions": {
        "extended_s": "FLOAT NOT NULL DEFAULT 0",
        "grace_s": f"FLOAT NOT NULL DEFAULT {DEFAULT_GRACE_S}",
        "ended_at": "TIMESTAMP WITH TIME ZONE",
    },
    "hint_releases": {"seen_at": "TIMESTAMP WITH TIME ZONE"},  # NULL: an older release, long past undoing
}


def _add_later_columns(engine: Engine) -> None:
    """Give a database made by an earlier obsim the columns added since (``create_all`` makes
    missing tables, never missing columns), so an existing interviews file keeps working."""
    for table, columns in _LATER_COLUMNS.items():
        present = {column["name"] for column in inspect(engine).get_columns(table)}
        with engine.begin() as connection:
            for name, definition in columns.items():
                if name not in present:
                    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {definition}"))


class InterviewStore:
    """The interviews database: create it with a SQLAlchemy URL, then use its operations."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = _engine(url)
        Base.metadata.create_all(self.engine)
        _add_later_columns(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # -- the interviewer's secret -------------------------------------------------------------------
    def interviewer_token(self, reset: bool = False) -> str | None:
        """A new interviewer token the first time or on ``reset`` (returned once, stored as a digest);
        None when one exists, which keeps working across restarts."""
        with self.transaction() as db:
            stored = db.get(Setting, INTERVIEWER_TOKEN)
            if stored is not None and not reset:
                return None
            token = secrets.token_urlsafe(24)
            if stored is None:
                db.add(Setting(key=INTERVIEWER_TOKEN, value=digest(token)))
            else:
                stored.value = digest(token)
            return token

    def is_interviewer(self, token: str) -> bool:
        with self.transaction() as db:
            stored = db.get(Setting, INTERVIEWER_TOKEN)
            return stored is not None and bool(token) and same_secret(token, stored.value)

    # -- sessions ------------------------------------------------------------------------------------
    def create_session(
        self, candidate: str, scenario_id: str, seed: int, time_limit_s: float
    ) -> tuple[str, str]:
        """A new session; returns its id and the candidate's link token (shown once)."""
        token = secrets.token_urlsafe(24)
        session_id = secrets.token_hex(8)
        with self.transaction() as db:
            db.add(
                InterviewSession(
                    id=session_id,
                    link_digest=digest(token),
                    candidate=candidate,
                    scenario_id=scenario_id,
                    seed=seed,
                    time_limit_s=time_limit_s,
                    created_at=now(),
                    started_at=None,
                    paused_at=None,
                    paused_s=0.0,
                    extended_s=0.0,
                    grace_s=DEFAULT_GRACE_S,
                )
            )
        return session_id, token

    def session_for_link(self, token: str) -> InterviewSession | None:
        with self.transaction() as db:
            return db.scalar(select(InterviewSession).where(InterviewSession.link_digest == digest(token)))

    def api_token_for(self, session_id: str, link_token: str) -> str:
        """The API token of the session whose link is ``link_token``, made usable (its digest
        stored) the first time it is asked for."""
        token = api_token(link_token)
        try:
            with self.transaction() as db:
                if db.get(ApiToken, digest(token)) is None:
                    db.add(ApiToken(token_digest=digest(token), session_id=session_id))
        except IntegrityError:  # another of the candidate's requests stored it first
            pass
        return token

    def session_for_api_token(self, token: str) -> InterviewSession | None:
        with self.transaction() as db:
            found = db.get(ApiToken, digest(token))
            return db.get(InterviewSession, found.session_id) if found is not None else None

    def new_link(self, session_id: str) -> str | None:
        """A new candidate link token for the session (returned once), revoking the one it had; None
        when there is no such session."""
        token = secrets.token_urlsafe(24)
        with self.transaction() as db:
            interview = db.get(InterviewSession, session_id)
            if interview is None:
                return None
            db.add(ReplacedLink(link_digest=interview.link_digest, session_id=session_id, replaced_at=now()))
            interview.link_digest = digest(token)
            # the API token was derived from the old link: it goes with it
            db.execute(delete(ApiToken).where(ApiToken.session_id == session_id))
        return token

    def link_replaced(self, token: str) -> bool:
        """Whether ``token`` was a session's candidate link until the interviewer made a new one."""
        with self.transaction() as db:
            return db.get(ReplacedLink, digest(token)) is not None

    def get(self, session_id: str) -> InterviewSession | None:
        with self.transaction() as db:
            return db.get(InterviewSession, session_id)

    def sessions(self) -> list[InterviewSession]:
        with self.transaction() as db:
            return list(db.scalars(select(InterviewSession).order_by(InterviewSession.created_at)))

    def delete(self, session_id: str) -> bool:
        """Remove a session and everything recorded for it."""
        with self.transaction() as db:
            for table in (Event, HintRelease, ReplacedLink, SubmissionRecord, RubricRecord, ApiToken):
                db.execute(delete(table).where(table.session_id == session_id))
            return db.execute(delete(InterviewSession).where(InterviewSession.id == session_id)).rowcount > 0

    # -- the clock -----------------------------------------------------------------------------------
    def start(self, session_id: str) -> None:
        with self.transaction() as db:
            interview = _interview(db, session_id)
            if interview.started_at is None:
                interview.started_at = now()  # the timeline shows the start from this moment
            elif interview.ended_at is not None:  # only Reopen reopens (a stale Resume does not)
                return
            elif interview.paused_at is not None:
                interview.paused_s += (now() - as_utc(interview.paused_at)).total_seconds()
                interview.paused_at = None
                db.add(_event(session_id, "clock", {"change": "resumed"}))

    def pause(self, session_id: str) -> None:
        with self.transaction() as db:
            interview = _interview(db, session_id)
            if (
                interview.started_at is not None
                and interview.paused_at is None
                and interview.ended_at is None
            ):
                interview.paused_at = now()
                db.add(_event(session_id, "clock", {"change": "paused"}))

    def reopen(self, session_id: str) -> None:
        """Reopen an ended interview: the time it stood ended does not count."""
        with self.transaction() as db:
            interview = _interview(db, session_id)
            if interview.ended_at is not None:
                interview.paused_s += (now() - as_utc(interview.ended_at)).total_seconds()
                interview.ended_at = None
                db.add(_event(session_id, "clock", {"change": "reopened"}))

    def end(self, session_id: str) -> None:
        """End a started interview: the clock stops where it stands (a pause in progress is folded
        into the time not counted), so the time used, the scorecard and every figure stay as they
        were when the candidate finished, and the candidate can no longer investigate or submit.
        An interview its time already closed ends at the moment it closed.  ``reopen`` undoes it."""
        with self.transaction() as db:
            interview = _interview(db, session_id)
            if interview.started_at is None or interview.ended_at is not None:
                return
            if interview.paused_at is not None:
                interview.paused_s += (now() - as_utc(interview.paused_at)).total_seconds()
                interview.paused_at = None
            if interview.clock() is Clock.CLOSED:  # its time ran out: it ended when it closed
                allowed = interview.paused_s + interview.limit_s() + interview.grace_s
                interview.ended_at = as_utc(interview.started_at) + timedelta(seconds=allowed)
            else:
                interview.ended_at = now()
            db.add(_event(session_id, "clock", {"change": "ended"}))

    def extend(self, session_id: str, seconds: float) -> None:
        """Give the candidate more time (reopening an interview its time limit closed; one the
        interviewer ended stays ended until ``reopen``); noted on the timeline."""
        with self._clock_change(session_id, {"extended_by_s": seconds}) as interview:
            interview.extended_s += seconds

    def set_grace(self, session_id: str, seconds: float) -> None:
        """How long after the limit a (late) submission is still taken; noted on the timeline."""
        with self._clock_change(session_id, {"grace_s": seconds}) as interview:
            interview.grace_s = seconds

    @contextmanager
    def _clock_change(self, session_id: str, detail: dict[str, Any]) -> Iterator[InterviewSession]:
        with self.transaction() as db:
            interview = _interview(db, session_id)
            yield interview
            db.add(_event(session_id, "clock", detail))

    # -- what happens in a session -------------------------------------------------------------------
    def record(
        self, session_id: str, kind: str, detail: dict[str, Any], sim_time: float | None = None
    ) -> None:
        with self.transaction() as db:
            db.add(_event(session_id, kind, detail, sim_time))

    def events(self, session_id: str) -> list[Event]:
        with self.transaction() as db:
            return list(db.scalars(select(Event).where(Event.session_id == session_id).order_by(Event.id)))

    def release_hint(self, session_id: str, hint_index: int) -> bool:
        """Release a hint to the candidate (once); False when it already was."""
        with self.transaction() as db:
            if db.get(HintRelease, (session_id, hint_index)) is not None:
                return False
            interview = db.get(InterviewSession, session_id)
            # the interview clock at the release (pauses excluded), so a hint given early can be told
            clock_s = round(interview.elapsed_s(), 1) if interview is not None else None
            db.add(HintRelease(session_id=session_id, hint_index=hint_index, released_at=now(), seen_at=None))
            db.add(_event(session_id, "hint", {"index": hint_index, "clock_s": clock_s}))
            return True

    def released_hints(self, session_id: str) -> list[int]:
        with self.transaction() as db:
            rows = db.scalars(
                select(HintRelease.hint_index)
                .where(HintRelease.session_id == session_id)
                .order_by(HintRelease.released_at)
            )
            return list(rows)

    def hints_for_candidate(self, session_id: str) -> list[int]:
        """The released hints, for a page shown to the candidate, who from then on has seen them.

        The one way a candidate's page reads its hints: marking them seen is what makes
        :meth:`withdraw_hint` refuse a hint the candidate may have read.  The page gets the releases
        already seen (those can no longer be withdrawn) and the ones this call marks, in a single
        conditional write (``seen_at IS NULL``, returning what it marked) that the withdrawal's
        single conditional delete races against: the database orders the two, so a hint is either
        withdrawn and not on the page, or on the page and kept.  The write runs only after a
        release, in a transaction of its own that starts with it, so a page costs one read otherwise
        and never upgrades a read lock into a write one (SQLite's deadlock).
        """
        with self.transaction() as db:
            rows = db.execute(
                select(HintRelease.hint_index, HintRelease.seen_at)
                .where(HintRelease.session_id == session_id)
                .order_by(HintRelease.released_at)
            ).all()
        unseen = [index for index, seen_at in rows if seen_at is None]
        marked: set[int] = set()
        if unseen:
            with self.transaction() as db:
                marked = set(
                    db.scalars(
                        update(HintRelease)
                        .where(
                            HintRelease.session_id == session_id,
                            HintRelease.hint_index.in_(unseen),
                            HintRelease.seen_at.is_(None),
                        )
                        .values(seen_at=now())
                        .returning(HintRelease.hint_index)
                    )
                )
        return [index for index, seen_at in rows if seen_at is not None or index in marked]

    def undoable_hints(self, session_id: str) -> dict[int, datetime]:
        """Releases that can still be undone (unseen and recent), each with when that ends."""
        with self.transaction() as db:
            rows = db.scalars(
                select(HintRelease).where(
                    HintRelease.session_id == session_id,
                    HintRelease.seen_at.is_(None),
                    HintRelease.released_at >= now() - timedelta(seconds=UNDO_HINT_S),
                )
            )
            return {row.hint_index: as_utc(row.released_at) + timedelta(seconds=UNDO_HINT_S) for row in rows}

    def withdraw_hint(self, session_id: str, hint_index: int) -> str | None:
        """Undo a hint's release: only within :data:`UNDO_HINT_S` of it and only while no page
        shown to the candidate has carried it.  The withdrawal is noted on the timeline; returns
        None when withdrawn, else why not (for the interviewer to read)."""
        with self.transaction() as db:
            withdrawn = db.execute(
                delete(HintRelease).where(
                    HintRelease.session_id == session_id,
                    HintRelease.hint_index == hint_index,
                    HintRelease.seen_at.is_(None),
                    HintRelease.released_at >= now() - timedelta(seconds=UNDO_HINT_S),
                )
            ).rowcount
            if withdrawn:
                db.add(_event(session_id, "hint_withdrawn", {"index": hint_index}))
                return None
            release = db.get(HintRelease, (session_id, hint_index))
        if release is None:
            return f"Hint {hint_index + 1} is not released: there is nothing to undo."
        if release.seen_at is not None:
            return (
                f"Hint {hint_index + 1} stays released: the candidate's page showed it at"
                f" {as_utc(release.seen_at):%H:%M:%S} UTC."
            )
        return f"Hint {hint_index + 1} stays released: a release can be undone for {UNDO_HINT_S:g} s only."

    def submit(
        self, session_id: str, body: dict[str, Any], automatic_score: dict[str, Any]
    ) -> SubmissionRecord:
        """Store a validated submission with its automatic score; late in the grace after the limit.

        Refused (:class:`InterviewClosed`) unless the clock runs or is in its grace: decided here, in
        the transaction that stores it, so no submission slips in as the interview closes."""
        with self.transaction() as db:
            interview = _interview(db, session_id)
            refusal = interview.refusal()
            if refusal is not None:
                raise InterviewClosed(refusal, interview.clock())
            late = interview.clock() is Clock.GRACE
            record = SubmissionRecord(
                session_id=session_id,
                submitted_at=now(),
                late=late,
                body=body,
                automatic_score=automatic_score,
            )
            db.add(record)
            db.add(_event(session_id, "submission", {"late": late}))
            return record

    def submissions(self, session_id: str) -> list[SubmissionRecord]:
        with self.transaction() as db:
            rows = select(SubmissionRecord).where(SubmissionRecord.session_id == session_id)
            return list(db.scalars(rows.order_by(SubmissionRecord.id)))

    def score_rubric(self, session_id: str, body: dict[str, Any]) -> RubricRecord:
        """Store the interviewer's rubric score (replacing an earlier one) and note it on the timeline."""
        with self.transaction() as db:
            if db.get(InterviewSession, session_id) is None:
                raise KeyError(session_id)
            record = db.get(RubricRecord, session_id)
            if record is None:
                record = RubricRecord(session_id=session_id, scored_at=now(), body=body)
                db.add(record)
            else:
                record.scored_at, record.body = now(), body
            db.add(_event(session_id, "rubric", {"level": body.get("level")}))
            return record

    def rubric(self, session_id: str) -> RubricRecord | None:
        with self.transaction() as db:
            return db.get(RubricRecord, session_id)
