"""The query-segment check: one SELECT built only from the allowlist; what runs is what was checked."""

from __future__ import annotations

import pytest

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.segments.query_allowlist import DATA_TABLES
from crm_segments.segments.query_check import checked_sql, validate_query

DIALECTS = ["postgresql", "sqlite"]

# Queries an admin writes: each is accepted on the stores it names and runs there
# (test_query_segments.py runs them all).
ACCEPTED = {
    "both": [
        "SELECT id FROM crm_profiles WHERE region = 'Yukon' AND id % 1 = 0  -- a modulo and a comment",
        "WITH buyers AS (SELECT profile_id FROM crm_jobs WHERE status = 'completed' GROUP BY profile_id "
        "HAVING count(*) >= 2) SELECT p.id FROM crm_profiles AS p JOIN buyers b ON b.profile_id = p.id",
        "SELECT profile_id FROM crm_jobs UNION SELECT profile_id FROM crm_quotes "
        "EXCEPT SELECT profile_id FROM crm_support_tickets",
        "SELECT p.id FROM crm_profiles p WHERE p.id IN (SELECT profile_id FROM crm_segment_members m "
        "WHERE m.segment_id = 3) ORDER BY p.id LIMIT 10 OFFSET 0",
        "SELECT id FROM crm_profiles WHERE coalesce(sms_consent, false) AND nullif(phone, '') IS NOT NULL",
        "SELECT profile_id FROM (SELECT profile_id, row_number() OVER (PARTITION BY profile_id "
        "ORDER BY created_at DESC) AS rn FROM crm_jobs) AS j WHERE rn = 1",
        "SELECT id FROM crm_profiles WHERE CASE WHEN region = 'a' THEN 1 ELSE 0 END = 1 "
        "AND email IS NOT NULL AND id BETWEEN 1 AND 5 AND NOT (id = 3) AND id NOT IN (4, 5)",
        "SELECT id FROM crm_profiles WHERE id = (SELECT max(id) FROM crm_profiles) "
        "OR EXISTS (SELECT 1 FROM crm_rfm_scores r WHERE r.profile_id = crm_profiles.id AND r.recency >= 4)",
        "SELECT q.profile_id FROM crm_quotes q JOIN crm_quote_lines l ON l.quote_id = q.id "
        "JOIN crm_products pr ON pr.id = l.product_id LEFT JOIN crm_categories c ON c.id = pr.category_id "
        "GROUP BY q.profile_id HAVING sum(l.amount) > 100 AND count(DISTINCT c.id) >= 1",
        "SELECT pt.entity_id FROM crm_profile_tags pt JOIN crm_tags t ON t.id = pt.tag_id "
        "WHERE lower(t.name) = 'vip' AND length(trim(t.name)) > 0 AND upper(substr(t.name, 1, 1)) = 'V'",
        "SELECT id FROM crm_profiles WHERE email || '' LIKE '%@example.com' AND round(abs(-1.5)) >= 1 "
        "AND replace(first_name, 'a', 'b') <> '' AND instr(email, '@') > 0",
        "SELECT profile_id FROM crm_opportunities WHERE value > 10 * 2 - 1 + 3 / 3 "
        "UNION ALL SELECT profile_id FROM crm_job_tags jt JOIN crm_jobs j ON j.id = jt.entity_id "
        "INTERSECT SELECT id FROM crm_profiles",
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT n FROM t",
        "SELECT id FROM crm_profiles WHERE CAST(annual_revenue AS INTEGER) > 0 AND greatest(1, 2) = 2",
        "SELECT DISTINCT o.profile_id FROM crm_opportunities o, crm_opportunity_tags ot "
        "WHERE ot.entity_id = o.id AND o.stage IN ('won', 'lost')",
    ],
    "postgresql": [
        "SELECT id FROM crm_profiles WHERE created_at > now() - interval '30 days' "
        "AND date_trunc('month', created_at) <= date_trunc('month', current_date) "
        "AND extract(year FROM created_at) > 2000 AND age(created_at) > interval '0 days'",
        "SELECT id FROM crm_profiles WHERE custom_attributes ->> 'plan' = 'gold' OR email ~ '^a' "
        "OR first_name ILIKE 'a%' OR to_char(created_at, 'YYYY') = '1999'",
        "SELECT DISTINCT ON (profile_id) profile_id FROM crm_jobs ORDER BY profile_id, created_at DESC",
        "SELECT id FROM crm_profiles WHERE round(annual_revenue::numeric(12, 2), 1) > 10.5 "
        "AND created_at AT TIME ZONE 'UTC' > '2020-01-01' AND split_part(email, '@', 2) <> ''",
        "SELECT profile_id FROM crm_jobs GROUP BY profile_id "
        "HAVING percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) > 0 AND bool_or(amount > 0) "
        "AND count(*) FILTER (WHERE status = 'completed') >= 1",
        "SELECT id FROM crm_profiles WHERE make_date(2020, 1, 1) < current_date",
    ],
    "sqlite": [
        "SELECT id FROM crm_profiles WHERE created_at > datetime('now', '-30 days') "
        "AND julianday(created_at) > 0 AND strftime('%Y', created_at) >= '2000' "
        "AND date(created_at, '+1 day') > date('2000-01-01') AND unixepoch(created_at) > 0",
        "SELECT id FROM crm_profiles WHERE json_extract(custom_attributes, '$.plan') = 'gold' "
        "OR custom_attributes ->> '$.plan' = 'gold' OR ifnull(region, '') = 'x' OR iif(id > 0, 1, 0) = 2",
        "SELECT profile_id FROM crm_jobs GROUP BY profile_id HAVING group_concat(status) LIKE '%completed%' "
        "AND count(*) FILTER (WHERE status = 'completed') >= 1",
    ],
}

ACCEPTED_PAIRS = [(sql, d) for key, queries in ACCEPTED.items() for sql in queries
                  for d in (DIALECTS if key == "both" else [key])]


@pytest.mark.parametrize(("sql", "dialect"), ACCEPTED_PAIRS)
def test_accepted_and_what_runs_is_checked_again(sql: str, dialect: str) -> None:
    assert validate_query(sql + ";", dialect=dialect) == sql.strip()
    run = checked_sql(sql, dialect=dialect)
    assert checked_sql(run, dialect=dialect) == run  # the text that runs passes the check unchanged
    assert "--" not in run and "/*" not in run


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("sql", "refused"), [
    # statements other than one SELECT
    ("DELETE FROM crm_profiles", "only a SELECT is allowed, not DELETE"),
    ("UPDATE crm_profiles SET region = 'x'", "only a SELECT is allowed, not UPDATE"),
    ("SELECT id FROM crm_profiles; SELECT 1", "exactly one SELECT statement is allowed, found 2"),
    ("SELECT id FROM crm_profiles; DROP TABLE crm_profiles", "exactly one SELECT statement"),
    ("VACUUM", "only a SELECT"),
    ("WITH gone AS (DELETE FROM crm_profiles RETURNING id) SELECT id FROM gone", "DELETE is not allowed"),
    ("SELECT id INTO stolen FROM crm_profiles", "SELECT INTO is not allowed"),
    ("SELECT id FROM crm_profiles FOR UPDATE", "a locking clause (FOR UPDATE / FOR SHARE) is not allowed"),
    ("SELECT id FROM crm_profiles WHERE email = :email", "a parameter is not allowed"),
    ("SELECT id FROM crm_profiles WHERE email = ?", "a parameter is not allowed"),
    ("SELECT id FROM crm_profiles, (VALUES (1)) AS v(x)", "VALUES is not allowed"),
    # functions not on the list, named
    ("SELECT id FROM crm_profiles WHERE CAST(query_to_xml('SELECT password_hash FROM crm_users', true, "
     "true, '') AS TEXT) <> ''", "the function query_to_xml() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE length(database_to_xml(true, true, '')::text) > 0",
     "the function database_to_xml() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE pg_sleep(5) IS NOT NULL", "the function pg_sleep() is not allowed"),
    ("SELECT pg_read_file('/etc/passwd')", "the function pg_read_file() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE set_config('role', 'postgres', true) = ''",
     "the function set_config() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE current_user = 'x'", "the function current_user() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE random() > 0.5", "the function random() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE md5(email) = ''", "the function md5() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE load_extension('x') IS NULL", "the function load_extension()"),
    ("SELECT id FROM crm_profiles WHERE pg_catalog.lower(email) = ''", "a schema-qualified name is not"),
    # tables other than the CRM data, named
    ("SELECT id FROM crm_users", "the table crm_users may not be read"),
    ("SELECT user_id FROM crm_api_keys", "the table crm_api_keys may not be read"),
    ("SELECT profile_id FROM crm_messages", "the table crm_messages may not be read"),
    ("SELECT id FROM crm_segments WHERE query_sql IS NOT NULL", "the table crm_segments may not be read"),
    ("SELECT profile_id FROM crm_consent_changes", "the table crm_consent_changes may not be read"),
    ("SELECT name FROM sqlite_master", "the table sqlite_master may not be read"),
    ("SELECT oid FROM pg_authid", "the table pg_authid may not be read"),
    ("SELECT id FROM pg_catalog.pg_authid", "write the table pg_authid without a schema"),
    ("SELECT id FROM public.crm_profiles", "write the table crm_profiles without a schema"),
    ("SELECT p.id FROM crm_profiles p, LATERAL (SELECT 1) x", "LATERAL is not allowed"),
    # a CTE hides a table only where the database resolves the name to it
    ("SELECT id FROM crm_users WHERE id IN (WITH crm_users AS (SELECT 1 AS id) SELECT id FROM crm_users)",
     "the table crm_users may not be read"),
    ("WITH a AS (SELECT id FROM crm_users), crm_users AS (SELECT 1 AS id) SELECT id FROM a",
     "the table crm_users may not be read"),
    ("WITH crm_users AS (SELECT id FROM crm_users) SELECT id FROM crm_users",
     "the table crm_users may not be read"),
    # the shape of the result
    ("SELECT id, email FROM crm_profiles", "exactly one column"),
    ("SELECT * FROM crm_profiles", "exactly one column"),
    ("SELEC id FROM crm_profiles", "cannot read the query"),
    ("", "enter a SELECT"),
    ("SELECT id FROM crm_profiles WHERE email = 'a\x00'", "NUL character"),
])
def test_refused_naming_what(sql: str, refused: str, dialect: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_query(sql, dialect=dialect)
    assert caught.value.errors[0].field == "query_sql"
    assert refused in caught.value.errors[0].message


@pytest.mark.parametrize(("sql", "refused"), [
    ("SELECT id FROM crm_profiles WHERE id::regclass IS NOT NULL", "OBJECTIDENTIFIER is not allowed"),
    ("SELECT id FROM crm_profiles WHERE CAST(id AS xml) IS NOT NULL", "the type XML is not allowed"),
    ("SELECT id FROM crm_profiles WHERE CAST(id AS int[]) IS NOT NULL", "the type INT[] is not allowed"),
    ("SELECT id FROM crm_profiles WHERE \"age\"(created_at) > interval '1 day'",
     "the function age() must be written without quotes"),
    ("SELECT id FROM crm_profiles WHERE email = E'it''s'", "BYTESTRING is not allowed"),
    ("SELECT id FROM crm_profiles WHERE email = $$x$$", "RAWSTRING is not allowed"),
    ("SELECT id FROM crm_profiles WHERE email = U&'d\\0061t'", "UNICODESTRING is not allowed"),
    ("SELECT id FROM crm_profiles WHERE id = ANY(ARRAY[1, 2])", "ARRAY is not allowed"),
    ("SELECT id FROM crm_profiles TABLESAMPLE SYSTEM (10)", "TABLESAMPLE is not allowed"),
    ("SELECT id FROM crm_profiles WHERE custom_attributes @> '{}'",
     "the operator in custom_attributes @> '{}' is not allowed"),
    ("SELECT id FROM crm_profiles WHERE custom_attributes ? 'a'", "the operator in"),
    ("SELECT id FROM crm_profiles WHERE to_timestamp('1', 'x') IS NULL OR generate_series(1, 2) = 1",
     "the function generate_series() is not allowed"),
    # named as written, whatever sqlglot calls it
    ("SELECT id FROM crm_profiles WHERE json_agg(email) IS NOT NULL", "the function json_agg() is not"),
    ("SELECT id FROM crm_profiles WHERE div(id, 2) = 0", "the function div() is not allowed"),
    # a backslash is never an escape: the string ends where PostgreSQL ends it, or it does not parse
    ("SELECT id FROM crm_profiles WHERE email = 'a\\' , query_to_xml('x', true, true, '') , '",
     "cannot read the query"),
])
def test_refused_on_postgresql(sql: str, refused: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_query(sql, dialect="postgresql")
    assert refused in caught.value.errors[0].message


@pytest.mark.parametrize(("sql", "refused"), [
    ("SELECT id FROM crm_profiles WHERE created_at > now()", "the function now() is not allowed"),
    ("SELECT id FROM crm_profiles WHERE to_char(created_at, 'YYYY') = ''", "the function to_char()"),
    ("SELECT id FROM crm_profiles WHERE printf('%s', email) = ''", "the function printf()"),
    ("SELECT id FROM crm_profiles WHERE \"julianday\"(created_at) > 0", "must be written without quotes"),
    # SQLite reads $name as a parameter
    ("SELECT id FROM crm_profiles WHERE id = $x", "the name $x is not allowed in a query segment"),
    ("SELECT id FROM crm_profiles WHERE email REGEXP 'a'", "the operator in email REGEXP 'a' is not allowed"),
])
def test_refused_on_sqlite(sql: str, refused: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_query(sql, dialect="sqlite")
    assert refused in caught.value.errors[0].message


def test_what_runs_has_no_comments_or_hints_and_quoted_names_on_postgresql() -> None:
    sql = "SELECT /*+ SeqScan(crm_profiles) */ id FROM crm_profiles WHERE user = 'x' -- note"
    run = checked_sql(sql, dialect="postgresql")
    assert run == "SELECT \"id\" FROM \"crm_profiles\" WHERE \"user\" = 'x'"  # a column, not current_user


def test_the_data_tables_are_crm_tables_without_credentials_or_messages() -> None:
    assert all(t.startswith("crm_") for t in DATA_TABLES)
    assert DATA_TABLES.isdisjoint({"crm_users", "crm_api_keys", "crm_messages", "crm_message_events",
                                   "crm_segments", "crm_tasks", "crm_consent_changes", "crm_tag_events"})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_statement_kind_sqlglot_knows_but_select_is_refused(dialect: str) -> None:
    statements = ["INSERT INTO crm_tags (name) VALUES ('x')", "CREATE TABLE x (a INT)",
                  "DROP TABLE crm_tags", "ALTER TABLE crm_tags ADD COLUMN b INT",
                  "GRANT SELECT ON crm_users TO PUBLIC", "SET ROLE postgres", "COPY crm_users TO STDOUT",
                  "BEGIN", "COMMIT", "PRAGMA writable_schema", "ATTACH DATABASE 'x' AS y",
                  "EXPLAIN SELECT 1", "SHOW ALL", "ANALYZE", "TRUNCATE crm_tags"]
    for sql in statements:
        with pytest.raises(ValidationFailed):
            validate_query(sql, dialect=dialect)
