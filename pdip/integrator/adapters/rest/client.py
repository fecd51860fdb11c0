"""HTTP for REST connections, through httpx: authentication, retries and a bounded request rate.

A request that meets a connection error, a 429 or a 5xx is tried again, up to `retries` times,
after a wait that doubles from `backoff` with full jitter (a random share of it, so clients that
failed together do not come back together), or as long as the server's `Retry-After` says; no
wait is longer than `max_backoff`. `rate` spaces the starts of requests at least 1/rate seconds
apart. A 401 or 403 is an error of the connection's `auth`, never retried.

Every message this module makes names the connection, the setting and the request, and shows
none of the connection's secrets: the URL a query-string key was added to is never shown with
it, and any secret value a server echoes back is masked (`scrub`).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Generator
from typing import Any

import httpx

from pdip.configuration.settings import MASK
from pdip.integrator.adapters.rest.settings import ClientCredentials, RestSettings
from pdip.integrator.errors import OperationError

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
SHOWN_BODY = 200  # characters of a refusing server's answer quoted in an error or a dead letter


class RestError(OperationError):
    """A REST endpoint could not be reached or refused a request: the message names the
    connection, the setting at fault and the request, without secrets."""


def retry_after(value: str | None) -> float | None:
    """The seconds a `Retry-After` header asks for (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(attempt: int, first: float, most: float) -> float:
    """Full jitter: a random wait up to `first` doubled `attempt` times (at most `most`)."""
    return random.uniform(0, min(most, first * 2**attempt))  # spreading retries: no secret depends on it


class Pace:
    """Starts of requests at least 1/rate seconds apart. (A token bucket would allow bursts; a
    source asks for one page at a time, so an even spacing is all a rate limit needs.)"""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self.next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self.next:
            time.sleep(self.next - now)
            now = self.next
        self.next = now + self.interval


class RestClient:
    """One connection's requests: `send` returns the response of the last try (any status but
    those retried), or raises `RestError` naming what failed."""

    def __init__(self, settings: RestSettings, label: str):
        self.settings, self.label = settings, label
        self.secrets = settings.secrets()
        self.pace = Pace(settings.rate)
        self.sleep = time.sleep
        self.key_param = None
        auth = settings.auth
        headers = dict(settings.headers)
        credentials = None
        if auth is not None and auth.bearer:
            headers["Authorization"] = f"Bearer {auth.bearer}"
        elif auth is not None and auth.api_key:
            if auth.api_key.header:
                headers[auth.api_key.header] = auth.api_key.value
            else:
                self.key_param = (auth.api_key.query, auth.api_key.value)
        elif auth is not None and auth.basic:
            credentials = httpx.BasicAuth(auth.basic.user, auth.basic.password)
        elif auth is not None:
            credentials = TokenAuth(self, auth.oauth2)
        timeout = httpx.Timeout(settings.timeout)
        self.http = httpx.Client(headers=headers, auth=credentials, timeout=timeout, follow_redirects=True)

    def send(self, method: str, url: str, *, params: dict | None = None, body: bytes | None = None) -> Any:
        params = dict(params or {})
        if self.key_param:
            params[self.key_param[0]] = self.key_param[1]
        # merged into the URL's own query (a next page's URL carries one; httpx's `params` replace it)
        target = httpx.URL(url).copy_merge_params(params) if params else url
        headers = {"Content-Type": "application/json"} if body is not None else None
        attempt = 0
        while True:
            self.pace.wait()
            try:
                response = self.http.request(method, target, content=body, headers=headers)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {self.scrub(str(error)) or 'no answer'}"
                wait = None
            else:
                if response.status_code not in RETRIED_STATUSES:
                    return response
                problem = f"HTTP {response.status_code} {response.reason_phrase}"
                wait = retry_after(response.headers.get("Retry-After"))
                response.close()
            if attempt >= self.settings.retries:
                tries = f"{attempt + 1} tr{'y' if attempt == 0 else 'ies'}"
                raise RestError(f"{self.label}: url: {method} {self.shown(url)} failed after {tries}: {problem}")
            pause = backoff(attempt, self.settings.backoff, self.settings.max_backoff) if wait is None else wait
            self.sleep(min(pause, self.settings.max_backoff))
            attempt += 1

    def refused(self, method: str, url: str, response: Any) -> RestError:
        """The error of a response that is not a success and not retried: auth, or the request."""
        status = f"{response.status_code} {response.reason_phrase}"
        request = f"{method} {self.shown(url)}"
        if response.status_code in (401, 403):
            what = "auth:" if self.settings.auth else "auth: none given, and"
            return RestError(f"{self.label}: {what} the server answered {status} to {request}; check the credentials")
        return RestError(f"{self.label}: url: the server answered {status} to {request}: {self.answer(response)}")

    def answer(self, response: Any) -> str:
        """The start of a response's body, for a message, with any secret masked."""
        text = response.text[:SHOWN_BODY].strip()
        return self.scrub(text) or "(no body)"

    def shown(self, url: str) -> str:
        """`url` as a message may show it: without its query string's secrets."""
        return self.scrub(str(url))

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def close(self) -> None:
        self.http.close()


class TokenAuth(httpx.Auth):
    """OAuth 2 client credentials as an httpx auth flow: a token is asked for once and sent as a
    bearer until it expires (30 s early) or the API answers 401, when one new token is asked for."""

    def __init__(self, client: RestClient, credentials: ClientCredentials):
        self.client, self.credentials = client, credentials
        self.token: str | None = None
        self.expires = 0.0

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        fresh = self.token is None or time.monotonic() >= self.expires
        if fresh:
            self.fetch()
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401 and not fresh:
            self.fetch()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request

    def fetch(self) -> None:
        credentials, client = self.credentials, self.client
        form = {"grant_type": "client_credentials"}
        if credentials.scope:
            form["scope"] = credentials.scope
        basic = httpx.BasicAuth(credentials.client_id, credentials.client_secret)
        try:
            response = httpx.post(credentials.token_url, data=form, auth=basic, timeout=client.settings.timeout)
        except httpx.TransportError as error:
            where = f"{client.label}: auth.oauth2.token_url: {client.shown(credentials.token_url)}"
            raise RestError(f"{where}: {type(error).__name__}: {client.scrub(str(error))}") from None
        answer = _json_object(response) if response.is_success else {}
        token = answer.get("access_token")
        if not token or not isinstance(token, str):
            status = f"{response.status_code} {response.reason_phrase}"
            raise RestError(
                f"{client.label}: auth.oauth2: the token endpoint {client.shown(credentials.token_url)} answered "
                f"{status} without an access_token: {client.answer(response)}"
            )
        client.secrets.append(token)
        self.token = token
        lifetime = answer.get("expires_in")
        self.expires = time.monotonic() + (float(lifetime) - 30 if isinstance(lifetime, (int, float)) else 3600)


def _json_object(response: Any) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
