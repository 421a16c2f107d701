-- One generation of the read model (see projections/src/generations.rs): `{g}` stands for
-- the generation's suffix (`_g3`); queries read the serving generation through views named
-- without it. Each index is one line starting `CREATE INDEX`: a rebuild creates them after it
-- has loaded the rows.
-- The `warehouse` read model (docs/warehouse.md): a star schema folded into one wide fact
-- table, each dimension's hierarchy levels stored as columns of the fact (a join per level
-- would cost more than the group-by itself on SQLite), and the staging of declarations not
-- yet accepted.
CREATE TABLE warehouse_facts{g} (
    declaration_id TEXT    NOT NULL,
    line           INTEGER NOT NULL,          -- the item, from 1
    revision       INTEGER NOT NULL,          -- 1 at acceptance, +1 per correction
    valid_from     INTEGER NOT NULL,          -- µs since the Unix epoch: this revision is the truth from...
    valid_to       INTEGER,                   -- ...until (NULL: still is)
    day            INTEGER NOT NULL,          -- filing date yyyymmdd
    week           INTEGER NOT NULL,          -- ISO week yyyyww
    month          INTEGER NOT NULL,          -- yyyymm
    quarter        INTEGER NOT NULL,          -- yyyyq
    year           INTEGER NOT NULL,
    hs_section     INTEGER NOT NULL,          -- 1..21
    hs_chapter     TEXT    NOT NULL,          -- '84'
    hs_heading     TEXT    NOT NULL,          -- '8471'
    hs_subheading  TEXT    NOT NULL,          -- '847130'
    hs_line        TEXT    NOT NULL,          -- '8471300000'
    origin         TEXT    NOT NULL,          -- ISO 3166-1 alpha-2
    origin_region  TEXT    NOT NULL,          -- continent code
    dispatch       TEXT    NOT NULL,
    trader         TEXT    NOT NULL,          -- importer (exporter on an export)
    declarant      TEXT    NOT NULL,
    office         TEXT    NOT NULL,
    transport_mode TEXT    NOT NULL,
    lane           TEXT    NOT NULL,
    regime         TEXT    NOT NULL,          -- 'import' | 'export'
    preference     TEXT    NOT NULL,          -- agreement applied, or 'none'
    audit_outcome  TEXT    NOT NULL,
    customs_value  INTEGER NOT NULL,          -- money in 0.01 of the national currency
    duty           INTEGER NOT NULL,
    vat            INTEGER NOT NULL,
    additional_tax INTEGER NOT NULL,
    drawback       INTEGER NOT NULL,
    invoice_value  INTEGER NOT NULL,
    net_mass       INTEGER NOT NULL,          -- grams (0.001 kg)
    quantity       INTEGER NOT NULL,          -- 0.001 of the unit
    PRIMARY KEY (declaration_id, line, revision)
) WITHOUT ROWID;

-- Drill-down into a chapter or heading reads only its rows.
CREATE INDEX warehouse_facts_by_heading{g} ON warehouse_facts{g} (hs_chapter, hs_heading);
-- Queries as of a past instant skip what was not yet true.
CREATE INDEX warehouse_facts_by_valid_from{g} ON warehouse_facts{g} (valid_from);

-- The current facts (valid_to NULL) summed by month, HS heading, regime and lane, kept by the
-- projection with the facts: what roll-ups and drill-downs over dates, the tariff, the regime
-- and the lane read instead of the facts (projections/src/warehouse/rollup.rs).
CREATE TABLE warehouse_rollup{g} (
    month          INTEGER NOT NULL,          -- yyyymm
    hs_heading     TEXT    NOT NULL,          -- '8471'
    regime         TEXT    NOT NULL,          -- 'import' | 'export'
    lane           TEXT    NOT NULL,          -- 'green' | 'yellow' | 'red'
    quarter        INTEGER NOT NULL,
    year           INTEGER NOT NULL,
    hs_section     INTEGER NOT NULL,
    hs_chapter     TEXT    NOT NULL,
    customs_value  INTEGER NOT NULL,
    duty           INTEGER NOT NULL,
    vat            INTEGER NOT NULL,
    additional_tax INTEGER NOT NULL,
    drawback       INTEGER NOT NULL,
    invoice_value  INTEGER NOT NULL,
    net_mass       INTEGER NOT NULL,
    quantity       INTEGER NOT NULL,
    items          INTEGER NOT NULL,          -- how many facts
    PRIMARY KEY (month, hs_heading, regime, lane)
) WITHOUT ROWID;

-- Declarations filed but not yet accepted, refused or withdrawn: what acceptance needs.
CREATE TABLE warehouse_pending{g} (
    declaration_id TEXT PRIMARY KEY,
    state          TEXT NOT NULL              -- JSON (projections/src/warehouse/fact.rs Pending)
);
