"""lazyqueue's tables in PostgreSQL (schema `lazyqueue`) and their migrations.

DBOS keeps its own tables in schema `dbos` (workflow rows, queues, steps);
`cluster init` creates both. The task and job records live here as JSON (the
same fields as `ls --json`), with the columns queries and locks need beside them.
"""

from __future__ import annotations

from .errors import ClusterSchemaMissing
from .url import mask

SCHEMA = "lazyqueue"
DBOS_SCHEMA = "dbos"
VERSION = 2

# each entry migrates from version i to i+1
MIGRATIONS: list[list[str]] = [
    [
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
        f"CREATE TABLE {SCHEMA}.meta (key text PRIMARY KEY, value text NOT NULL)",
        f"CREATE SEQUENCE {SCHEMA}.task_ids",
        f"CREATE SEQUENCE {SCHEMA}.job_ids",
        f"CREATE SEQUENCE {SCHEMA}.revs",
        f"""CREATE TABLE {SCHEMA}.tasks (
            id bigint PRIMARY KEY,
            kind text NOT NULL,
            status text NOT NULL,
            job_id bigint,
            dedupe_key text,
            record jsonb NOT NULL,
            workflow_id text,
            executor_id text,
            cancel_requested boolean NOT NULL DEFAULT false,
            finished_ts double precision,
            rev bigint NOT NULL DEFAULT nextval('{SCHEMA}.revs'))""",
        f"CREATE UNIQUE INDEX tasks_active_key ON {SCHEMA}.tasks (dedupe_key) "
        "WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')",
        f"CREATE INDEX tasks_status ON {SCHEMA}.tasks (status)",
        f"CREATE INDEX tasks_rev ON {SCHEMA}.tasks (rev)",
        f"CREATE INDEX tasks_job ON {SCHEMA}.tasks (job_id)",
        f"""CREATE TABLE {SCHEMA}.jobs (
            id bigint PRIMARY KEY,
            record jsonb NOT NULL,
            rev bigint NOT NULL DEFAULT nextval('{SCHEMA}.revs'))""",
        f"CREATE INDEX jobs_rev ON {SCHEMA}.jobs (rev)",
        f"""CREATE TABLE {SCHEMA}.workers (
            executor_id text PRIMARY KEY,
            host text NOT NULL,
            pid integer NOT NULL,
            pstart text,
            started_at double precision NOT NULL,
            heartbeat_at double precision NOT NULL,
            concurrency integer NOT NULL,
            running integer NOT NULL DEFAULT 0,
            stopped boolean NOT NULL DEFAULT false)""",
        f"""CREATE TABLE {SCHEMA}.logs (
            task_id bigint NOT NULL,
            start_at bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (task_id, start_at))""",
        f"CREATE TABLE {SCHEMA}.archive (id bigint PRIMARY KEY, record jsonb NOT NULL, reason text NOT NULL)",
    ],
    [
        # commands a dead worker left running on its host, for the next worker there to stop
        f"""CREATE TABLE {SCHEMA}.orphans (
            host text NOT NULL,
            pgid integer NOT NULL,
            pstart text,
            task_id bigint NOT NULL,
            since double precision NOT NULL,
            PRIMARY KEY (host, pgid))""",
        # every status change (and every new task), kept a while, so the change feed misses none
        # however quickly a task moves on (a trigger: no round trip of its own)
        f"""CREATE TABLE {SCHEMA}.transitions (
            rev bigint PRIMARY KEY,
            task_id bigint NOT NULL,
            record jsonb NOT NULL,
            at double precision NOT NULL DEFAULT extract(epoch from clock_timestamp()))""",
        f"CREATE INDEX transitions_at ON {SCHEMA}.transitions (at)",
        f"""CREATE FUNCTION {SCHEMA}.note_transition() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO {SCHEMA}.transitions (rev, task_id, record) VALUES (NEW.rev, NEW.id, NEW.record)
                ON CONFLICT (rev) DO NOTHING;
                RETURN NULL;
            END $$""",
        f"CREATE TRIGGER tasks_inserted AFTER INSERT ON {SCHEMA}.tasks FOR EACH ROW "
        f"EXECUTE FUNCTION {SCHEMA}.note_transition()",
        f"CREATE TRIGGER tasks_transition AFTER UPDATE ON {SCHEMA}.tasks FOR EACH ROW "
        "WHEN (OLD.status IS DISTINCT FROM NEW.status OR (OLD.record->>'attempt') IS DISTINCT FROM (NEW.record->>'attempt')) "
        f"EXECUTE FUNCTION {SCHEMA}.note_transition()",
    ],
]


def current_version(conn) -> int:
    """The schema version in the database; 0 if there is none."""
    exists = conn.exec_driver_sql(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'", (SCHEMA,)
    ).first()
    if not exists:
        return 0
    row = conn.exec_driver_sql(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'").first()
    return int(row[0]) if row else 0


def migrate(engine) -> tuple[int, int]:
    """Bring lazyqueue's tables to VERSION (one transaction, serialised by a lock); answers (from, to)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7400211)")
        before = current_version(conn)
        for step in MIGRATIONS[before:]:
            for statement in step:
                conn.exec_driver_sql(statement)
        conn.exec_driver_sql(
            f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(VERSION),)
        )
    return before, VERSION


def migrate_dbos(engine, url: str) -> None:
    """Create or migrate DBOS's own tables (schema `dbos`)."""
    from dbos._serialization import DefaultSerializer
    from dbos._sys_db import SystemDatabase

    from .url import dbos_url

    sys_db = SystemDatabase.create(
        system_database_url=dbos_url(url), engine_kwargs={}, engine=engine, schema=DBOS_SCHEMA,
        serializer=DefaultSerializer(), executor_id=None, use_listen_notify=True,
    )
    sys_db.run_migrations()


def require(engine, url: str) -> None:
    """ClusterSchemaMissing (one line, with what to do) unless the schema is current."""
    with engine.connect() as conn:
        version = current_version(conn)
        dbos_ok = conn.exec_driver_sql(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'workflow_status'",
            (DBOS_SCHEMA,),
        ).first()
    if version == VERSION and dbos_ok:
        return
    if version > VERSION:
        raise ClusterSchemaMissing(f"the cluster database {mask(url)} has schema version {version}, newer than "
                                   f"this lazyqueue ({VERSION}) — upgrade lazyqueue on this machine")
    what = "no lazyqueue schema" if version == 0 else f"an older lazyqueue schema (version {version})"
    raise ClusterSchemaMissing(f"the cluster database {mask(url)} has {what} — "
                               f"run: lazyqueue --backend '{mask(url)}' cluster init")
