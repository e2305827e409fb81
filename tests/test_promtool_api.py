"""promtool, Prometheus's own client, reading obsim's ``/api/v1/*`` in an interview.

A candidate points ``promtool query`` at the platform with the API token their pages show (as the
password in the URL, all promtool 2.x can send to every command; as a bearer header where it can,
``query range --header``).  Its answers must be the platform's own engine's, exactly, and, where
Debian's prometheus is installed, what the real Prometheus answers over the same recording (through
promtool too; within 1e-9, as in tests/test_promql_vs_prometheus.py, whose rules for evaluation
times this follows: between scrapes, half an hour into the run).  Skipped where promtool is missing.
"""

from __future__ import annotations

import json
import math
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest import approx
from werkzeug.serving import make_server

from interview.store import InterviewStore
from observability_ui.application import create_app
from observability_ui.query.promql import MetricStore, query_instant, query_range
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from tests.real_prometheus import PROMETHEUS, PROMTOOL, serving

pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)"
)

RUN = "cron-storm"
INSTANT = [
    "sum by (code) (rate(gateway_responses_total[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))",
    "topk(3, gateway_responses_total)",
    "db_client_connection_count / ignoring(db_client_connection_state) group_left db_client_connection_max",
    "scalar(sum(pg_stat_activity_count))",
    "max_over_time(rate(gateway_responses_total[50s])[10m:30s])",
]
RANGE = [
    "sum by (code) (rate(gateway_responses_total[5m]))",
    "avg_over_time(sum(pg_stat_activity_count)[15m:1m])",
    "quantile(0.5, system_cpu_utilization_ratio)",
]
Points = dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]


@pytest.fixture(scope="module")
def run(datasets) -> Path:
    return datasets[RUN]


@pytest.fixture(scope="module")
def window(run: Path) -> tuple[float, float]:
    with Dataset.open(run) as dataset:
        return dataset.window()


@pytest.fixture(scope="module")
def store(run: Path) -> Iterator[MetricStore]:
    with Dataset.open(run) as dataset:
        yield MetricStore(dataset)


@pytest.fixture(scope="module")
def obsim(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An interview over the run on 127.0.0.1, its clock started: the URL promtool is given (the
    candidate's API token as its password) and the token."""
    interviews = InterviewStore(f"sqlite:///{tmp_path_factory.mktemp('interviews') / 'interviews.sqlite'}")
    storm = scenarios.load(RUN)
    session, link = interviews.create_session("Ada", storm.id, storm.default_seed, 3600)
    interviews.start(session)
    app = create_app(run, interviews=interviews, incident=storm, public_url="http://localhost:8000")
    token = interviews.api_token_for(session, link)  # what the candidate's pages show
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://api:{token}@127.0.0.1:{server.server_port}", token
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def prometheus(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """The real Prometheus over the same run, or None where it is not installed."""
    if PROMETHEUS is None:
        yield None
        return
    with serving(run, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def promtool(*arguments: str) -> object:
    """``promtool query ... -o json``'s answer, read as JSON."""
    done = subprocess.run(
        [str(PROMTOOL), "query", *arguments[:1], "-o", "json", *arguments[1:]],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stdout + done.stderr
    return json.loads(done.stdout)


def _times(window: tuple[float, float]) -> list[float]:
    start, end = window
    return [start + offset + 7.25 for offset in (1800, (end - start) / 2, end - start - 1800)]


def _number(text: str) -> float:
    return float(text.replace("Inf", "inf"))


def _instant(answer: object) -> Points:
    if isinstance(answer, list) and answer and not isinstance(answer[0], dict):  # a scalar
        return {(): [(float(answer[0]), _number(answer[1]))]}
    return {
        tuple(sorted(item["metric"].items())): [(float(item["value"][0]), _number(item["value"][1]))]
        for item in answer
    }


def _matrix(answer: object) -> Points:
    return {
        tuple(sorted(item["metric"].items())): [(float(t), _number(v)) for t, v in item["values"]]
        for item in answer
    }


def _same(ours: Points, theirs: Points, exact: bool) -> None:
    assert sorted(ours) == sorted(theirs)
    for labels, points in ours.items():
        assert [t for t, _ in points] == [t for t, _ in theirs[labels]], labels
        mine, real = [v for _, v in points], [v for _, v in theirs[labels]]
        if exact:
            assert all(
                a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(mine, real, strict=True)
            ), labels
        else:
            assert mine == approx(real, rel=1e-9, nan_ok=True), labels


@pytest.mark.parametrize("expr", INSTANT)
def test_promtool_query_instant_reads_the_engines_answer(obsim, prometheus, store, window, expr) -> None:
    url, _ = obsim
    answered = False
    for at in _times(window):
        theirs = _instant(promtool("instant", f"--time={at!r}", url, expr))
        ours = {
            tuple(sorted(s.labels.items())): [(at, s.points[0][1])] for s in query_instant(store, expr, at)
        }
        _same(ours, theirs, exact=True)
        if prometheus is not None:
            _same(theirs, _instant(promtool("instant", f"--time={at!r}", prometheus, expr)), exact=False)
        answered = answered or bool(theirs)
    assert answered, "no answer at any time: the query tests nothing"


@pytest.mark.parametrize("expr", RANGE)
def test_promtool_query_range_reads_the_engines_answer(obsim, prometheus, store, window, expr) -> None:
    """With the token as a bearer header, and a step given as a duration string."""
    url, token = obsim
    bare = url.replace(f"api:{token}@", "")
    start, end = window[0] + 1800 + 7.25, window[0] + 1800 + 7.25 + 3600
    span = [f"--start={start!r}", f"--end={end!r}", "--step=2m30s"]
    theirs = _matrix(promtool("range", *span, f"--header=Authorization=Bearer {token}", bare, expr))
    ours = {tuple(sorted(s.labels.items())): s.points for s in query_range(store, expr, start, end, 150.0)}
    assert theirs
    _same(ours, theirs, exact=True)
    if prometheus is not None:
        _same(theirs, _matrix(promtool("range", *span, prometheus, expr)), exact=False)


def _label_sets(series: object) -> list[tuple[tuple[str, str], ...]]:
    assert isinstance(series, list)
    return sorted(tuple(sorted(labels.items())) for labels in series)


def test_promtool_query_series_and_labels(obsim, prometheus, store, window) -> None:
    url, _ = obsim
    span = [f"--start={window[0]!r}", f"--end={window[1]!r}"]
    matches = [
        '--match=db_client_connection_count{db_client_connection_state="used"}',
        "--match=service_build_info",
    ]
    series = _label_sets(promtool("series", *matches, *span, url))
    expected = [
        meta.labels
        for name in ("db_client_connection_count", "service_build_info")
        for meta in store.series(name)
        if meta.labels.get("db_client_connection_state", "used") == "used"
    ]
    assert series and series == _label_sets(expected)
    codes = promtool("labels", *span, url, "code")
    every = [meta.labels for name in store.metric_names() for meta in store.series(name)]
    assert codes and codes == sorted({labels["code"] for labels in every if "code" in labels})
    if prometheus is not None:
        assert _label_sets(promtool("series", *matches, *span, prometheus)) == series
        assert promtool("labels", *span, prometheus, "code") == codes
