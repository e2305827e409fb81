"""What a candidate link (or another site) must not be able to do to an interview: work outside the
interviewer's clock, write without bounds, drive forms cross-site, log a browser into a session, have
its cookies clobbered by another server on the host, cache the answers, or mint links from ``Host``.

One regression test per finding of issue 16, over the hand-made dataset (the interview's rules do not
depend on the data), through Flask's test client and the real store.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from interview.investigation_figures import investigation_figures
from interview.store import InterviewClosed, InterviewSession, InterviewStore
from observability_ui.application import create_app
from observability_ui.protection import public_origin
from obsim import scenario as scenarios
from obsim_cli.main import main

LEAK = scenarios.load("connection-leak")
PUBLIC = "http://interviews.test:8123"
EVIL = "http://evil.example"


def platform(handmade_dataset, interviews: InterviewStore, public_url: str = PUBLIC) -> Flask:
    return create_app(
        handmade_dataset, LEAK.brief, interviews=interviews, incident=LEAK, public_url=public_url
    )


@pytest.fixture
def app(handmade_dataset, interviews) -> Flask:
    return platform(handmade_dataset, interviews)


def console_of(app: Flask, interviews: InterviewStore) -> FlaskClient:
    token = interviews.interviewer_token(reset=True)
    client = app.test_client()
    assert client.get(f"/interviewer/login/{token}").status_code == 302
    return client


def new_session(console: FlaskClient, name: str) -> str:
    """The candidate link the console hands out for a new session."""
    page = console.post("/interviewer/sessions", data={"candidate": name}, follow_redirects=True).get_data(
        as_text=True
    )
    return re.search(r"<code class=\"mono\">([^<]+)</code>", page).group(1)


def joined(app: Flask, link: str) -> FlaskClient:
    client = app.test_client()
    path = link.removeprefix(PUBLIC)
    assert client.post(path, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    return client


def session_of(interviews: InterviewStore, name: str) -> str:
    return next(s.id for s in interviews.sessions() if s.candidate == name)


def move_start_back(interviews: InterviewStore, session_id: str, seconds: float) -> None:
    """As if the clock had been started ``seconds`` earlier."""
    with interviews.transaction() as db:
        session = db.get(InterviewSession, session_id)
        session.started_at -= timedelta(seconds=seconds)


def recorded(interviews: InterviewStore, session_id: str) -> list[str]:
    return [e.kind for e in interviews.events(session_id)]


def test_the_link_shows_a_start_page_and_only_a_same_origin_post_logs_in(app, interviews):
    console = console_of(app, interviews)
    link = new_session(console, "Ada")
    assert link.startswith(f"{PUBLIC}/join/")
    path, browser = link.removeprefix(PUBLIC), app.test_client()
    start = browser.get(path)
    assert start.status_code == 200 and "Set-Cookie" not in start.headers, "opening the link sets nothing"
    assert f'<form method="post" action="{path}">' in start.get_data(as_text=True)
    for header in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
        forged = browser.post(path, headers=header)
        assert forged.status_code == 403 and "another site" in forged.get_data(as_text=True), header
        assert "Set-Cookie" not in forged.headers
    ada = session_of(interviews, "Ada")
    assert recorded(interviews, ada) == []
    logged_in = browser.post(path, headers={"Sec-Fetch-Site": "same-origin", "Origin": PUBLIC})
    assert logged_in.status_code == 303 and logged_in.headers["Location"] == "/"
    cookie = logged_in.headers["Set-Cookie"]
    assert cookie.startswith("o11y_candidate_8123=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert recorded(interviews, ada) == ["join"]


def test_the_candidate_waits_for_the_start_and_during_a_pause(app, interviews):
    console = console_of(app, interviews)
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")

    def refused(clock: str, phrase: str) -> None:
        page = ada.get("/metrics")
        body = page.get_data(as_text=True)
        assert page.status_code == 403 and phrase in body and 'http-equiv="refresh"' in body, clock
        api = ada.get("/api/metrics/names")
        assert api.status_code == 403 and api.json["clock"] == clock and phrase in api.json["error"]
        assert ada.post("/notes", data={"text": "early"}).status_code == 403
        assert ada.post("/submit", data={"root_cause": "early"}).status_code == 403

    refused("waiting", "not started")
    assert console.post(f"/interviewer/sessions/{ada_id}/start").status_code == 302
    assert ada.get("/metrics").status_code == 200 and ada.get("/api/metrics/names").status_code == 200
    assert console.post(f"/interviewer/sessions/{ada_id}/pause").status_code == 302
    refused("paused", "paused")
    assert console.post(f"/interviewer/sessions/{ada_id}/start").status_code == 302
    assert ada.get("/metrics").status_code == 200
    # nothing refused was recorded or stored: the record starts at the start
    kinds = recorded(interviews, ada_id)
    assert kinds == ["join", "view", "api", "clock", "clock", "view"] and interviews.submissions(ada_id) == []
    # the pause and the resume are on the timeline, for the interviewer and the scorecard
    pause, resume = (e.detail["change"] for e in interviews.events(ada_id) if e.kind == "clock")
    assert (pause, resume) == ("paused", "resumed")


def test_after_the_limit_and_its_grace_the_interview_closes_until_extended(app, interviews):
    console = console_of(app, interviews)
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    assert console.post(f"/interviewer/sessions/{ada_id}/grace", data={"minutes": "3"}).status_code == 302
    move_start_back(interviews, ada_id, LEAK.time_limit_minutes * 60 + 60)  # a minute into the grace

    page = ada.get("/submit").get_data(as_text=True)
    assert "time is up: submit within 2 min" in page
    assert ada.post("/submit", data={"root_cause": "in the grace"}).status_code == 200
    assert [s.late for s in interviews.submissions(ada_id)] == [True]

    move_start_back(interviews, ada_id, 3 * 60)  # past the grace
    for response in (ada.get("/"), ada.get("/submit"), ada.post("/notes", data={"text": "more"})):
        assert response.status_code == 403 and "Time is up" in response.get_data(as_text=True)
    api = ada.get("/api/metrics/names")
    assert api.status_code == 403 and api.json["clock"] == "closed" and "18 min" in api.json["error"]
    refused = ada.post("/submit", data={"root_cause": "too late"})
    assert refused.status_code == 403 and "submissions are closed" in refused.get_data(as_text=True)
    assert len(interviews.submissions(ada_id)) == 1
    clock = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert "<strong>closed</strong>" in clock

    for bad in ("0", "61", "five", ""):
        assert (
            console.post(f"/interviewer/sessions/{ada_id}/extend", data={"minutes": bad}).status_code == 400
        )
    assert console.post(f"/interviewer/sessions/{ada_id}/extend", data={"minutes": "5"}).status_code == 302
    assert "min left" in ada.get("/").get_data(as_text=True)
    assert ada.post("/submit", data={"root_cause": "with the extra time"}).status_code == 200
    assert [s.late for s in interviews.submissions(ada_id)] == [True, False]
    timeline = console.get(f"/interviewer/sessions/{ada_id}/live/timeline").get_data(as_text=True)
    assert "extended the time by 5 min" in timeline and "grace after the limit to 3 min" in timeline
    assert "23 min" in console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    console.post("/interviewer/reveal", data={"reveal": "yes"})  # a scorecard shows the answer
    card = console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").json["clock"]
    assert (card["time_limit_s"], card["extended_s"], card["grace_s"]) == (18 * 60, 300, 180)


def test_the_store_refuses_a_submission_the_clock_does_not_allow(interviews):
    session_id, _ = interviews.create_session("Ada", LEAK.id, 1, 60)
    with pytest.raises(InterviewClosed, match="not started"):
        interviews.submit(session_id, {}, {"total": 0})
    interviews.start(session_id)
    interviews.set_grace(session_id, 0)
    move_start_back(interviews, session_id, 61)
    with pytest.raises(InterviewClosed, match="Time is up"):
        interviews.submit(session_id, {}, {"total": 0})
    assert interviews.submissions(session_id) == []


def test_nothing_before_the_start_counts_so_no_figure_is_negative(interviews):
    session_id, _ = interviews.create_session("Ada", LEAK.id, 1, 900)
    interviews.record(session_id, "view", {"path": "/logs", "args": {"query": "x"}, "status": 200})
    interviews.record(session_id, "submission", {"late": False})
    unstarted = investigation_figures(LEAK, interviews.get(session_id), interviews.events(session_id))
    assert unstarted["time_to_submission_s"] is None and unstarted["requests"] == 0
    interviews.release_hint(session_id, 0)  # before the start: a hint still helped
    interviews.start(session_id)
    interviews.record(session_id, "submission", {"late": False})
    figures = investigation_figures(LEAK, interviews.get(session_id), interviews.events(session_id))
    assert figures["requests"] == 0 and figures["queries"] == 0
    assert 0 <= figures["time_to_submission_s"] < 5 and figures["hints_used"] == 1


def test_every_write_is_bounded_and_answered_413_with_its_limit(app, interviews):
    console = console_of(app, interviews)
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    before = interviews.events(ada_id)

    huge = ada.post("/submit", data={"root_cause": "x" * 25_000_000})
    assert huge.status_code == 413 and "limited to 1,000,000 bytes" in huge.get_data(as_text=True)
    long_field = ada.post("/submit", data={"root_cause": "x" * 10_001})
    assert long_field.status_code == 413 and "root_cause is limited to 10,000 characters" in long_field.text
    long_notes = ada.post("/notes", data={"text": "x" * 20_001})
    assert long_notes.status_code == 413 and "text is limited to 20,000 characters" in long_notes.text
    assert ada.post("/notes", data={"text": "x" * 20_000}).status_code == 204
    chunked = ada.post(
        "/notes",
        input_stream=io.BytesIO(b"text=" + b"x" * 1_100_000),
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input_terminated": True},  # a body without Content-Length
    )
    assert chunked.status_code == 413 and "limited to 1,000,000 bytes" in chunked.text
    asked = ada.get("/api/metrics/names", query_string={"match": "x" * 9_000})
    assert asked.status_code == 414 and "8,192 bytes" in asked.json["error"]
    assert interviews.submissions(ada_id) == []
    assert [e.kind for e in interviews.events(ada_id)[len(before) :]] == ["notes"]

    name = console.post("/interviewer/sessions", data={"candidate": "x" * 201})
    assert name.status_code == 413 and "candidate is limited to 200 characters" in name.text
    rubric = console.post(f"/interviewer/sessions/{ada_id}/rubric", data={"notes": "x" * 10_001})
    assert rubric.status_code == 413 and interviews.rubric(ada_id) is None
    assert len(console.get(f"/interviewer/sessions/{ada_id}").data) < 200_000


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}],
    ids=["origin", "cross-site", "another-port", "opaque"],
)
def test_state_changing_requests_from_another_site_are_refused(app, interviews, headers):
    console = console_of(app, interviews)
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    before = len(interviews.events(ada_id))
    attempts = [
        ada.post("/submit", data={"root_cause": "forged"}, headers=headers),
        ada.post("/notes", data={"text": "forged"}, headers=headers),
        console.post("/interviewer/sessions", data={"candidate": "Mallory"}, headers=headers),
        console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "0"}, headers=headers),
        console.post(f"/interviewer/sessions/{ada_id}/pause", headers=headers),
        console.post(f"/interviewer/sessions/{ada_id}/extend", data={"minutes": "9"}, headers=headers),
    ]
    for response in attempts:
        assert response.status_code == 403 and "came from another site" in response.text
    assert len(interviews.events(ada_id)) == before and interviews.submissions(ada_id) == []
    assert interviews.released_hints(ada_id) == [] and interviews.get(ada_id).clock().value == "running"
    assert [s.candidate for s in interviews.sessions()] == ["Ada"]
    # the platform's own pages: the public origin, or the address the browser used
    for own in ({"Origin": PUBLIC}, {"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"}):
        assert ada.post("/notes", data={"text": "mine"}, headers=own).status_code == 204


def test_two_servers_on_one_host_keep_their_cookies_apart(handmade_dataset, tmp_path):
    """A browser keeps one cookie jar per host, whatever the port: the second server's cookies must
    not replace the first's."""
    first_store = InterviewStore(f"sqlite:///{tmp_path / 'first.sqlite'}")
    second_store = InterviewStore(f"sqlite:///{tmp_path / 'second.sqlite'}")
    first = platform(handmade_dataset, first_store, "http://localhost:8001")
    second = platform(handmade_dataset, second_store, "http://localhost:8002")
    first_console, second_console = console_of(first, first_store), console_of(second, second_store)
    browser = first.test_client()  # one browser's jar for localhost
    for app, store, console in ((first, first_store, first_console), (second, second_store, second_console)):
        link = urlsplit(new_session(console, "Ada")).path
        console.post(f"/interviewer/sessions/{session_of(store, 'Ada')}/start")
        response = app.test_client().post(link)
        name, value = response.headers["Set-Cookie"].split(";")[0].split("=", 1)
        browser.set_cookie(name, value)
    assert browser.get_cookie("o11y_candidate_8001") and browser.get_cookie("o11y_candidate_8002")
    assert browser.get("/").status_code == 200, "the first server still knows this browser"
    assert first_console.get_cookie("o11y_interviewer_8001", path="/interviewer") is not None


def test_console_pages_are_not_cached_and_run_only_their_own_files(app, interviews):
    console = console_of(app, interviews)
    new_session(console, "Ada")  # not joined: the hand-made dataset has no code hash to show
    ada_id = session_of(interviews, "Ada")
    pages = [
        "/interviewer/",
        f"/interviewer/sessions/{ada_id}",
        f"/interviewer/sessions/{ada_id}/live/timeline",
    ]
    pages += ["/interviewer/compare", f"/interviewer/sessions/{ada_id}/scorecard.json"]
    console.post("/interviewer/reveal", data={"reveal": "yes"})  # scorecards are served after the reveal
    responses = {path: console.get(path) for path in pages}
    error = console.post(f"/interviewer/sessions/{ada_id}/extend", data={"minutes": "0"})
    assert error.status_code == 400
    responses["an error page"] = error
    for path, response in responses.items():
        assert response.status_code in (200, 400) and response.headers["Cache-Control"] == "no-store", path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy, path
        body = response.get_data(as_text=True)
        assert not re.search(r"\sstyle=|\son[a-z]+=|<script(?![^>]*\ssrc=)|javascript:", body), path
    denied = app.test_client().get("/interviewer/")
    assert denied.status_code == 403 and denied.headers["Cache-Control"] == "no-store"

    card = console.get(f"/interviewer/sessions/{ada_id}/scorecard.html")
    (style,) = re.findall(r"<style>(.*?)</style>", card.get_data(as_text=True), flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = card.headers["Content-Security-Policy"]
    assert f"style-src 'sha256-{digest}';" in policy and "script-src" not in policy
    assert card.headers["Cache-Control"] == "no-store"


def test_links_are_built_on_the_public_url_never_on_the_host_header(app, interviews):
    token = console_of(app, interviews).get_cookie("o11y_interviewer_8123", path="/interviewer").value
    client = app.test_client(use_cookies=False)  # a client that sends its own Host and Cookie
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    created = client.post(
        "/interviewer/sessions",
        data={"candidate": "Ada"},
        headers={**evil, "Cookie": f"o11y_interviewer_8123={token}"},
    )
    assert created.status_code == 303 and "evil.example" not in created.headers["Location"]
    one_time = created.headers["Set-Cookie"].split(";")[0]  # the new link, carried to the next page
    page = client.get(
        "/interviewer/", headers={**evil, "Cookie": f"o11y_interviewer_8123={token}; {one_time}"}
    ).get_data(as_text=True)
    assert f"{PUBLIC}/join/" in page and "evil.example" not in page


def test_the_public_url_is_checked_and_required_behind_a_proxy(capsys):
    assert public_origin("https://interviews.example.com/") == "https://interviews.example.com"
    assert public_origin("http://[::1]:8000") == "http://[::1]:8000"
    for bad in ("interviews.example.com", "ftp://x", "https://x.example/obsim", "http://x:port"):
        with pytest.raises(ValueError):
            public_origin(bad)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "connection-leak", "--behind-proxy"])
    assert exited.value.code == 2 and "--behind-proxy needs --public-url" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "connection-leak", "--public-url", "https://x.example/obsim"])
    assert "root of its host" in capsys.readouterr().err
