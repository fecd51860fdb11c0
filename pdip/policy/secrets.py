"""Built-in secret rules: which keys look secret, and how to hide their values.

The rule works on the *name* of a field, so it is cheap enough to run on every log line and every
batch. A name is split into words whatever its spelling (`DATABASE_PASSWORD`, `dbPassword`,
`x-api-key`, `APIKey`) and counts as secret when its last word is a secret noun: `password`,
`token`, `secret`, `api_key`, `private_key`, `ssh_key`, `credentials`, `authorization`, `auth`,
`jwt`, `cookie`, `bearer`, `session_id`, and the personal numbers `credit_card`, `card_number`,
`cvv`, `iban`, `ssn`.
Looking at the last word is what keeps `token_count`, `max_tokens`, `password_policy`,
`secret_name`, `access_key_id` and `key_column` readable while `access_token` and
`AWS_SECRET_ACCESS_KEY` are hidden; in English the last word of a compound name says what the
value is. A few trailing words that still hold the secret in another form or what it is made or checked
with (`password_hash`, `password_confirmation`, `password_salt`, `private_key_pem`,
`secret_key_base`, `id_token_hint`) and trailing digits (`password2`) keep a name secret.

Values are checked too, in one narrow case: a password written inside a connection string
(`postgresql://app:pw@db/prod`, `Server=db;Password=pw`) is masked wherever it appears, because
such strings travel under innocent names like `dsn`, `url` or `target`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

MASK = "***"

# Word boundaries inside one spelling: dbPassword -> db_Password, APIKey -> API_Key.
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")

# Matched against the normalised name (lower case, words joined by "_"), anchored at its end.
_SECRET_NAME = re.compile(
    r"""
    (?:
        # short words that are only secret on their own: db_pass, user_pwd, set_cookie, customer_ssn
        (?:^|_)(?:pass|pwd|cookies?|bearer|cvv|cvc|iban|ssn|auth|jwts?)
        # words that stay secret when glued to the word before: dbpassword, csrftoken, jsessionid
      | pass(?:words?|wd|phrase)
      | secrets?
      | token
      | credentials?
      | authorization
      | session_?id | sessid
        # payment cards and national identity numbers
      | credit_?card(?:_?(?:number|num|no))? | (?:^|_)(?:card|cc)_?(?:number|num|no)
      | social_security(?:_?(?:number|num|no))?
        # a key is only secret with a qualifier; primary_key and key_column are not
      | (?:api|secret|private|access|signing|encryption|master|client|app|license|session
         |shared|auth|hmac|jwt|fernet|ssh)_?key
    )
    # the same secret in another form, or what it is made or checked with
    (?:_(?:hash|digest|confirm|confirmation|encrypted|value|pem|base|salt|hint))?
    (?:_?\d+)?                                                   # password2, token_1
    $
    """,
    re.VERBOSE,
)

# scheme://user:password@host - the password is whatever sits between the first ":" after the
# user name and the last "@" of the authority, the way urllib reads it.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)[^/?#\s]*(?=@)")
# key=value connection strings (ODBC, ADO.NET, libpq): Password=pw; PWD={p;w}; password='p w'
_KEYWORD_PASSWORD = re.compile(
    r"""
    (?P<head>(?<![A-Za-z0-9])(?:password|passwd|pwd)\s*=\s*)
    (?:'[^']*' | "[^"]*" | \{[^}]*\} | [^;&\s]*)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_secret_name(name: object) -> bool:
    """True when a field called `name` probably holds a secret and its value should be hidden.

    Names that are not strings (an integer key, say) are never secret.
    """
    if not isinstance(name, str):
        return False
    return _is_secret(name)


@lru_cache(maxsize=4096)
def _is_secret(name: str) -> bool:
    # Field names repeat endlessly (every log line, every row), so the answer is cached per name.
    words = _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", name)).strip("_").lower()
    return _SECRET_NAME.search(words) is not None


def may_hold_password(text: str) -> bool:
    """False when `text` cannot hold a connection string's password (no `://`, no `=`): the
    common case, which costs two substring checks."""
    return "://" in text or "=" in text


def mask_connection_string(text: str) -> str:
    """`text` with any password inside a URL or a key=value connection string replaced by MASK.

    `postgresql://app:pw@db/prod` becomes `postgresql://app:***@db/prod`; the user, host and
    database stay visible because they are what one needs to debug a connection.
    """
    if not may_hold_password(text):
        return text
    text = _URL_PASSWORD.sub(lambda match: match["head"] + MASK, text)
    return _KEYWORD_PASSWORD.sub(lambda match: match["head"] + MASK, text)


# A literal compared with a column in SQL text: `api_token = 'abc'`, `"Card_Number" LIKE '4%'`,
# `pin <> 1234`. The column's name decides whether the literal is hidden.
_SQL_COMPARISON = re.compile(
    r"""
    (?P<head>[`"\[]?(?P<name>[A-Za-z_][A-Za-z0-9_]*)[`"\]]?\s*(?:=|<>|!=|\bLIKE\b|\bILIKE\b)\s*)
    (?P<literal>'(?:[^']|'')*'|-?\d[\d.]*)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def mask_sql_literals(text: str, hidden: Callable[[str], bool] | None = None) -> str:
    """`text` (SQL, or an error quoting it) with credentials in connection strings masked, and
    the literal compared with any column whose name looks secret (or that `hidden(name)` says
    the field policy hides) replaced by MASK: `WHERE api_token = 'abc'` -> `WHERE api_token = ***`."""
    text = mask_connection_string(text)
    if "=" not in text and "like" not in text.lower() and "<>" not in text:
        return text

    def masked(match: re.Match) -> str:
        name = match["name"]
        if is_secret_name(name) or (hidden is not None and hidden(name)):
            return match["head"] + MASK
        return match[0]

    return _SQL_COMPARISON.sub(masked, text)


def mask_secrets(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of `data` with the value of every secret-looking key replaced by MASK.

    Nested dicts, lists and tuples are copied and masked the same way, and passwords inside
    connection strings are masked under any key. A secret key whose value is None keeps None:
    "not set" gives nothing away and is usually what one is debugging. `data` is not changed.
    """
    return {key: _mask_item(key, value) for key, value in data.items()}


def _mask_item(key: Any, value: Any) -> Any:
    if value is not None and is_secret_name(key):
        return MASK
    return _mask_value(value)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_connection_string(value)
    if isinstance(value, Mapping):
        return mask_secrets(value)
    if isinstance(value, list):
        return [_mask_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_mask_value(item) for item in value)
    return value
