"""Read-only browser of the service's repository (``app_under_test/`` and nothing else), and its release
history: the tags the recording saw serve and, for a deploy inside it, the compare view
(:mod:`observability_ui.releases`).

Paths are resolved against the repository and refused unless they stay inside it without
following a symbolic link, so ``..``, absolute paths, encoded slashes and links cannot reach
anything else in the repository (scenarios, the interview guide, fix patches).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, url_for
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound

from observability_ui import params, releases
from observability_ui.request_context import UiError
from observability_ui.views.page import render

bp = Blueprint("code", __name__)

CODE_ROOT = Path(__file__).resolve().parents[2] / "app_under_test"
DEPLOY_ROOT = "/srv/platform-api/"  # where the service's repository is deployed, as stack traces show
VISIBLE_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".conf", ".ini", ".yml", ".yaml"}
SEARCH_LIMIT = 200
SEARCH_MAX_LENGTH = 200
# Longer than any file's path in the code; a longer one is no file (and a name past the file
# system's limit would fail to be looked up at all).
MAX_PATH_LENGTH = 200
NO_SUCH_FILE = "no such file in the service's code"


def visible_files(root: Path = CODE_ROOT) -> list[str]:
    """Relative paths of the files a candidate may read, sorted."""
    files = []
    for path in root.rglob("*"):
        if (
            path.is_file()
            and not path.is_symlink()
            and path.suffix in VISIBLE_SUFFIXES
            and "__pycache__" not in path.parts
        ):
            files.append(path.relative_to(root).as_posix())
    return sorted(files)


def resolve_path(relative: str, root: Path = CODE_ROOT) -> Path:
    """The file for ``relative``, or 404 for anything outside the visible code."""
    if (
        not relative
        or len(relative) > MAX_PATH_LENGTH
        or not relative.isprintable()
        or "\\" in relative
        or relative.startswith("/")
        or "%" in relative
    ):
        abort(404, description=NO_SUCH_FILE)
    parts = relative.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        abort(404, description=NO_SUCH_FILE)
    candidate = root
    for part in parts:
        candidate = candidate / part
        if candidate.is_symlink():
            abort(404, description=NO_SUCH_FILE)
    if not candidate.is_file() or candidate.suffix not in VISIBLE_SUFFIXES:
        abort(404, description=NO_SUCH_FILE)
    if not candidate.resolve().is_relative_to(root.resolve()):
        abort(404, description=NO_SUCH_FILE)
    return candidate


@lru_cache(maxsize=256)
def _highlighted(path: Path, mtime: float, highlight_lines: tuple[int, ...]) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        lexer = get_lexer_for_filename(path.name)
    except ClassNotFound:
        lexer = get_lexer_for_filename("x.txt")
    formatter = HtmlFormatter(
        linenos="table",
        lineanchors="L",
        anchorlinenos=True,
        hl_lines=list(highlight_lines),
        cssclass="source",
    )
    return highlight(text, lexer, formatter)


def _line_range(raw: str) -> tuple[int, ...]:
    """The lines ``line`` asks to highlight (``12`` or ``12-20``, the schema's pattern), at most 500."""
    if not raw:
        return ()
    first, _, last = raw.partition("-")
    if last and int(last) < int(first):
        raise UiError(f"line: the range {raw} ends before it starts")
    return tuple(range(int(first), min(int(last or first), int(first) + 500) + 1))


@bp.get("/code/")
@bp.get("/code/<path:relative>")
def browse(relative: str = "") -> str:
    files = visible_files()
    lines = _line_range(params.value("line", ""))
    deployed = releases.serving()
    if not relative:
        if lines:
            raise UiError("line: pick a file to highlight its lines in")
        return render(
            "code.html",
            None,
            page_title="Code",
            files=files,
            path=None,
            source=None,
            css=_css(),
            deployed=deployed,
        )
    path = resolve_path(relative)
    source = Markup(_highlighted(path, path.stat().st_mtime, lines))
    return render(
        "code.html",
        None,
        page_title=relative,
        files=files,
        path=relative,
        source=source,
        css=_css(),
        lines=lines,
        deployed=deployed,
    )


@bp.get("/code/releases")
def release_history() -> str:
    """The releases the recording saw serve, newest first, and each deploy's compare view."""
    return render(
        "code_releases.html",
        None,
        page_title="Releases",
        releases=list(reversed(releases.serving())),
        comparisons=releases.comparisons(CODE_ROOT),
    )


def search_code(needle: str) -> tuple[list[tuple[str, int, str]], bool]:
    """Lines containing ``needle`` (any case) as (file, line number, text), and whether more matched."""
    results: list[tuple[str, int, str]] = []
    lowered = needle.lower()
    for relative in visible_files():
        for number, line in enumerate((CODE_ROOT / relative).read_text(errors="replace").splitlines(), 1):
            if lowered in line.lower():
                if len(results) == SEARCH_LIMIT:
                    return results, True
                results.append((relative, number, line.strip()))
    return results, False


@bp.get("/code-search")
def search() -> str:
    needle = params.value("q")
    results, truncated = search_code(needle)
    return render(
        "code_search.html",
        None,
        page_title="Code search",
        q=needle,
        results=results,
        truncated=truncated,
        limit=SEARCH_LIMIT,
    )


def code_link(filepath: str, line: int | None = None) -> str | None:
    """URL of a file of the service's repository: a ``code.filepath`` attribute
    (``platform_api/...``), a path inside the repository, or a stack frame's deployed path
    (``/srv/platform-api/...``); ``None`` for a file that is not the service's (a library's frame)."""
    relative = filepath.removeprefix(DEPLOY_ROOT)
    if not relative or relative.startswith(("/", "<")):  # a library's file, or ``<frozen ...>``
        return None
    arguments = {"line": str(line)} if line else {}
    anchor = f"#L-{line}" if line else ""
    return url_for("code.browse", relative=relative, **arguments) + anchor


@lru_cache(maxsize=1)
def _css() -> str:
    return HtmlFormatter(style="monokai", cssclass="source").get_style_defs(".source")


@bp.get("/api/code")
def api_files() -> dict:
    return {"files": visible_files()}


@bp.get("/api/code/file")
def api_file() -> dict:
    relative = params.value("path")
    path = resolve_path(relative)
    return {"path": relative, "lines": path.read_text(encoding="utf-8", errors="replace").splitlines()}


@bp.get("/api/code/releases")
def api_releases() -> dict:
    return {
        "releases": [release.as_json() for release in reversed(releases.serving())],
        "comparisons": [comparison.as_json() for comparison in releases.comparisons(CODE_ROOT)],
    }


@bp.get("/api/code-search")
def api_search() -> dict:
    results, truncated = search_code(params.value("q"))
    return {
        "matches": [{"path": path, "line": number, "text": text} for path, number, text in results],
        "truncated": truncated,
        "limit": SEARCH_LIMIT,
    }
