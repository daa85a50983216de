-- Cases, their history, messages, attachment metadata, the confirmation
-- mail outbox and the case-number counters. The SQL is the same for
-- PostgreSQL and SQLite: times are Unix milliseconds (NULL: not yet), IDs
-- are random text, and ordering within a case uses a per-case seq.
-- owner_key and subject_key hold personnummer in clear because citizens'
-- cases are found by them; PurgeClosedBefore blanks them.

-- +goose Up
CREATE TABLE cases_counter (
    prefix TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    n      BIGINT  NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE cases (
    id                TEXT   PRIMARY KEY,
    number            TEXT   UNIQUE,
    module_id         TEXT   NOT NULL,
    prefix            TEXT   NOT NULL,
    owner_key         TEXT   NOT NULL,
    subject_key       TEXT   NOT NULL,
    channel           TEXT   NOT NULL,
    created_by        TEXT   NOT NULL,
    created_by_role   TEXT   NOT NULL,
    title             TEXT   NOT NULL,
    content           TEXT   NOT NULL,
    status            TEXT   NOT NULL,
    created_ms        BIGINT NOT NULL,
    updated_ms        BIGINT NOT NULL,
    submitted_ms      BIGINT,
    first_response_ms BIGINT,
    decided_ms        BIGINT,
    closed_ms         BIGINT,
    purged_ms         BIGINT
);

CREATE INDEX cases_owner ON cases (owner_key, created_ms);
CREATE INDEX cases_subject ON cases (subject_key, created_ms);
CREATE INDEX cases_module ON cases (module_id, status, created_ms);
CREATE INDEX cases_submitted ON cases (submitted_ms);

CREATE TABLE cases_history (
    case_id     TEXT    NOT NULL REFERENCES cases (id),
    seq         INTEGER NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    time_ms     BIGINT  NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE cases_message (
    id        TEXT    PRIMARY KEY,
    case_id   TEXT    NOT NULL REFERENCES cases (id),
    seq       INTEGER NOT NULL,
    sender    TEXT    NOT NULL,
    direction TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    time_ms   BIGINT  NOT NULL,
    read_ms   BIGINT,
    UNIQUE (case_id, seq)
);

CREATE TABLE cases_attachment (
    id           TEXT    PRIMARY KEY,
    case_id      TEXT    NOT NULL REFERENCES cases (id),
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    blob_key     TEXT    NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    time_ms      BIGINT  NOT NULL,
    supplement   INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX cases_attachment_case ON cases_attachment (case_id, time_ms);

-- state: pending (to send), sent, failed (gave up), no_address (never sent).
CREATE TABLE cases_outbox (
    id              TEXT    PRIMARY KEY,
    case_id         TEXT    NOT NULL REFERENCES cases (id),
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_ms      BIGINT  NOT NULL,
    sent_ms         BIGINT
);

CREATE INDEX cases_outbox_due ON cases_outbox (state, next_attempt_ms);
CREATE INDEX cases_outbox_case ON cases_outbox (case_id);

-- +goose Down
DROP TABLE cases_outbox;
DROP TABLE cases_attachment;
DROP TABLE cases_message;
DROP TABLE cases_history;
DROP TABLE cases;
DROP TABLE cases_counter;
