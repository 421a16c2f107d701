-- One generation of the read model (see projections/src/generations.rs): `{g}` stands for
-- the generation's suffix (`_g3`); queries read the serving generation through views named
-- without it (`declarations`). Each index is one line starting `CREATE INDEX`: a rebuild
-- creates them after it has loaded the rows (faster than keeping them up to date row by row).
-- The `batches` read model: one row per batch stream, for the `batches` list. Status, totals
-- and times only; the per-item results stay in the batch's stream. Instants are RFC 3339 UTC
-- with six fractional digits ('2026-03-05T09:00:00.000000Z') so that text order is time order.
-- Ordered columns use the "C" collation: byte order, as on SQLite.
CREATE TABLE batches{g} (
    id             text   COLLATE "C" PRIMARY KEY,  -- the stream's UUID, lowercase, hyphenated
    organisation   text,                 -- the organisation it files for; NULL for an admin's load
    submitted_by   text   NOT NULL,      -- the actor that sent it, e.g. 'declarant/alice@ACME'
    format         text   NOT NULL,      -- 'ndjson' | 'kcs-csv'
    status         text   NOT NULL,      -- 'received' | 'processing' | 'completed' | 'interrupted'
    content_length bigint,               -- the announced body size, when given
    received_at    text   COLLATE "C" NOT NULL,
    updated_at     text   COLLATE "C" NOT NULL,
    completed_at   text   COLLATE "C",
    items          bigint NOT NULL,      -- items with a result (accepted + rejected)
    accepted       bigint NOT NULL,
    rejected       bigint NOT NULL,
    replayed       bigint NOT NULL,      -- answered from an earlier transmission
    interruption   text,                 -- why the latest upload stopped, while interrupted
    version        bigint NOT NULL       -- the stream's version
);

-- The list order (received_at DESC, id DESC), alone and behind each equality filter.
CREATE INDEX batches_by_received_at{g} ON batches{g} (received_at DESC, id DESC);
CREATE INDEX batches_by_organisation{g} ON batches{g} (organisation, received_at DESC, id DESC);
CREATE INDEX batches_by_status{g} ON batches{g} (status, received_at DESC, id DESC);
