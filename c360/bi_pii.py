"""Personal data in the BI snapshot: which published columns hold it, and what each mode makes of it.

BI readers (dashboards, analysts, a Power BI file mailed around) need figures per customer, not the
customer's name, address or phone. The snapshot (`c360.bi_publish`) therefore writes every column
named in `PERSONAL_COLUMNS` through `select_list`, by the mode `C360_BI_PII`:

- `pseudonymised` (the default): names, e-mails, phones and streets become a keyed hash, the same
  for the same value in every table and every snapshot, so that a report can still count people,
  join `fct_survey_responses.respondent_email` to `golden_customers.email` or follow one customer
  across tables, but nobody reading the snapshot can tell who it is; a birthday becomes the birth
  year, a postcode its two-digit region (Leitregion); free text that can name anyone (ticket
  subjects, invoice remarks) is null.
- `none`: every personal column is null (the columns stay, with their types, so that a dashboard
  built on another mode opens and shows blanks).
- `full`: the clear values, for a BI deployment entitled to them.

The hash: DuckDB has no HMAC, so it is `sha256(key || value)` computed in DuckDB, cut to 16 hex
digits (64 bits: no collision to expect among millions of values). With a secret key of 64 hex digits
prefixed, the known weakness of that construction against HMAC (length extension: computing the hash
of `key || value || suffix` from the hash of `key || value`) yields hashes of longer values only and
neither reveals the key nor a value; without the key the hashes cannot be recomputed from a list of
known e-mails. The key is `C360_BI_PII_KEY`, else one generated on first use and kept in a file only
its owner may read, beside the live warehouse (not beside the BI copies). Values are hashed as the
warehouse holds them (e-mails normalised, phones in E.164, names as chosen for the golden record).

Identifiers (golden ids, source record ids, order numbers) stay: they say who someone is only to a
reader who also has the sources. Columns whose names look personal but hold none (`email_source`,
the name of a system) are declared in `NOT_PERSONAL_COLUMNS`; `undeclared_columns` lists any
published column that looks personal and is in neither, and a test fails on it, so that a new mart
column cannot reach BI readers in clear by oversight.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from c360 import settings

MODES = ("full", "pseudonymised", "none")
HASH_HEX_DIGITS = 16
KEY_PARAMETER = "c360_bi_pii_key"


@dataclass(frozen=True)
class PersonalColumn:
    holds: str
    pseudonymised: str  # hash | birth_year | postcode_region | keep | null


# Published column name -> what it holds and what `pseudonymised` makes of it (in every table that
# has a column of that name; `none` makes every one of them null, `full` keeps them).
PERSONAL_COLUMNS: dict[str, PersonalColumn] = {
    "first_name": PersonalColumn("first name", "hash"),
    "last_name": PersonalColumn("last name", "hash"),
    # a sole trader's firm is often their own name ("Anna Müller Textilien e.K.")
    "company_name": PersonalColumn("company name", "hash"),
    "email": PersonalColumn("e-mail address (normalised)", "hash"),
    "respondent_email": PersonalColumn("NPS respondent's e-mail (normalised)", "hash"),
    "phone": PersonalColumn("phone number (E.164)", "hash"),
    "street": PersonalColumn("street and house number", "hash"),
    "postcode": PersonalColumn("postcode", "postcode_region"),
    # a city alone names thousands of people; with the clear address gone it stays for regional reports
    "city": PersonalColumn("city", "keep"),
    "birthday": PersonalColumn("date of birth", "birth_year"),
    "subject": PersonalColumn("ticket subject (free text)", "null"),
    "remark": PersonalColumn("invoice remark (free text)", "null"),
    "reason": PersonalColumn("reason given with a privacy request (free text)", "null"),
}

# Columns whose names look personal (`LOOKS_PERSONAL`) but hold no personal data.
NOT_PERSONAL_COLUMNS: dict[str, str] = {
    "name_source": "the system the name was taken from",
    "company_name_source": "the system the company name was taken from",
    "email_source": "the system the e-mail was taken from",
    "phone_source": "the system the phone was taken from",
    "address_source": "the system the address was taken from",
    "birthday_source": "the system the birthday was taken from",
    "email_marketing_allowed": "consent flag",
    "email_marketing_consent": "consent flag",
    "email_marketing_consent_state": "consent state",
    "email_marketing_opt_in_level": "consent opt-in level",
    "email_marketing_consent_updated_at": "date of the consent decision",
    "has_email_marketing_consent": "consent flag",
    "is_email_segment": "the segment's channel",
    "tickets_email": "a count",
    "erp_order_name": "the ERP's order number (S00042)",
    "unresolved_reason": "why a fact has no customer (a code)",
    "unresolved_reasons": "why facts have no customer (codes)",
    "segment_label": "the segment's name",
    "objection_reason_given": "whether a reason was given (flag)",
    "loose_credit_notes_net": "an amount (credit notes without an order)",
    "credit_notes_count": "a count of credit notes (booked view)",
    "credit_notes_gross": "an amount (booked view)",
    "credit_notes_net": "an amount (booked view)",
}

# What makes a column name look like personal data: names, contact data, addresses, birth dates and
# free text that can hold any of them.
LOOKS_PERSONAL = re.compile(
    r"name|mail|phone|mobile|fax|street|address|addr|postcode|postal|zip|city|birth|dob|iban|"
    r"subject|remark|comment|note|text|message|body|reason",
    re.IGNORECASE,
)


def undeclared_columns(columns: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per table (`<schema>.<table>` -> column names), the columns that look personal and are declared
    neither personal nor not personal."""
    found = {}
    for table, names in columns.items():
        undeclared = [c for c in names if LOOKS_PERSONAL.search(c)
                      and c not in PERSONAL_COLUMNS and c not in NOT_PERSONAL_COLUMNS]
        if undeclared:
            found[table] = undeclared
    return found


@dataclass
class BiPii:
    """One mode, and the key of its hashes (read or generated only when a hashed column is published)."""

    mode: str
    key: str | None = None
    key_file: Path | None = None
    _resolved_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"BI personal-data mode {self.mode!r}; use one of {', '.join(MODES)}")

    def __repr__(self) -> str:  # the key never reaches a log
        return f"BiPii(mode={self.mode!r}, key=<redacted>)"

    def treatment(self, column: str) -> str:
        """What this mode does to a column: keep, hash, birth_year, postcode_region or null."""
        personal = PERSONAL_COLUMNS.get(column)
        if personal is None or self.mode == "full":
            return "keep"
        return "null" if self.mode == "none" else personal.pseudonymised

    def needs_key(self, columns: list[tuple[str, str]]) -> bool:
        return any(self.treatment(name) == "hash" for name, _ in columns)

    def secret(self) -> str:
        if self._resolved_key is None:
            if self.key:
                self._resolved_key = self.key
            elif self.key_file is not None:
                self._resolved_key = load_or_create_key(self.key_file)
            else:
                raise ValueError("pseudonymised BI columns need a key: set C360_BI_PII_KEY or give a key file")
        return self._resolved_key

    def fingerprint_salt(self, columns: list[tuple[str, str]]) -> str:
        """What the published table depends on besides its rows: the treatment of each column, and
        for hashed columns which key (a hash of it, never the key). Part of the table's fingerprint,
        so that a change of mode or key republishes exactly the tables it changes."""
        treatments = [(name, self.treatment(name)) for name, _ in columns if self.treatment(name) != "keep"]
        if not treatments:
            return ""
        key_id = key_fingerprint(self.secret()) if self.needs_key(columns) else ""
        return f"bi_pii {HASH_HEX_DIGITS} {treatments} {key_id}"

    def select_list(self, columns: list[tuple[str, str]]) -> str:
        """The select list that publishes `columns` ((name, DuckDB type) in order) in this mode. A hashed
        column reads the key from the named parameter `KEY_PARAMETER` (see `parameters`)."""
        return ", ".join(_expression(name, data_type, self.treatment(name)) for name, data_type in columns)

    def parameters(self, columns: list[tuple[str, str]]) -> dict[str, str]:
        return {KEY_PARAMETER: self.secret()} if self.needs_key(columns) else {}


def _expression(name: str, data_type: str, treatment: str) -> str:
    column = f'"{name}"'
    if treatment == "keep":
        return column
    if treatment == "null":
        return f"cast(null as {data_type}) as {column}"
    if treatment == "hash":
        return f"left(sha256(${KEY_PARAMETER} || cast({column} as varchar)), {HASH_HEX_DIGITS}) as {column}"
    if treatment == "birth_year":
        return f"cast(year({column}) as integer) as {column}"
    if treatment == "postcode_region":
        return f"left(cast({column} as varchar), 2) as {column}"
    raise ValueError(f"unknown treatment {treatment!r} of column {name}")


def key_fingerprint(key: str) -> str:
    """A name for the key that says nothing about it (to tell whether the key changed)."""
    return hashlib.sha256(f"c360 bi pii key id:{key}".encode()).hexdigest()[:16]


def load_or_create_key(path: Path) -> str:
    """The key kept in `path`; created there (random, 64 hex digits, readable by its owner only) when
    there is none. Two processes creating it at once agree: the file appears by one link, whole."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(staging, path)
        except FileExistsError:
            pass  # another process was first: its key counts
    finally:
        staging.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"the BI pseudonym key file {path} is empty; delete it to have a new key generated "
                         "(pseudonyms then change) or set C360_BI_PII_KEY")
    return key


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[tuple[str, str]]:
    """(name, type) of a table's columns, in order."""
    return con.execute(
        """
        select column_name, data_type from information_schema.columns
        where table_catalog = current_database() and table_schema = ? and table_name = ?
        order by ordinal_position
        """,
        [schema, name],
    ).fetchall()


def from_settings() -> BiPii:
    """The mode and key of `C360_BI_PII` and `C360_BI_PII_KEY` (else the generated key's file)."""
    return BiPii(settings.bi_pii_mode(), key=settings.bi_pii_key(), key_file=settings.bi_pii_key_file())
