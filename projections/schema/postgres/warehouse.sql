-- One generation of the read model (see projections/src/generations.rs): `{g}` stands for
-- the generation's suffix (`_g3`); queries read the serving generation through views named
-- without it. Each index is one line starting `CREATE INDEX`: a rebuild creates them after it
-- has loaded the rows.
-- Text columns use the "C" collation: byte order, as on SQLite, for ranges and member order.
-- The `warehouse` read model (docs/warehouse.md): a star schema folded into one wide fact
-- table, each dimension's hierarchy levels stored as columns of the fact (a join per level
-- would cost more than the group-by itself on SQLite), and the staging of declarations not
-- yet accepted.
CREATE TABLE warehouse_facts{g} (
    declaration_id text    COLLATE "C" NOT NULL,
    line           bigint  NOT NULL,          -- the item, from 1
    revision       bigint  NOT NULL,          -- 1 at acceptance, +1 per correction
    valid_from     bigint  NOT NULL,          -- µs since the Unix epoch: this revision is the truth from...
    valid_to       bigint,                    -- ...until (NULL: still is)
    day            bigint  NOT NULL,          -- filing date yyyymmdd
    week           bigint  NOT NULL,          -- ISO week yyyyww
    month          bigint  NOT NULL,          -- yyyymm
    quarter        bigint  NOT NULL,          -- yyyyq
    year           bigint  NOT NULL,
    hs_section     bigint  NOT NULL,          -- 1..21
    hs_chapter     text    COLLATE "C" NOT NULL,          -- '84'
    hs_heading     text    COLLATE "C" NOT NULL,          -- '8471'
    hs_subheading  text    COLLATE "C" NOT NULL,          -- '847130'
    hs_line        text    COLLATE "C" NOT NULL,          -- '8471300000'
    origin         text    COLLATE "C" NOT NULL,          -- ISO 3166-1 alpha-2
    origin_region  text    COLLATE "C" NOT NULL,          -- continent code
    dispatch       text    COLLATE "C" NOT NULL,
    trader         text    COLLATE "C" NOT NULL,          -- importer (exporter on an export)
    declarant      text    COLLATE "C" NOT NULL,
    office         text    COLLATE "C" NOT NULL,
    transport_mode text    COLLATE "C" NOT NULL,
    lane           text    COLLATE "C" NOT NULL,
    regime         text    COLLATE "C" NOT NULL,          -- 'import' | 'export'
    preference     text    COLLATE "C" NOT NULL,          -- agreement applied, or 'none'
    audit_outcome  text    COLLATE "C" NOT NULL,
    customs_value  bigint  NOT NULL,          -- money in 0.01 of the national currency
    duty           bigint  NOT NULL,
    vat            bigint  NOT NULL,
    additional_tax bigint  NOT NULL,
    drawback       bigint  NOT NULL,
    invoice_value  bigint  NOT NULL,
    net_mass       bigint  NOT NULL,          -- grams (0.001 kg)
    quantity       bigint  NOT NULL,          -- 0.001 of the unit
    PRIMARY KEY (declaration_id, line, revision)
);

-- Drill-down into a chapter or heading reads only its rows.
CREATE INDEX warehouse_facts_by_heading{g} ON warehouse_facts{g} (hs_chapter, hs_heading);
-- Queries as of a past instant skip what was not yet true.
CREATE INDEX warehouse_facts_by_valid_from{g} ON warehouse_facts{g} (valid_from);

-- The current facts (valid_to NULL) summed by month, HS heading, regime and lane, kept by the
-- projection with the facts: what roll-ups and drill-downs over dates, the tariff, the regime
-- and the lane read instead of the facts (projections/src/warehouse/rollup.rs).
CREATE TABLE warehouse_rollup{g} (
    month          bigint  NOT NULL,          -- yyyymm
    hs_heading     text    COLLATE "C" NOT NULL,          -- '8471'
    regime         text    COLLATE "C" NOT NULL,          -- 'import' | 'export'
    lane           text    COLLATE "C" NOT NULL,          -- 'green' | 'yellow' | 'red'
    quarter        bigint  NOT NULL,
    year           bigint  NOT NULL,
    hs_section     bigint  NOT NULL,
    hs_chapter     text    COLLATE "C" NOT NULL,
    customs_value  bigint  NOT NULL,
    duty           bigint  NOT NULL,
    vat            bigint  NOT NULL,
    additional_tax bigint  NOT NULL,
    drawback       bigint  NOT NULL,
    invoice_value  bigint  NOT NULL,
    net_mass       bigint  NOT NULL,
    quantity       bigint  NOT NULL,
    items          bigint  NOT NULL,          -- how many facts
    PRIMARY KEY (month, hs_heading, regime, lane)
);

-- Declarations filed but not yet accepted, refused or withdrawn: what acceptance needs.
CREATE TABLE warehouse_pending{g} (
    declaration_id text COLLATE "C" PRIMARY KEY,
    state          text NOT NULL              -- JSON (projections/src/warehouse/fact.rs Pending)
);
