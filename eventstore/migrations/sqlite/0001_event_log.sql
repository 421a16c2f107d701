-- The append-only event log. Positions are dense (1, 2, 3, ...): they are assigned by the one
-- writer under the write lock and recorded in log_head in the same transaction, so a rolled-back
-- batch leaves no gap and a missing row is evidence of tampering.
CREATE TABLE events (
    position        INTEGER PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_id        BLOB    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    correlation_id  BLOB,
    causation_id    BLOB,
    actor           TEXT,
    recorded_at     INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    hash            BLOB    NOT NULL,
    UNIQUE (stream_id, stream_version)
) STRICT;

-- The position of the last committed event; the row every writer updates.
CREATE TABLE log_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
) STRICT;
INSERT INTO log_head (id, position) VALUES (1, 0);

-- Events are never updated or deleted.
CREATE TRIGGER events_are_not_updated BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable');
END;
CREATE TRIGGER events_are_not_deleted BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable');
END;
