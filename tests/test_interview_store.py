"""The interviews database: secrets kept as digests, sessions isolated, the clock, restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from interview import store as store_module
from interview.store import DEFAULT_GRACE_S, Clock, InterviewStore, digest


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'interviews.sqlite'}"


def test_the_interviewer_token_is_issued_once_and_kept_only_as_a_digest(url, tmp_path):
    store = InterviewStore(url)
    token = store.interviewer_token()
    assert token and len(token) >= 32
    assert store.interviewer_token() is None, "a second launch must not mint a new secret"
    assert store.is_interviewer(token)
    assert not store.is_interviewer(token[:-1] + ("a" if token[-1] != "a" else "b"))
    assert not store.is_interviewer("")
    on_disk = b"".join(path.read_bytes() for path in tmp_path.glob("interviews.sqlite*"))  # and its WAL
    assert token.encode() not in on_disk
    assert digest(token).encode() in on_disk


def test_everything_survives_a_restart(url):
    first = InterviewStore(url)
    token = first.interviewer_token()
    session_id, link = first.create_session("Ada", "connection-leak", 1, 18 * 60)
    first.start(session_id)
    first.record(session_id, "query", {"view": "logs", "query": '{level="error"}'}, sim_time=1773155000.0)
    first.release_hint(session_id, 0)
    first.submit(session_id, {"root_cause": "leak"}, {"total": 40.0})
    first.engine.dispose()

    again = InterviewStore(url)
    assert again.is_interviewer(token)
    interview = again.session_for_link(link)
    assert interview is not None and interview.id == session_id and interview.candidate == "Ada"
    assert [e.kind for e in again.events(session_id)] == ["query", "hint", "submission"]
    assert again.events(session_id)[0].sim_time == 1773155000.0
    assert again.released_hints(session_id) == [0]
    assert again.submissions(session_id)[0].automatic_score == {"total": 40.0}


def test_sessions_do_not_see_each_other(url):
    store = InterviewStore(url)
    ada, ada_link = store.create_session("Ada", "cron-storm", 1, 900)
    bob, bob_link = store.create_session("Bob", "cron-storm", 1, 900)
    store.record(ada, "view", {"path": "/logs"})
    store.release_hint(bob, 1)
    assert ada_link != bob_link
    assert store.session_for_link(ada_link).id == ada
    assert store.session_for_link("not-a-link") is None
    assert [e.detail for e in store.events(ada)] == [{"path": "/logs"}]
    assert store.released_hints(ada) == [] and store.released_hints(bob) == [1]


def test_a_hint_is_released_once(url):
    store = InterviewStore(url)
    session_id, _ = store.create_session("Ada", "cron-storm", 1, 900)
    assert store.release_hint(session_id, 2) is True
    assert store.release_hint(session_id, 2) is False
    assert [e.kind for e in store.events(session_id)] == ["hint"]


def test_the_clock_pauses_and_a_submission_after_the_limit_is_late(url, monkeypatch):
    store = InterviewStore(url)
    session_id, _ = store.create_session("Ada", "cron-storm", 1, 600)
    clock = [store_module.now()]
    monkeypatch.setattr(store_module, "now", lambda: clock[0])
    store.start(session_id)
    clock[0] += timedelta(seconds=100)
    store.pause(session_id)
    clock[0] += timedelta(seconds=1000)  # paused: does not count
    assert store.get(session_id).elapsed_s(clock[0]) == pytest.approx(100)
    store.start(session_id)
    clock[0] += timedelta(seconds=200)
    assert store.get(session_id).remaining_s(clock[0]) == pytest.approx(300)
    assert store.submit(session_id, {}, {"total": 0}).late is False
    clock[0] += timedelta(seconds=400)  # 100 s into the default grace
    assert store.get(session_id).clock(clock[0]) is Clock.GRACE
    assert store.submit(session_id, {}, {"total": 0}).late is True
    store.extend(session_id, 300)
    assert store.get(session_id).clock(clock[0]) is Clock.RUNNING
    assert store.get(session_id).remaining_s(clock[0]) == pytest.approx(200)


def test_an_interview_ended_while_paused_counts_the_time_before_the_pause(url, monkeypatch):
    """Ending folds a pause in progress into the time not counted, refuses the candidate's writes,
    and stops the clock for good: neither a pause nor time passing moves it until it is reopened."""
    store = InterviewStore(url)
    session_id, _ = store.create_session("Ada", "cron-storm", 1, 600)
    clock = [store_module.now()]
    monkeypatch.setattr(store_module, "now", lambda: clock[0])
    store.end(session_id)  # not started: nothing to end
    assert store.get(session_id).clock(clock[0]) is Clock.WAITING
    store.start(session_id)
    clock[0] += timedelta(seconds=100)
    store.pause(session_id)
    clock[0] += timedelta(seconds=50)
    store.end(session_id)
    clock[0] += timedelta(seconds=5000)
    store.pause(session_id)  # no pause of an ended interview
    ended = store.get(session_id)
    assert ended.clock(clock[0]) is Clock.CLOSED and ended.paused_at is None
    assert ended.elapsed_s(clock[0]) == pytest.approx(100)
    with pytest.raises(store_module.InterviewClosed, match="ended the interview"):
        store.submit(session_id, {}, {"total": 0})
    store.start(session_id)  # Start or Resume leaves an ended interview ended
    assert store.get(session_id).clock(clock[0]) is Clock.CLOSED
    store.reopen(session_id)  # the 5,050 s stopped are not counted
    clock[0] += timedelta(seconds=20)
    assert store.get(session_id).elapsed_s(clock[0]) == pytest.approx(120)
    assert store.submit(session_id, {}, {"total": 0}).late is False
    changes = [e.detail["change"] for e in store.events(session_id) if e.kind == "clock"]
    assert changes == ["paused", "ended", "reopened"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_database_from_before_the_clock_columns_gets_them(database, url, request):
    """An interviews database an earlier obsim made, without extended_s, grace_s and ended_at, nor
    the hint releases' seen_at, keeps working."""
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else url
    store = InterviewStore(url)
    session_id, _ = store.create_session("Ada", "cron-storm", 1, 600)
    store.release_hint(session_id, 0)
    with store.engine.begin() as connection:
        for column in ("extended_s", "grace_s", "ended_at"):
            connection.execute(text(f"ALTER TABLE interview_sessions DROP COLUMN {column}"))
        connection.execute(text("ALTER TABLE hint_releases DROP COLUMN seen_at"))
    store.engine.dispose()
    again = InterviewStore(url)
    assert again.get(session_id).grace_s == DEFAULT_GRACE_S and again.get(session_id).extended_s == 0
    assert again.get(session_id).ended_at is None
    assert again.hints_for_candidate(session_id) == [0]  # shown to the candidate: no undoing it now
    assert again.withdraw_hint(session_id, 0) is not None and again.released_hints(session_id) == [0]


def test_deleting_a_session_removes_all_its_data(url):
    store = InterviewStore(url)
    keep, _ = store.create_session("Ada", "cron-storm", 1, 900)
    gone, link = store.create_session("Bob", "cron-storm", 1, 900)
    for session_id in (keep, gone):
        store.start(session_id)
        store.record(session_id, "view", {"path": "/"})
        store.release_hint(session_id, 0)
        store.submit(session_id, {}, {"total": 0})
    assert store.delete(gone) is True
    assert store.get(gone) is None and store.session_for_link(link) is None
    assert store.events(gone) == [] and store.submissions(gone) == [] and store.released_hints(gone) == []
    assert len(store.events(keep)) == 3
    assert store.delete(gone) is False


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_hint_release_is_withdrawn_only_until_a_candidate_page_carries_it(database, url, request):
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else url
    store = InterviewStore(url)
    session_id, _ = store.create_session("Ada", "connection-leak", 1, 600)
    assert store.release_hint(session_id, 0) and store.release_hint(session_id, 1)
    assert set(store.undoable_hints(session_id)) == {0, 1}
    assert store.withdraw_hint(session_id, 1) is None
    assert store.hints_for_candidate(session_id) == [0]  # the page carries hint 1 no more
    assert store.undoable_hints(session_id) == {} and "showed it" in store.withdraw_hint(session_id, 0)
    assert store.release_hint(session_id, 1)  # withdrawn, so it can go out again
    assert store.hints_for_candidate(session_id) == [0, 1] == store.released_hints(session_id)
    kinds = [event.kind for event in store.events(session_id)]
    assert kinds == ["hint", "hint", "hint_withdrawn", "hint"]
