-- The append-only event log. Writers are serialized by the row lock on log_head (see
-- docs/adr/0001-global-order.md), so positions are dense and commit in position order: a reader
-- that has seen position p has seen every position below it.
CREATE TABLE events (
    position        bigint      PRIMARY KEY,
    stream_id       text        NOT NULL,
    category        text        NOT NULL,
    stream_version  bigint      NOT NULL,
    event_id        uuid        NOT NULL UNIQUE,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         json        NOT NULL, -- json, not jsonb: keeps the exact text the hash covers
    correlation_id  uuid,
    causation_id    uuid,
    actor           text,
    recorded_at     timestamptz NOT NULL,
    hash            bytea       NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- The position of the last committed event; the row every writer locks and updates.
CREATE TABLE log_head (
    id       smallint PRIMARY KEY CHECK (id = 1),
    position bigint   NOT NULL
);
INSERT INTO log_head (id, position) VALUES (1, 0);

-- Events are never updated or deleted.
CREATE FUNCTION aduana_events_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER events_are_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION aduana_events_are_immutable();
CREATE TRIGGER events_are_not_truncated BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION aduana_events_are_immutable();
