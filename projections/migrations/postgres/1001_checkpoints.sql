-- Where each projection stands in the event log. A projection's read-model changes and its
-- checkpoint are written in the same transaction, so a crash never applies an event twice.
CREATE TABLE projection_checkpoints (
    name     text   PRIMARY KEY,
    version  bigint NOT NULL,
    position bigint NOT NULL
);
