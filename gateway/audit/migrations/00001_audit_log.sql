-- The audit log: one row per audited action, each carrying the hash of the
-- row before it. Rows are only ever inserted; audit_head is the checkpoint
-- that lets Verify notice rows removed from the end. The SQL is the same for
-- PostgreSQL and SQLite.

-- +goose Up
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    time_ms      BIGINT NOT NULL,
    request_id   TEXT   NOT NULL,
    actor        TEXT   NOT NULL,
    actor_role   TEXT   NOT NULL,
    subject_hmac TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    resource     TEXT   NOT NULL,
    outcome      TEXT   NOT NULL,
    detail       TEXT   NOT NULL,
    prev_hash    TEXT   NOT NULL,
    hash         TEXT   NOT NULL
);

CREATE INDEX audit_log_subject ON audit_log (subject_hmac, seq) WHERE subject_hmac <> '';

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_log;
