"""Alerts when an execution ends: by email (SMTP) and by webhook (a JSON POST, or Slack's format).

```yaml
INTEGRATOR:
  ALERTS:
    ON_FAILURE: true                # an execution that did not finish (the default)
    ON_SUCCESS: false
    DEAD_LETTERS_OVER: 100          # also when an execution dead-lettered more rows than this
    BASE_URL: https://pdip.example.com   # links to <BASE_URL>/runs/<execution id>
    EMAIL: {HOST: smtp.example.com, PORT: 587, SECURITY: starttls, USER: pdip, PASSWORD: enc:...,
            SENDER: pdip@example.com, TO: [data-team@example.com]}
    WEBHOOKS:
      - {URL: "https://hooks.slack.com/services/...", FORMAT: slack}
```

The alert is the execution's summary: its status, seconds, and per integration its status, rows
read, written and dead-lettered, and error (masked as the integrator masks it: no literal of a
secret column, no password of a connection string). Settings and connection secrets are never
in it: it is built from the events alone. A server that fails is counted and logged once
(`pdip.integrator.delivery`), and the run goes on.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Literal

from pdip.integrator.delivery import EMAIL, WEBHOOK, DeliveryFailures, scrubbed
from pdip.integrator.errors import needs
from pdip.integrator.events import IntegrationFailed, IntegrationFinished, OperationFinished, OperationStarted
from pdip.policy import MASK


@dataclasses.dataclass
class EmailAlertConfig:
    """`INTEGRATOR.ALERTS.EMAIL`: an SMTP server and who gets the alerts. `security`: `none`,
    `starttls` (upgrade a plain connection, usually port 587) or `ssl` (TLS from the start, 465);
    the server's certificate is checked against the system's authorities and `ca_file` (a
    private authority's certificate, PEM)."""

    host: str
    sender: str
    to: list[str]
    port: int = 25
    security: Literal["none", "starttls", "ssl"] = "none"
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.to:
            raise ValueError("TO: at least one address")
        for address in (self.sender, *self.to):
            if "@" not in address:
                raise ValueError(f"expected an email address (name@domain), got {address!r}")

    def __repr__(self) -> str:
        password = MASK if self.password else None
        return f"EmailAlertConfig(host={self.host!r}, port={self.port}, to={self.to!r}, password={password!r})"


@dataclasses.dataclass
class WebhookAlertConfig:
    """`INTEGRATOR.ALERTS.WEBHOOKS[]`: a URL the alert is POSTed to as JSON. `format`: `json`
    (pdip's summary) or `slack` (`{"text": ...}`, which Slack, Mattermost and Teams' incoming
    webhooks take). The URL and `headers` are secret (a webhook's URL is its credential)."""

    url: str
    format: Literal["json", "slack"] = "json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("URL: expected an http:// or https:// address")

    def __repr__(self) -> str:
        return f"WebhookAlertConfig(url={MASK!r}, format={self.format!r})"


@dataclasses.dataclass
class AlertsConfig:
    """`INTEGRATOR.ALERTS`: when to alert and whom. `dead_letters_over`: alert also when an
    execution dead-lettered more rows than this (None: never for that alone). `base_url`: where
    the runs pages are served; the alert links to `<base_url>/runs/<execution id>`."""

    on_failure: bool = True
    on_success: bool = False
    dead_letters_over: int | None = None
    base_url: str | None = None
    email: EmailAlertConfig | None = None
    webhooks: list[WebhookAlertConfig] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Summary:
    """What an alert says of an execution, gathered from its events."""

    execution_id: str
    operation: str
    status: str = "running"
    seconds: float = 0.0
    integrations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    link: str | None = None
    reasons: list[str] = dataclasses.field(default_factory=list)

    @property
    def rows_dead_lettered(self) -> int:
        return sum(item["rows_dead_lettered"] for item in self.integrations)

    def subject(self) -> str:
        return f"pdip: {self.operation} {self.status} (execution {self.execution_id})"

    def text(self) -> str:
        lines = [
            f"Operation {self.operation}: {self.status} in {self.seconds:.2f} s",
            f"Execution: {self.execution_id}",
            f"Alerted for: {', '.join(self.reasons)}",
            f"Rows dead-lettered: {self.rows_dead_lettered}",
        ]
        for item in self.integrations:
            lines.append(
                f"- {item['name']}: {item['status']}, read {item['rows_read']}, written {item['rows_written']}, "
                f"dead-lettered {item['rows_dead_lettered']}, {item['seconds']:.2f} s"
            )
            if item["error"]:
                lines.append(f"  error: {item['error']}")
        if self.link:
            lines.append(f"Run page: {self.link}")
        return "\n".join(lines) + "\n"

    def payload(self, format: str) -> dict[str, Any]:
        if format == "slack":
            text = self.text()
            if self.link:
                text = text.replace(f"Run page: {self.link}", f"<{self.link}|Run page>")
            return {"text": text}
        return {**dataclasses.asdict(self), "rows_dead_lettered": self.rows_dead_lettered}


class Alerts:
    """Subscribe with `attach(integrator)`; alerts when an execution ends as `config` asks."""

    def __init__(self, config: AlertsConfig, failures: DeliveryFailures):
        if config.webhooks:
            self._httpx = needs("httpx", "webhook alerts (INTEGRATOR.ALERTS.WEBHOOKS)", "alerts")
        self.config = config
        self.failures = failures
        self._summaries: dict[str, Summary] = {}
        self._lock = threading.Lock()

    def attach(self, integrator: Any) -> Alerts:
        integrator.subscribe(OperationStarted, self.operation_started)
        integrator.subscribe(IntegrationFinished, self.integration_ended)
        integrator.subscribe(IntegrationFailed, self.integration_ended)
        integrator.subscribe(OperationFinished, self.operation_finished)
        return self

    def operation_started(self, event: OperationStarted) -> None:
        with self._lock:
            self._summaries[event.execution_id] = Summary(event.execution_id, event.operation)

    def integration_ended(self, event: IntegrationFinished | IntegrationFailed) -> None:
        failed = isinstance(event, IntegrationFailed)
        with self._lock:
            summary = self._summaries.get(event.execution_id)
            if summary is None:  # pragma: no cover - every execution starts with OperationStarted
                return
            summary.integrations.append(
                {
                    "name": event.integration,
                    "status": "failed" if failed else "finished",
                    "rows_read": 0 if failed else event.rows_read,
                    "rows_written": 0 if failed else event.rows_written,
                    "rows_dead_lettered": 0 if failed else event.rows_dead_lettered,
                    "seconds": event.elapsed,
                    "error": event.error if failed else None,
                }
            )

    def operation_finished(self, event: OperationFinished) -> None:
        with self._lock:
            summary = self._summaries.pop(event.execution_id, None) or Summary(event.execution_id, event.operation)
        summary.status, summary.seconds = event.status, event.elapsed
        summary.reasons = self._reasons(summary)
        if not summary.reasons:
            return
        if self.config.base_url:
            summary.link = f"{self.config.base_url.rstrip('/')}/runs/{summary.execution_id}"
        if self.config.email is not None:
            self._email(self.config.email, summary)
        for webhook in self.config.webhooks:
            self._post(webhook, summary)

    def _reasons(self, summary: Summary) -> list[str]:
        reasons = []
        if summary.status != "finished" and self.config.on_failure:
            reasons.append("failure")
        if summary.status == "finished" and self.config.on_success:
            reasons.append("success")
        over = self.config.dead_letters_over
        if over is not None and summary.rows_dead_lettered > over:
            reasons.append(f"more than {over} rows dead-lettered")
        return reasons

    # -- sending ---------------------------------------------------------------------------------

    def _email(self, config: EmailAlertConfig, summary: Summary) -> None:
        import smtplib
        import ssl
        from email.message import EmailMessage

        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = summary.subject(), config.sender, ", ".join(config.to)
        message.set_content(summary.text())
        try:
            context = ssl.create_default_context(cafile=config.ca_file) if config.security != "none" else None
            if config.security == "ssl":
                server = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
            else:
                server = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            with server:
                if config.security == "starttls":
                    server.starttls(context=context)
                if config.user:
                    server.login(config.user, config.password or "")
                server.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            reason = scrubbed(f"{type(error).__name__}: {error}", [config.password, config.user])
            self.failures.failed(EMAIL, summary.execution_id, f"SMTP server {config.host}:{config.port}: {reason}")

    def _post(self, config: WebhookAlertConfig, summary: Summary) -> None:
        where = _origin(config.url)
        try:
            response = self._httpx.post(
                config.url, json=summary.payload(config.format), headers=config.headers, timeout=config.timeout
            )
        except self._httpx.HTTPError as error:
            reason = scrubbed(f"{type(error).__name__}: {error}", [config.url, *config.headers.values()])
            self.failures.failed(WEBHOOK, summary.execution_id, f"webhook {where}: {reason}")
            return
        if not response.is_success:
            self.failures.failed(WEBHOOK, summary.execution_id, f"webhook {where}: HTTP {response.status_code}")


def _origin(url: str) -> str:
    """Where a webhook is, without its path, query or user (its URL is its credential)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}"
