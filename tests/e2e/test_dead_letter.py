"""A task that keeps failing: after max_attempts it goes to the dead-letter
topic and the job ends failed, with the task, its range and its last error
in the report; the rows the other tasks wrote are all accounted for.

The failure is real data: a PostgreSQL table whose bigint column holds one
value beyond Int32, migrated with a mapping that narrows the column to
Int32 (a checked conversion: a value that does not fit fails its task,
naming field, row and value). The dead-letter topic is read with the test
tool vm_topic_dump (VECMIG_TOPIC_DUMP)."""
import json
import os
import subprocess

from conftest import Run, unique, write_job

ROWS = 3000
BAD_ID = 2222


def test_task_out_of_attempts_goes_to_dead_letter(env, pg, milvus, tmp_path):
    table, coll = unique("dlq"), unique("dlq")
    pg.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, n bigint, v vector(4))")
    pg.execute(f"INSERT INTO {table} SELECT i, CASE WHEN i = {BAD_ID} THEN 5000000000 ELSE i END,"
               f" ARRAY[i, 1, 2, 3]::vector FROM generate_series(1, {ROWS}) i")
    job_id = unique("dlq")
    job = write_job(tmp_path, env, job_id,
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table},
                    migration={"task_rows": 1000, "batch_rows": 200, "max_attempts": 2},
                    extra=f"mapping: {{collection: {{name: {coll}}}, "
                          f"fields: [{{source: n, type: Int32}}]}}\n")
    try:
        run = Run(env, job, tmp_path, 1)
        rc = run.wait(timeout=300)
        out = run.coordinator_output()
        assert rc == 1, out[-2000:]
        assert "sent to the dead-letter topic" in out
        rep = json.loads(run.report.read_text())
        assert rep["verdict"] == "failed"
        failed = [t for t in rep["tasks"] if t["state"] != "done"]
        assert len(failed) == 1, rep["tasks"]
        t = failed[0]
        assert t["range"].startswith("int [") and t["error"]
        assert "'n'" in t["error"] and str(BAD_ID) in t["error"] and "5000000000" in t["error"]
        # everything written is accounted for: per-task rows = the target's rows
        written = sum(x["rows_written"] for x in rep["tasks"])
        assert rep["counts"]["target_rows"] == written == \
            milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
        assert ROWS - 1000 <= written < ROWS
        # the dead-letter topic holds that task, once
        dump = subprocess.run([os.environ["VECMIG_TOPIC_DUMP"], env["VECMIG_TEST_KAFKA"],
                               f"vecmig.dead.{job_id}"], capture_output=True, text=True,
                              timeout=60)
        assert dump.returncode == 0, dump.stderr
        msgs = [json.loads(line.split("\t", 3)[3]) for line in dump.stdout.splitlines()]
        assert len(msgs) == 1, msgs
        m = msgs[0]
        assert (m["job"], m["id"], m["range"], m["attempts"]) == (job_id, t["id"], t["range"], 2)
        assert m["error"] == t["error"] and m["task"]["kind"] == "int"
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {table}")
        if milvus.has_collection(coll):
            milvus.drop_collection(coll)
