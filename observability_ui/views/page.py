"""Rendering helpers every view shares: the time range and the arguments links must keep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, g, render_template, request

from observability_ui import params, request_context
from obsim.timerange import WHOLE_RECORDING, TimeRange, iso, resolve


@dataclass(frozen=True)
class InputError:
    """Input a page could not use, shown beside that input (``templates/_input_error.html``) while
    the rest of the page, navigation, time picker and forms with what was typed, stays usable."""

    message: str
    text: str = ""  # the input as typed, to point at ``position`` in it
    position: int | None = None


def status(*errors: InputError | None) -> int:
    """A page showing an input error answers 400, like the JSON API for the same input (and the
    interview's timeline keeps what the page said, ``g.error_message``)."""
    shown = [error.message for error in errors if error]
    if shown:
        g.error_message = "; ".join(shown)
    return 400 if shown else 200


def page_range(default: str = WHOLE_RECORDING) -> tuple[TimeRange, InputError | None]:
    """The request's range or, when it cannot be used, the default one and why, so that the page
    stays with the typed range in the picker to correct (as Grafana keeps the last good range)."""
    try:
        params.ensure("from", "to")
        return request_context.time_range(default), None
    except request_context.UiError as error:
        return resolve(None, None, request_context.dataset().window(), default), InputError(error.message)


def range_args(time_range: TimeRange | None) -> dict[str, str]:
    return time_range.query() if time_range is not None else {}


def range_json(time_range: TimeRange) -> dict[str, object]:
    """The resolved range as the JSON API reports it: epoch seconds and UTC text."""
    return {
        "start": time_range.start,
        "end": time_range.end,
        "start_iso": iso(time_range.start),
        "end_iso": iso(time_range.end),
    }


def render(
    template: str, time_range: TimeRange | None, range_error: InputError | None = None, **context: Any
) -> str:
    """Render a page with the navigation, the time picker and the current range in every link;
    ``range_error`` says why the range asked for was not used (the picker shows what was typed)."""
    keep = {k: v for k, v in request.args.items() if k not in {"from", "to", "offset"}}
    return render_template(
        template,
        time_range=time_range,
        range_error=range_error,
        range_args=range_args(time_range),
        keep_args=keep,
        view_names=set(current_app.blueprints),
        **context,
    )
