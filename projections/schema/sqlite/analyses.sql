-- One generation of the read model (see projections/src/generations.rs): `{g}` stands for
-- the generation's suffix (`_g3`); queries read the serving generation through views named
-- without it (`analyses`). Each index is one line starting `CREATE INDEX`.
-- The `analyses` read model: one row per live saved analysis of the warehouse (a deleted one
-- is removed), for the `analyses` list. One analysis is read from its stream instead.
CREATE TABLE analyses{g} (
    id          TEXT    PRIMARY KEY,  -- the stream's UUID, lowercase, hyphenated
    name        TEXT    NOT NULL,     -- as last saved
    name_key    TEXT    NOT NULL,     -- lowercase: the list order
    description TEXT,
    query       TEXT    NOT NULL,     -- the cube query, JSON
    owner       TEXT    NOT NULL,     -- the actor who owns it, e.g. 'analyst/alice'
    saved_at    TEXT    NOT NULL,     -- RFC 3339 UTC, six fractional digits
    revision    INTEGER NOT NULL,     -- saves with a change since it was created
    version     INTEGER NOT NULL      -- the stream's version
);

CREATE INDEX analyses_by_name{g} ON analyses{g} (name_key, id);
