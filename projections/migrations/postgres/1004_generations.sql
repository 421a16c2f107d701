-- Blue/green read models. Each projection's tables now exist per generation
-- (`declarations_g1`, `declarations_g2`, ...), created from projections/schema/, and queries
-- read the serving generation through views named as the tables were (`declarations`). A
-- rebuild fills a new generation while the old one keeps serving, then switches the views in
-- one transaction.
--
-- The tables of migrations 1002 and 1003 and their checkpoints go: read models derive from
-- the event log alone, so each projection builds its first generation from position 0 when the
-- server starts.
DROP TABLE declaration_items;
DROP TABLE declarations;
DROP TABLE batches;
DROP TABLE projection_checkpoints;

-- Every generation of every projection, with its checkpoint. A generation's read-model writes
-- and its position commit in one transaction, so a crash never applies an event twice.
CREATE TABLE projection_generations (
    name        text   NOT NULL,
    generation  bigint NOT NULL,   -- 1, 2, ...: the suffix of its tables (_g1, _g2, ...)
    version     bigint NOT NULL,   -- the projection's version that builds it (0 while requested)
    position    bigint NOT NULL,   -- the last log position applied to its tables
    state       text   NOT NULL,   -- 'requested' | 'building' | 'serving' | 'retired'
    created_at  text   NOT NULL,   -- RFC 3339 UTC
    switched_at text,              -- when it began serving
    retired_at  text,              -- when a newer generation replaced it (its tables are dropped)
    PRIMARY KEY (name, generation)
);

-- At most one serving generation, and at most one rebuild under way, per projection.
CREATE UNIQUE INDEX projection_generations_serving ON projection_generations (name)
    WHERE state = 'serving';
CREATE UNIQUE INDEX projection_generations_pending ON projection_generations (name)
    WHERE state IN ('requested', 'building');
