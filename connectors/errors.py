"""Errors raised by the source connectors.

Every error names the system and the endpoint (method and path relative to the system's base URL,
without the query string) so that an operator can act on it without a debugger. Messages never
contain credentials.
"""

from __future__ import annotations

import orjson

# Which environment variables hold the credentials of each system (see c360/settings.py).
CREDENTIAL_ENV_VARS: dict[str, str] = {
    "shop": "SHOP_API_TOKEN",
    "erp": "ERP_API_KEY",
    "helpdesk": "HELPDESK_EMAIL and HELPDESK_API_TOKEN",
    "accounting": "ACCOUNTING_API_KEY",
}

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
}


class SourceError(Exception):
    """Base of every connector error."""

    def __init__(self, message: str, *, system: str, endpoint: str, status: int | None = None):
        super().__init__(message)
        self.system = system
        self.endpoint = endpoint
        self.status = status


class SourceAuthError(SourceError):
    """401/403: the credentials are wrong, missing or lack permission."""

    @classmethod
    def from_status(cls, system: str, endpoint: str, status: int, detail: str = "") -> "SourceAuthError":
        env = CREDENTIAL_ENV_VARS.get(system, f"{system.upper()} credentials")
        msg = f"{system}: {status} {_REASONS.get(status, 'Error')} at {endpoint} — check {env}"
        if detail:
            msg += f" (server said: {detail})"
        return cls(msg, system=system, endpoint=endpoint, status=status)


class SourceRequestError(SourceError):
    """400/404/422 and other client errors: the request itself is wrong; retrying cannot help."""

    @classmethod
    def from_status(cls, system: str, endpoint: str, status: int, detail: str) -> "SourceRequestError":
        msg = f"{system}: {status} {_REASONS.get(status, 'Client Error')} at {endpoint}: {detail or '(no message)'}"
        return cls(msg, system=system, endpoint=endpoint, status=status)


class SourceUnavailableError(SourceError):
    """Retries exhausted (5xx, timeouts, broken connections, undecodable bodies, throttling)."""

    def __init__(self, message: str, *, system: str, endpoint: str, status: int | None = None,
                 attempts: int = 0, last_cause: str = ""):
        super().__init__(message, system=system, endpoint=endpoint, status=status)
        self.attempts = attempts
        self.last_cause = last_cause

    @classmethod
    def exhausted(cls, system: str, endpoint: str, attempts: int, last_cause: str,
                  status: int | None = None) -> "SourceUnavailableError":
        msg = (
            f"{system}: {endpoint} still failing after {attempts} attempts (last cause: {last_cause}). "
            f"Check that {system.upper()}_API_URL points at a running {system} API and that it is reachable, "
            f"then run the sync again; it resumes from the last stored watermark."
        )
        return cls(msg, system=system, endpoint=endpoint, status=status, attempts=attempts, last_cause=last_cause)


def _flatten(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_flatten(v) for v in value)
    return str(value)


def extract_error_message(system: str, content: bytes, limit: int = 500) -> str:
    """The error message from a system's own error format (falls back to the raw body text)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        text = content.decode("utf-8", "replace").strip()
        return text[:limit]
    msg = ""
    if isinstance(body, dict):
        if system == "shop":
            # {"errors": "..."} or {"errors": {"page_info": ["..."]}}
            msg = _flatten(body.get("errors", ""))
        elif system == "erp":
            # {"name": "odoo.exceptions.ValidationError", "message": "...", "arguments": [...], ...}
            name = str(body.get("name") or "")
            message = _flatten(body.get("message") or "")
            msg = f"{name.rsplit('.', 1)[-1]}: {message}" if name and message else (message or name)
        elif system == "helpdesk":
            # {"error": "InvalidValue", "description": "...", "details": {...}}
            err = _flatten(body.get("error") or "")
            desc = _flatten(body.get("description") or "")
            msg = f"{err}: {desc}" if err and desc else (desc or err)
            if body.get("details"):
                msg += f" ({_flatten(body['details'])})"
        elif system == "accounting":
            # {"timestamp", "status", "error", "path", "traceId", "message", "details": [...]}
            msg = _flatten(body.get("message") or body.get("error") or "")
            if body.get("details"):
                msg += f" ({_flatten(body['details'])})"
        if not msg:
            for key in ("message", "description", "error", "errors"):
                if body.get(key):
                    msg = _flatten(body[key])
                    break
    if not msg:
        msg = content.decode("utf-8", "replace").strip()
    return msg[:limit]
