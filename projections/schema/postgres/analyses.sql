-- One generation of the read model (see projections/src/generations.rs): `{g}` stands for
-- the generation's suffix (`_g3`); queries read the serving generation through views named
-- without it (`analyses`). Each index is one line starting `CREATE INDEX`.
-- The `analyses` read model: one row per live saved analysis of the warehouse (a deleted one
-- is removed), for the `analyses` list. One analysis is read from its stream instead.
-- Ordered columns use the "C" collation: byte order, as on SQLite.
CREATE TABLE analyses{g} (
    id          text   COLLATE "C" PRIMARY KEY,  -- the stream's UUID, lowercase, hyphenated
    name        text   NOT NULL,     -- as last saved
    name_key    text   COLLATE "C" NOT NULL,     -- lowercase: the list order
    description text,
    query       text   NOT NULL,     -- the cube query, JSON
    owner       text   NOT NULL,     -- the actor who owns it, e.g. 'analyst/alice'
    saved_at    text   COLLATE "C" NOT NULL,     -- RFC 3339 UTC, six fractional digits
    revision    bigint NOT NULL,     -- saves with a change since it was created
    version     bigint NOT NULL      -- the stream's version
);

CREATE INDEX analyses_by_name{g} ON analyses{g} (name_key, id);
