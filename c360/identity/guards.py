"""Guards against over-merging: households share a phone, an address, even an e-mail, but not a person.

Three kinds of guard, applied to every candidate link (certain or probable) before clustering:

- **vetoes** on a pair: conflicting first names (both given, neither an initial of the other, not a
  typo of each other) or conflicting birthdays (both given and different) forbid the link, unless the
  rest of the record says it is one person mistyped (`records_conflict`): first and last name swapped;
  another first name with a birthday the same or one typo away (one digit, two neighbouring digits or
  day and month swapped) and the same last name or address; such a birthday with a compatible first
  name and the same last name or address; another birthday where first name, last name and address
  are all the same. A household (same address and last name) keeps its first names and birthdays
  apart; what these let through are twins at one address (another first name, same birthday) and a
  father and son of one name at one address (another birthday): registers typed by hand (FEBRL)
  hold far more such typos than those;
- **identifier caps**: when one e-mail, phone or address is used by more than `cap` different first
  names, it is a household (or a placeholder) identifier; a link through it then needs the same
  first name on both sides (or one mistyped, but not its other-gender form: jacison / jackson, not
  daniel / daniela), so that `A. Müller` or a record without a first name cannot bridge the people
  who share it;
- **cluster conflicts** (used by `c360.identity.clustering`): two groups of records may only be merged
  if no first name or birthday of one conflicts with the other, which stops transitive chains
  (Anna -phone- A. -email- Andreas) from joining people whom no single link joined.

The same rule exists twice: as SQL for DuckDB (millions of pairs) and in Python (cluster checks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

# two first names are the same person's when their Jaro-Winkler similarity reaches this, or they are
# one edit apart (swap, drop, double, replace: the typos people make)
NAME_JW_THRESHOLD = 0.9
NAME_MAX_EDITS = 1
# the rules of a data steward's labels among the links (c360.identity.review)
STEWARD_MATCH = "steward_match"
STEWARD_NO_MATCH = "steward_no_match"


@dataclass(frozen=True)
class GuardConfig:
    email_cap: int = 2  # distinct first names one e-mail may join before it counts as shared
    phone_cap: int = 2
    address_cap: int = 2
    max_cluster_size: int = 40  # records per golden customer; bigger components are split


# --- Python (cluster checks and unit tests) -----------------------------------------------------


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1) -> float:
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    a_match = [False] * la
    b_match = [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not b_match[j] and b[j] == ch:
                a_match[i] = b_match[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    a_chars = [c for c, m in zip(a, a_match) if m]
    b_chars = [c for c, m in zip(b, b_match) if m]
    transpositions = sum(x != y for x, y in zip(a_chars, b_chars)) / 2
    jaro = (matches / la + matches / lb + (matches - transpositions) / matches) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def _clean(name: str | None) -> str:
    return (name or "").strip().rstrip(".").lower()


def first_names_compatible(a: str | None, b: str | None) -> bool:
    """May these two first names belong to one person? Missing names are compatible with anything."""
    a, b = _clean(a), _clean(b)
    if not a or not b or a == b:
        return True
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    return edit_distance(a, b) <= NAME_MAX_EDITS or jaro_winkler(a, b) >= NAME_JW_THRESHOLD


def birthdays_compatible(a, b) -> bool:
    return a is None or b is None or a == b


def _agree(a: str | None, b: str | None) -> bool:
    """Two full names (last names, or swapped first/last) agree: equal, one edit apart or JW >= threshold."""
    a, b = _clean(a), _clean(b)
    return bool(a) and bool(b) and (a == b or edit_distance(a, b) <= NAME_MAX_EDITS
                                    or jaro_winkler(a, b) >= NAME_JW_THRESHOLD)


def _ymd(day) -> str:
    return day.strftime("%Y%m%d")


def birthdays_near(a, b) -> bool:
    """One typo apart: one digit of YYYYMMDD changed, two neighbours swapped, or day and month swapped."""
    x, y = _ymd(a), _ymd(b)
    return edit_distance(x, y) <= 1 or x[:4] + x[6:] + x[4:6] == y


def _addresses_agree(a: dict, b: dict) -> bool:
    """The same street, or a similar one (JW >= threshold) in the same postcode or one a typo away."""
    sa, sb, pa, pb = a.get("street_normalized"), b.get("street_normalized"), a.get("postcode"), b.get("postcode")
    if not (sa and sb and pa and pb):
        return False
    return sa == sb or (edit_distance(pa, pb) <= 1 and jaro_winkler(sa, sb) >= NAME_JW_THRESHOLD)


def _swapped(a: dict, b: dict) -> bool:
    """First and last name swapped on one side: both crosswise, or one crosswise and the same birthday."""
    fa, fb, la, lb = (a.get("first_name_folded"), b.get("first_name_folded"), a.get("last_name_folded"),
                      b.get("last_name_folded"))
    cross = (_agree(fa, lb), _agree(fb, la))
    same_birthday = a.get("birthday") is not None and a.get("birthday") == b.get("birthday")
    return all(cross) or (any(cross) and same_birthday)


def records_conflict(a: dict, b: dict) -> str | None:
    """The veto of a link between two records (dicts of GUARD_RECORD_COLUMNS) before the identifier caps:
    'first_name_conflict', 'birthday_conflict' or None. The Python twin of `veto_links`' first two guards."""
    fa, fb = a.get("first_name_folded"), b.get("first_name_folded")
    ba, bb = a.get("birthday"), b.get("birthday")
    same_last = _agree(a.get("last_name_folded"), b.get("last_name_folded"))
    near = ba is not None and bb is not None and (ba == bb or birthdays_near(ba, bb))
    if not first_names_compatible(fa, fb):
        if not (_swapped(a, b) or (near and (same_last or _addresses_agree(a, b)))):
            return "first_name_conflict"
        return None if birthdays_compatible(ba, bb) or near else "birthday_conflict"
    if not birthdays_compatible(ba, bb):
        full_names = bool(_clean(fa)) and len(_clean(fa)) > 1 and len(_clean(fb)) > 1
        same_address = _addresses_agree(a, b)
        if full_names and ((near and (same_last or same_address))
                           or (_clean(fa) == _clean(fb) and same_last and same_address)):
            return None
        return "birthday_conflict"
    return None


def groups_compatible(names_a: Iterable[str], names_b: Iterable[str], bdays_a: Iterable, bdays_b: Iterable) -> bool:
    """May two groups of records (each one person so far) be merged, by first names and birthdays alone?"""
    bdays_a, bdays_b = set(bdays_a), set(bdays_b)
    if bdays_a and bdays_b and not (bdays_a & bdays_b):
        return False
    names_b = list(names_b)
    return all(first_names_compatible(x, y) for x in names_a for y in names_b)


# --- SQL (millions of pairs) ---------------------------------------------------------------------


def first_name_conflict_sql(left: str, right: str) -> str:
    """SQL boolean: the two first-name expressions conflict (the Python rule, in DuckDB)."""
    a = f"nullif(rtrim(lower(trim({left})), '.'), '')"
    b = f"nullif(rtrim(lower(trim({right})), '.'), '')"
    return f"""(
        {a} is not null and {b} is not null and {a} <> {b}
        and case
            when length({a}) = 1 or length({b}) = 1 then left({a}, 1) <> left({b}, 1)
            else damerau_levenshtein({a}, {b}) > {NAME_MAX_EDITS}
                 and jaro_winkler_similarity({a}, {b}) < {NAME_JW_THRESHOLD}
        end)"""


def birthday_conflict_sql(left: str, right: str) -> str:
    return f"({left} is not null and {right} is not null and {left} <> {right})"


def _agree_sql(a: str, b: str) -> str:
    """SQL twin of `_agree` (for names already folded: lower case, no trailing dot)."""
    return (f"({a} is not null and {b} is not null and ({a} = {b} or damerau_levenshtein({a}, {b}) <= {NAME_MAX_EDITS}"
            f" or jaro_winkler_similarity({a}, {b}) >= {NAME_JW_THRESHOLD}))")


def _birthdays_near_sql(a: str, b: str) -> str:
    x, y = f"strftime({a}, '%Y%m%d')", f"strftime({b}, '%Y%m%d')"
    return f"(damerau_levenshtein({x}, {y}) <= 1 or strftime({a}, '%Y%d%m') = {y})"


def _addresses_agree_sql() -> str:
    return ("(e.postcode_l is not null and e.postcode_r is not null and (e.street_l = e.street_r "
            "or damerau_levenshtein(e.postcode_l, e.postcode_r) <= 1 "
            f"and jaro_winkler_similarity(e.street_l, e.street_r) >= {NAME_JW_THRESHOLD}))")


def _forgiven_first_name_sql() -> str:
    """The link's first-name conflict is a typo of one person (`records_conflict`)."""
    fl, fr = "rtrim(e.first_name_l, '.')", "rtrim(e.first_name_r, '.')"
    cross_l, cross_r = _agree_sql(fl, "e.last_name_r"), _agree_sql(fr, "e.last_name_l")
    same_birthday = "coalesce(e.birthday_l = e.birthday_r, false)"
    near = f"coalesce(e.birthday_l = e.birthday_r or {_birthdays_near_sql('e.birthday_l', 'e.birthday_r')}, false)"
    return (f"(({cross_l} and {cross_r}) or (({cross_l} or {cross_r}) and {same_birthday}) "
            f"or ({near} and ({_agree_sql('e.last_name_l', 'e.last_name_r')} or {_addresses_agree_sql()})))")


def _forgiven_birthday_sql() -> str:
    """The link's birthday conflict is a typo of one person (`records_conflict`); first names do not conflict."""
    fl, fr = "rtrim(e.first_name_l, '.')", "rtrim(e.first_name_r, '.')"
    same_last = _agree_sql("e.last_name_l", "e.last_name_r")
    return (f"(length({fl}) > 1 and length({fr}) > 1 "
            f"and (({_birthdays_near_sql('e.birthday_l', 'e.birthday_r')} and ({same_last} or {_addresses_agree_sql()}))"
            f" or ({fl} = {fr} and {same_last} and {_addresses_agree_sql()})))")


def _mistyped_first_name_sql() -> str:
    """SQL: the link's two full first names are one name mistyped (`first_name_conflict_sql` already found
    them compatible), not a name and its other-gender form. Gendered forms differ only in their last
    two letters (jan / jana, daniel / daniela, alexander / alexandra, mario / maria); a typo elsewhere
    (jackson / jacison, claudia / claurdia) leaves the start of the shorter name unequal."""
    fl, fr = "rtrim(e.first_name_l, '.')", "rtrim(e.first_name_r, '.')"
    shared = f"least(length({fl}), length({fr})) - 2"
    return (f"(length({fl}) > 1 and length({fr}) > 1 and {fl} <> {fr} "
            f"and left({fl}, {shared}) <> left({fr}, {shared}))")


def identifier_fanout(con: duckdb.DuckDBPyConnection, records_table: str, target: str) -> None:
    """Table `target`: per identifier (kind, value) the number of distinct full first names using it."""
    con.execute(
        f"""
        create or replace temp table {target} as
        with ids as (
            select 'email' as kind, email_normalized as value, first_name_folded as fn from {records_table}
            where email_normalized is not null
            union all
            select 'phone', phone_e164, first_name_folded from {records_table} where phone_e164 is not null
            union all
            select 'address', street_normalized || '|' || postcode, first_name_folded from {records_table}
            where street_normalized is not null and postcode is not null
        )
        select kind, value, count(distinct case when length(rtrim(fn, '.')) > 1 then fn end) as first_names
        from ids group by all
        """
    )


# the columns of `guard_records`' table besides `record_key`: a link's veto and a record's place in
# the cluster checks depend on nothing else
GUARD_RECORD_COLUMNS = ["first_name_folded", "last_name_folded", "birthday", "email_normalized", "phone_e164", "street_normalized",
                        "postcode", "email_over_cap", "phone_over_cap", "address_over_cap"]


def guard_records(con: duckdb.DuckDBPyConnection, records_table: str, target: str, config: GuardConfig) -> None:
    """`target`: per record the fields the guards read, and whether its e-mail, phone and address are
    over their caps (one join per record instead of three per link). A link's veto depends only on
    its two rows here, which lets `c360.identity.resolve` re-guard just the links of changed rows."""
    fanout = "__identity_fanout"
    identifier_fanout(con, records_table, fanout)
    con.execute(
        f"""
        create or replace temp table {target} as
        select r.record_key, r.first_name_folded, r.last_name_folded, r.birthday, r.email_normalized, r.phone_e164,
               r.street_normalized, r.postcode,
               coalesce(fe.first_names > {config.email_cap}, false) as email_over_cap,
               coalesce(fp.first_names > {config.phone_cap}, false) as phone_over_cap,
               coalesce(fa.first_names > {config.address_cap}, false) as address_over_cap
        from {records_table} r
        left join {fanout} fe on fe.kind = 'email' and fe.value = r.email_normalized
        left join {fanout} fp on fp.kind = 'phone' and fp.value = r.phone_e164
        left join {fanout} fa on fa.kind = 'address' and fa.value = r.street_normalized || '|' || r.postcode
        """
    )
    con.execute(f"drop table {fanout}")


def veto_links(con: duckdb.DuckDBPyConnection, edges_table: str, guard_records_table: str, target: str) -> None:
    """`target`: the links of `edges_table` (record_key_l, record_key_r, rule, ...) with a `veto` column,
    the name of the first guard that forbids the link, or null.

    `rule` is `splink` for a probable link, else the name of the certain rule; vetoes apply to all
    links, identifier caps only to probable ones. A data steward's labels are links too: a
    `steward_match` is never vetoed, a `steward_no_match` vetoes itself and every other link of the
    same pair (`edges_table` must hold the pair's label with its links: `resolve` re-guards all the
    links of a changed record, and a label change marks both of its records changed).

    The first-name rule (edit distance and Jaro-Winkler) is evaluated once per distinct pair of
    differing names, not per link: at 1M persons 33k name pairs instead of 4.3M links (12 s -> 1.3 s).
    """
    con.execute(
        f"""
        create or replace temp table __identity_guard_links as
        select e.*, l.first_name_folded as first_name_l, r.first_name_folded as first_name_r,
               l.birthday as birthday_l, r.birthday as birthday_r,
               l.last_name_folded as last_name_l, r.last_name_folded as last_name_r,
               l.street_normalized as street_l, r.street_normalized as street_r,
               l.postcode as postcode_l, r.postcode as postcode_r,
               l.email_normalized = r.email_normalized and l.email_over_cap as shared_email_over_cap,
               l.phone_e164 = r.phone_e164 and l.phone_over_cap as shared_phone_over_cap,
               l.street_normalized = r.street_normalized and l.postcode = r.postcode and l.address_over_cap
                   as shared_address_over_cap
        from {edges_table} e
        join {guard_records_table} l on l.record_key = e.record_key_l
        join {guard_records_table} r on r.record_key = e.record_key_r
        """
    )
    con.execute(
        f"""
        create or replace temp table __identity_name_conflicts as
        select first_name_l, first_name_r
        from (select distinct first_name_l, first_name_r from __identity_guard_links where first_name_l <> first_name_r)
        where {first_name_conflict_sql('first_name_l', 'first_name_r')}
        """
    )
    con.execute(
        f"""
        create or replace temp table {target} as
        select e.* exclude (first_name_l, first_name_r, birthday_l, birthday_r, last_name_l, last_name_r, street_l,
                            street_r, postcode_l, postcode_r, shared_email_over_cap, shared_phone_over_cap,
                            shared_address_over_cap),
            case
                -- a data steward's decision on the pair overrides every guard
                when s.record_key_l is not null then '{STEWARD_NO_MATCH}'
                when e.rule = '{STEWARD_MATCH}' then null
                -- the forgiving conditions are read only for the few links that conflict
                when c.first_name_l is not null and not coalesce({_forgiven_first_name_sql()}, false)
                    then 'first_name_conflict'
                when {birthday_conflict_sql('e.birthday_l', 'e.birthday_r')}
                     and not coalesce(case when c.first_name_l is not null
                                           then {_birthdays_near_sql('e.birthday_l', 'e.birthday_r')}
                                           else {_forgiven_birthday_sql()} end, false)
                    then 'birthday_conflict'
                -- caps guard only probable links, and only when nothing personal agrees
                when e.rule <> 'splink' then null
                when e.birthday_l = e.birthday_r then null
                when coalesce(e.first_name_l, '') = coalesce(e.first_name_r, '')
                     and length(rtrim(coalesce(e.first_name_l, ''), '.')) > 1 then null
                when c.first_name_l is null and {_mistyped_first_name_sql()} then null
                when e.shared_email_over_cap then 'shared_email_cap'
                when e.shared_phone_over_cap then 'shared_phone_cap'
                when e.shared_address_over_cap then 'shared_address_cap'
            end as veto
        from __identity_guard_links e
        left join __identity_name_conflicts c on c.first_name_l = e.first_name_l and c.first_name_r = e.first_name_r
        left join (select distinct record_key_l, record_key_r from {edges_table} where rule = '{STEWARD_NO_MATCH}') s
            on s.record_key_l = e.record_key_l and s.record_key_r = e.record_key_r
        """
    )
    con.execute("drop table __identity_guard_links; drop table __identity_name_conflicts")


def veto_counts(con: duckdb.DuckDBPyConnection, vetoed_links_table: str) -> dict[str, int]:
    """How many links each guard removed (a link is counted under the first guard that hits)."""
    counts = con.execute(f"select veto, count(*) from {vetoed_links_table} where veto is not null group by veto")
    return {k: int(v) for k, v in counts.fetchall()}


def apply_guards(
    con: duckdb.DuckDBPyConnection,
    edges_table: str,
    records_table: str,
    target: str,
    config: GuardConfig = GuardConfig(),
) -> dict[str, int]:
    """Copy `edges_table` to `target` without vetoed edges (see `veto_links`); returns `veto_counts`."""
    guard_records(con, records_table, "__identity_guard_records", config)
    veto_links(con, edges_table, "__identity_guard_records", "__identity_guarded")
    counts = veto_counts(con, "__identity_guarded")
    con.execute(f"create or replace table {target} as select * exclude (veto) from __identity_guarded where veto is null")
    con.execute("drop table __identity_guarded; drop table __identity_guard_records")
    return counts
