"""What an interview's server refuses whoever asks: writes from other sites, oversized writes, and
the ``Host`` header as a source of links.

- **Cross-site writes.** SameSite cookies alone do not stop them: another port of the same host, or
  a sibling subdomain, is the *same site*, so its pages get the cookies sent along.  Every
  state-changing request (anything but GET, HEAD, OPTIONS) must come from this platform's own
  pages: browsers say where a request comes from in ``Sec-Fetch-Site`` (every current one) or at
  least ``Origin``, and a request from elsewhere is refused with a 403 that says so.  A request with
  neither header comes from no browser (curl, a script): it carries only cookies its sender holds,
  so it passes.  (The rule of Go's ``net/http.CrossOriginProtection``.)
- **Sizes.** A request body is at most :data:`MAX_BODY_BYTES`, each form field at most its limit in
  :data:`FIELD_LIMITS` (else :data:`MAX_FIELD_CHARS`), a query string at most
  :data:`MAX_QUERY_BYTES` (every candidate request is recorded with it); over a limit the answer is
  413 (414 for the query string) naming the limit, before anything is stored.
- **The public URL.** Links the console hands out are built on the URL the server is reached at,
  given at launch (``--public-url``), never on the request's ``Host`` header, which any client
  sets.  Its port also names the cookies, so two servers on one host keep apart: browsers share
  cookies across the ports of a host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

PUBLIC_URL = "OBSIM_PUBLIC_URL"
COOKIE_SUFFIX = "OBSIM_COOKIE_SUFFIX"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Sec-Fetch-Site values of a request this platform's own pages made (``none``: the user's own
#: navigation, such as a bookmark)
OWN_FETCH_SITES = frozenset({"same-origin", "none"})

MAX_BODY_BYTES = 1_000_000
MAX_QUERY_BYTES = 8_192
MAX_FIELD_CHARS = 10_000
#: (endpoint, form field): its own limit in characters
FIELD_LIMITS: dict[tuple[str, str], int] = {
    ("interview.notes", "text"): 20_000,
    ("candidate_api.save_notes", "text"): 20_000,
    ("console.create", "candidate"): 200,
}


def public_origin(url: str) -> str:
    """``url`` as the origin links are built on (``scheme://host[:port]``); ValueError if it is
    not an http(s) URL of a host at its root (obsim is served at the root of its host)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r}: give the public URL as http(s)://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{url!r}: obsim is served at the root of its host; give no path, query or user")
    _ = parts.port  # ValueError for a port that is not a number
    return f"{parts.scheme}://{parts.netloc}"


def install(app: Flask, public_url: str) -> None:
    """Refuse cross-site and oversized writes on every request, and fix the public URL."""
    origin = public_origin(public_url)
    parts = urlsplit(origin)
    app.config[PUBLIC_URL] = origin
    app.config[COOKIE_SUFFIX] = str(parts.port or (443 if parts.scheme == "https" else 80))
    # werkzeug's own limits, for a body sent without Content-Length (chunked): the same figure
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY_BYTES
    app.before_request(refuse_cross_site)
    app.before_request(limit_sizes)


def public_url() -> str:
    """The origin this server is reached at, as given at launch (no trailing slash)."""
    return str(current_app.config[PUBLIC_URL])


def cookie_name(role: str) -> str:
    """The name of ``role``'s cookie (``candidate``, ``interviewer``) on this server: with the public
    port in it, so a server on another port of the same host does not overwrite it."""
    return f"o11y_{role}_{current_app.config[COOKIE_SUFFIX]}"


def remember(response: Response, role: str, token: str, samesite: str, path: str) -> Response:
    """Keep ``role``'s secret link in this browser: HttpOnly (no script reads it), ``Secure``
    behind TLS, under this server's own cookie name and only for the paths the role uses."""
    response.set_cookie(
        cookie_name(role), token, httponly=True, samesite=samesite, secure=request.is_secure, path=path
    )
    return response


def refuse_cross_site() -> None:
    """403 for a state-changing request another site's page made."""
    if request.method in SAFE_METHODS:
        return
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        if fetch_site not in OWN_FETCH_SITES:
            abort(403, description=f"Refused: this request came from another site ({fetch_site}).")
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin not in {public_url(), request.host_url.rstrip("/")}:
        abort(403, description=f"Refused: this request came from another site ({origin}).")


def limit_sizes() -> None:
    """413 (414) naming the limit for a body, a form field (or a query string) over its limit."""
    if len(request.query_string) > MAX_QUERY_BYTES:
        abort(414, description=f"The query string is limited to {MAX_QUERY_BYTES:,} bytes.")
    too_large = f"The request body is limited to {MAX_BODY_BYTES:,} bytes."
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        abort(413, description=too_large)
    if request.method in SAFE_METHODS:
        return
    try:
        form = request.form
    except RequestEntityTooLarge:  # a chunked body, cut by werkzeug at MAX_CONTENT_LENGTH
        abort(413, description=too_large)
    limit_fields(form)


def limit_fields(fields: MultiDict[str, str]) -> None:
    """413 naming the field for a value over its limit: a form's fields, or a JSON body's as the
    JSON API hands them to the form's code (``observability_ui.candidate_api``)."""
    for name, value in fields.items(multi=True):
        limit = FIELD_LIMITS.get((request.endpoint or "", name), MAX_FIELD_CHARS)
        if len(value) > limit:
            abort(
                413, description=f"The field {name} is limited to {limit:,} characters (got {len(value):,})."
            )
