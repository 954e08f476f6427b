"""Identity resolution on every input shape: each ends in a crosswalk that maps every record, links the
obvious duplicates and keeps different people apart, without a crashed step.

The shapes a warehouse can hold beside the demo world: no e-mails at all, no phones, one source system,
0/1/2/10 records, all records identical or all different, a column that is always null, a single
duplicate pair (a prior from the deterministic rules near 0), FEBRL-like registers (names, address,
postcode, birthday; no e-mail or phone) whose duplicates carry a typo. Each runs `match_records` and
`resolve` on a DuckDB file holding `int_customer_records` and `int_identity_certain_links` as dbt would
build them (the derived keys computed as in `int_customer_records.sql`), with the ground truth (which
person a record belongs to) known from the generator, never from the matcher.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from c360.identity.match_run import load_model, match_records
from c360.identity.match_run import DAILY
from c360.identity.matching import (MIN_EM_PAIRS, PRIOR_BOUNDS, TRAINING_BLOCKING_RULES, choose_training_rules,
                                    predict_pairs, score_pairs)
from c360.identity.resolve import resolve
from c360.identity.schema import CERTAIN_LINKS_TABLE, CROSSWALK_TABLE, MATCH_PAIRS_TABLE, RECORDS_TABLE
from tests.conftest import TEST_TODAY

FIRST = ["anna", "lukas", "sophie", "maximilian", "marie", "paul", "emilia", "felix", "hannah", "jonas", "lea",
         "leon", "mia", "noah", "clara", "elias", "lina", "finn", "emma", "ben", "greta", "theo", "ida", "karl",
         "frieda", "oskar", "mathilda", "anton", "johanna", "moritz", "luise", "henry", "charlotte", "jakob",
         "helene", "vincent", "paula", "julian", "rosa", "konstantin"]
LAST = ["mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "schulz", "hoffmann",
        "koch", "richter", "klein", "wolf", "schroeder", "neumann", "schwarz", "braun", "zimmermann", "krueger",
        "hartmann", "lange", "werner", "krause", "lehmann", "koehler", "herrmann", "walter", "koenig", "mayer",
        "kaiser", "fuchs", "peters", "lang", "scholz", "moeller", "weiss", "jung", "hahn", "vogel"]
STREETS = ["hauptstrasse", "schulstrasse", "gartenweg", "bahnhofstrasse", "lindenallee", "kirchgasse",
           "bergstrasse", "waldweg", "rosenstrasse", "muehlenweg", "am markt", "dorfstrasse"]
SYSTEMS = ["shop", "erp", "helpdesk", "accounting"]


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str | None
    mobile: str | None
    landline: str | None
    street: str | None
    postcode: str | None
    birthday: date | None


@dataclass
class Shape:
    """Records as (record_key, person id, Person as that record holds it) and certain links between them."""

    records: list[tuple[str, int, Person]]
    certain_links: list[tuple[str, str, str]] = field(default_factory=list)


def _people(n: int, seed: int, postcodes: int = 40) -> list[Person]:
    """`n` different people: every pair differs in first name, birthday or address."""
    rng = random.Random(seed)
    people, seen = [], set()
    while len(people) < n:
        i = len(people)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        person = Person(
            first=first, last=last, email=f"{first}.{last}.{i}@example.org", mobile=f"+49151{rng.randrange(10**7):07d}",
            landline=f"+4930{rng.randrange(10**7):07d}", street=f"{rng.choice(STREETS)} {rng.randrange(1, 120)}",
            postcode=f"{10115 + rng.randrange(postcodes) * 17:05d}",
            birthday=date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 50)),
        )
        key = (first, person.birthday)
        if key not in seen:
            seen.add(key)
            people.append(person)
    return people


def _typo(value: str, seed: int) -> str:
    """One adjacent transposition inside the word (never the first letter): a typing slip."""
    i = 1 + seed % (len(value) - 2)
    return value[:i] + value[i + 1] + value[i] + value[i + 2:]


def _without(person: Person, *fields: str) -> Person:
    return replace(person, **{f: None for f in fields})


def _shape(people: list[Person], duplicates: dict[int, list[Person]] | None = None, systems=SYSTEMS) -> Shape:
    """One record per person in a rotating system, plus the given duplicates (person index -> its other records)."""
    records = [(f"{systems[i % len(systems)]}:{i}", i, p) for i, p in enumerate(people)]
    for i, copies in (duplicates or {}).items():
        for j, copy in enumerate(copies):
            records.append((f"{systems[(i + j + 1) % len(systems)]}:d{i}_{j}", i, copy))
    return Shape(records)


def _no(fields: tuple[str, ...], people: list[Person]) -> list[Person]:
    return [_without(p, *fields) for p in people]


def _febrl_like(n: int, duplicates: int, seed: int) -> Shape:
    """FEBRL-style register: names, address, postcode, birthday, no contact data; every duplicate carries
    one typo (in last name, street or first name, in turn) and sits in another source system."""
    people = _no(("email", "mobile", "landline"), _people(n, seed, postcodes=max(4, n // 15)))
    copies = {}
    for k, i in enumerate(range(0, n, n // duplicates)[:duplicates]):
        p = people[i]
        typo = [replace(p, last=_typo(p.last, k)), replace(p, street=_typo(p.street, k)),
                replace(p, first=_typo(p.first, k))][k % 3]
        copies[i] = [typo]
    return _shape(people, copies)


def _shapes() -> dict[str, Shape]:
    # enough records to train (MIN_TRAINING_RECORDS): the shapes whose fields broke EM run through EM
    people = _people(250, 11)
    dups = {i: [people[i]] for i in range(0, 250, 5)}  # 50 persons with an exact duplicate elsewhere
    identical = people[0]
    return {
        "no_emails": _shape(_no(("email",), people), {i: [_without(people[i], "email")] for i in dups}),
        "no_phones": _shape(_no(("mobile", "landline"), people),
                            {i: [_without(people[i], "mobile", "landline")] for i in dups}),
        "one_source_system": _shape(people, dups, systems=["shop"]),
        "zero_records": Shape([]),
        "one_record": _shape(people[:1]),
        "two_records_same_person": _shape(people[:1], {0: [people[0]]}),
        "two_records_different_people": _shape(people[:2]),
        "ten_records": _shape(people[:7], {0: [people[0]], 3: [_without(people[3], "email")],
                                           5: [replace(people[5], last=_typo(people[5].last, 1))]}),
        "all_identical": Shape([(f"shop:{i}", 0, identical) for i in range(10)]),
        "all_different": _shape(_people(40, 12)),
        "birthday_always_null": _shape(_no(("birthday",), people), {i: [_without(people[i], "birthday")] for i in dups}),
        # 100 people, one of them twice: EM on one pair put an infinite weight into Splink's SQL
        "one_duplicate_pair": _shape(_people(100, 13), {7: [_people(100, 13)[7]]}),
        "one_duplicate_pair_large": _shape(_people(300, 13), {7: [_people(300, 13)[7]]}),
        # the same person renamed and moved, nothing Splink could match on: only the certain link ties them
        "certain_links_only": Shape([("shop:1", 0, people[0]),
                                     ("erp:1", 0, replace(_no(("email", "mobile", "landline", "birthday"), people)[0],
                                                          last="vogelsang", street=people[4].street,
                                                          postcode=people[4].postcode)),
                                     ("shop:2", 1, people[1])], [("shop:1", "erp:1", "erp_ref_in_shop_tags")]),
        "febrl_like_small": _febrl_like(60, 6, 21),
        "febrl_like": _febrl_like(800, 80, 22),
    }


SHAPES = _shapes()


def _warehouse(path, shape: Shape) -> duckdb.DuckDBPyConnection:
    """`int_customer_records` and `int_identity_certain_links` for `shape`, keyed as the dbt models key them."""
    cols = {name: [getattr(p, name) for _, _, p in shape.records] for name in Person.__dataclass_fields__}
    table = pa.table({"record_key": [k for k, _, _ in shape.records], **cols},
                     schema=pa.schema([("record_key", pa.string())]
                                      + [(n, pa.date32() if n == "birthday" else pa.string()) for n in cols]))
    con = duckdb.connect(str(path))
    con.execute("create schema intermediate")
    con.register("__shape", table)
    con.execute(
        f"""create table {RECORDS_TABLE} as
            select record_key, split_part(record_key, ':', 1) as source_system,
                   split_part(record_key, ':', 2) as source_record_id, false as is_collective_contact,
                   first as first_name_folded, left(first, 1) as first_initial, last as last_name_folded,
                   email as email_normalized, nullif(split_part(email, '@', 1), '') as email_local,
                   mobile as mobile_e164, landline as landline_e164, coalesce(mobile, landline) as phone_e164,
                   street as street_normalized, postcode,
                   case when street is not null and postcode is not null then lower(street) || '|' || postcode
                   end as address_key,
                   birthday, year(birthday) as birth_year, ?::timestamptz as loaded_at
            from __shape""",
        [datetime(2026, 11, 20, 6)],
    )
    con.unregister("__shape")
    con.execute(f"create table {CERTAIN_LINKS_TABLE} (record_key_l varchar, record_key_r varchar, link_rule varchar)")
    if shape.certain_links:
        con.executemany(f"insert into {CERTAIN_LINKS_TABLE} values (?, ?, ?)", shape.certain_links)
    return con


def _golden_ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute(f"select record_key, golden_customer_id from {CROSSWALK_TABLE}").fetchall())


def _assert_resolved(shape: Shape, ids: dict[str, str]) -> None:
    """Every record has a golden id; records of one person share it, records of different people do not."""
    assert set(ids) == {k for k, _, _ in shape.records}
    by_person: dict[int, set[str]] = {}
    for key, person, _ in shape.records:
        by_person.setdefault(person, set()).add(ids[key])
    split = {person: golden for person, golden in by_person.items() if len(golden) > 1}
    assert not split, f"duplicates not linked: {split}"
    owners: dict[str, int] = {}
    for person, (golden,) in by_person.items():
        assert owners.setdefault(golden, person) == person, f"people {owners[golden]} and {person} merged"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_shape_resolves(name, tmp_path):
    shape = SHAPES[name]
    con = _warehouse(tmp_path / "warehouse.duckdb", shape)
    stats = match_records(con, TEST_TODAY).stats
    resolve(con, TEST_TODAY)
    _assert_resolved(shape, _golden_ids(con))
    assert stats["training"] in ("em", "fallback_priors") and stats["training_reason"]
    assert stats["records"] == len(shape.records)
    con.close()


def test_registers_without_contact_data_train_on_the_fields_they_have(tmp_path):
    """FEBRL-like: no e-mail or phone rule has pairs; EM runs on name/address rules with enough pairs."""
    con = _warehouse(tmp_path / "warehouse.duckdb", SHAPES["febrl_like"])
    stats = match_records(con, TEST_TODAY).stats
    con.close()
    assert stats["training"] == "em", stats
    rules = stats["training_rules"]
    assert rules and not any("email" in r or "mobile" in r for r in rules)


def test_a_register_copy_mistyped_in_both_names_is_still_compared_through_its_street(tmp_path):
    """A copy with both names mistyped, no birthday and its street typed apart shares no blocking key
    with its original but the postcode and the street's first letters (`street_prefix`): FEBRL-3 holds
    161 true pairs no other rule put together. It must reach the model as a candidate pair."""
    shape = _febrl_like(800, 80, 22)
    original = shape.records[5][2]
    street, number = original.street.rsplit(" ", 1)
    copy = replace(original, first=_typo(original.first, 1), last=_typo(original.last, 2), birthday=None,
                   street=f"{street[:4]} {street[4:]} {number}")
    assert copy.first != original.first and copy.last != original.last
    shape.records.append(("erp:copy", shape.records[5][1], copy))
    con = _warehouse(tmp_path / "warehouse.duckdb", shape)
    pairs = predict_pairs(RECORDS_TABLE, con, threshold=0.0).pairs.to_pylist()
    con.close()
    assert {tuple(sorted((p["record_key_l"], p["record_key_r"]))) for p in pairs} >= {
        tuple(sorted((shape.records[5][0], "erp:copy")))}


@pytest.mark.parametrize("name", ["zero_records", "one_record", "ten_records", "one_duplicate_pair"])
def test_small_inputs_fall_back_to_priors_and_say_why(name, tmp_path):
    con = _warehouse(tmp_path / "warehouse.duckdb", SHAPES[name])
    stats = match_records(con, TEST_TODAY).stats
    con.close()
    assert stats["training"] == "fallback_priors" and stats["training_reason"], stats
    assert stats["training_rules"] == []


def test_splink_failures_fall_back_to_priors(tmp_path, monkeypatch):
    """EM let loose on rules of one pair each fails inside Splink on every rule: the run takes the fallback
    priors, says why, and still links the duplicate."""
    import c360.identity.matching as matching

    monkeypatch.setattr(matching, "MIN_EM_PAIRS", 1)
    monkeypatch.setattr(matching, "EXTRA_TRAINING_BLOCKING_RULES", [])
    people = _people(300, 14)
    shape = _shape(people, {7: [people[7]]})
    con = _warehouse(tmp_path / "warehouse.duckdb", shape)
    stats = match_records(con, TEST_TODAY).stats
    resolve(con, TEST_TODAY)
    _assert_resolved(shape, _golden_ids(con))
    con.close()
    assert stats["training"] == "fallback_priors", stats
    assert stats["training_reason"].startswith("training failed"), stats


@pytest.mark.parametrize("n", [0, 1, 2])
def test_scoring_with_a_stored_model_takes_any_record_count(n, tmp_path):
    con = _warehouse(tmp_path / "train.duckdb", SHAPES["febrl_like_small"])
    model = predict_pairs(RECORDS_TABLE, con).model
    small = _shape(_people(1, 5), {0: [_people(1, 5)[0]]}) if n == 2 else _shape(_people(n, 5))
    other = _warehouse(tmp_path / "score.duckdb", small)
    result = score_pairs(RECORDS_TABLE, model, other)
    assert result.stats["records"] == n
    assert result.pairs.num_rows == (1 if n == 2 else 0)
    con.close()
    other.close()


def test_prior_stays_inside_its_bounds_when_every_or_no_pair_is_deterministic(tmp_path):
    identical = predict_pairs(RECORDS_TABLE, _warehouse(tmp_path / "same.duckdb", SHAPES["all_identical"]))
    different = predict_pairs(RECORDS_TABLE, _warehouse(tmp_path / "apart.duckdb", SHAPES["all_different"]))
    assert identical.stats["deterministic_pairs"] == 45 and identical.stats["prior"] == PRIOR_BOUNDS[1]
    assert different.stats["deterministic_pairs"] == 0
    # no pair found: one is assumed, 1 / recall / (40 * 39 / 2)
    assert different.stats["prior"] == pytest.approx(1 / 0.8 / 780)


def test_training_rules_follow_the_pairs_the_data_has():
    everything = {"+".join(cols): 10_000 for cols in TRAINING_BLOCKING_RULES}
    columns = {"first_name_folded", "first_initial", "last_name_folded", "email_normalized", "mobile_e164",
               "landline_e164", "birthday", "birth_year", "postcode", "address_key", "street_normalized"}
    # the demo's data: the three preferred rules, nothing more (they estimate every comparison)
    assert choose_training_rules(everything, columns) == TRAINING_BLOCKING_RULES
    # a register without contact data: rules on what it has, together estimating every comparison with data
    register = {"address_key": 500, "postcode": 5000, "last_name_folded": 4000, "birthday": MIN_EM_PAIRS - 1,
                "first_name_folded+last_name_folded+birthday": 40}
    chosen = choose_training_rules(register, columns - {"email_normalized", "mobile_e164", "landline_e164"})
    assert chosen == [["address_key"], ["last_name_folded"]]
    assert choose_training_rules({}, columns) == []


def test_a_fallback_model_is_stored_and_scores_the_next_day(tmp_path):
    shape = SHAPES["ten_records"]
    con = _warehouse(tmp_path / "warehouse.duckdb", shape)
    first = match_records(con, TEST_TODAY).stats
    stored = load_model(con)
    again = match_records(con, TEST_TODAY + timedelta(days=1)).stats
    resolve(con, TEST_TODAY)
    _assert_resolved(shape, _golden_ids(con))
    con.close()
    assert first["training"] == stored.model.training["training"] == "fallback_priors"
    assert again["path"] == DAILY and again["training"] == "fallback_priors"
    assert again["training_reason"] == first["training_reason"]


def test_the_asset_reports_the_training_path(tmp_path):
    """The Dagster step on a register without e-mails materializes and its metadata names the path."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from orchestration.assets.identity import identity_match_pairs
    from orchestration.resources import SparkResource

    warehouse = tmp_path / "warehouse.duckdb"
    _warehouse(warehouse, SHAPES["febrl_like"]).close()
    result = dg.materialize([identity_match_pairs], resources={"warehouse": DuckDBResource(database=str(warehouse)),
                                                                 "spark": SparkResource()},
                            run_config={"ops": {"intermediate__identity_match_pairs": {
                                "config": {"as_of": TEST_TODAY.isoformat()}}}})
    metadata = result.asset_materializations_for_node("intermediate__identity_match_pairs")[0].metadata
    assert metadata["training"].value == "em" and metadata["training_reason"].value
    assert metadata["training_rules"].value == ["postcode", "last_name_folded"]
    assert metadata["pairs"].value > 0


def test_the_resolution_runs_under_its_memory_limit_and_restores_the_callers(tmp_path, monkeypatch):
    """`resolve(memory_limit=...)` (the pipeline passes C360_IDENTITY_MEMORY_LIMIT) holds DuckDB to that
    limit while it runs, gives the golden ids it gives without one, and leaves DuckDB's limit as it was."""
    from c360.identity import resolve as resolve_module

    con = _warehouse(tmp_path / "warehouse.duckdb", SHAPES["no_emails"])
    match_records(con, TEST_TODAY)
    resolve(con, TEST_TODAY)
    unlimited = _golden_ids(con)
    callers = con.execute("select current_setting('memory_limit')").fetchone()[0]  # DuckDB's default
    inside = []
    original = resolve_module._resolve

    def watched(con, *args):
        inside.append(con.execute("select current_setting('memory_limit')").fetchone()[0])
        return original(con, *args)

    monkeypatch.setattr(resolve_module, "_resolve", watched)
    resolve(con, TEST_TODAY, full=True, memory_limit="512MB")
    assert len(inside) == 1 and inside[0].startswith("488.2 MiB")  # 512 MB as DuckDB prints it
    assert con.execute("select current_setting('memory_limit')").fetchone()[0] == callers
    assert _golden_ids(con) == unlimited
    con.close()
