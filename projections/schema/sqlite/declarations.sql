-- One generation of the read model (see projections/src/generations.rs): `{g}` stands for
-- the generation's suffix (`_g3`); queries read the serving generation through views named
-- without it (`declarations`). Each index is one line starting `CREATE INDEX`: a rebuild
-- creates them after it has loaded the rows (faster than keeping them up to date row by row).
-- The `declarations` read model: one row per declaration stream, and its current item lines.
-- Portable types: ids and codes as TEXT, decimals as TEXT (exact, e.g. '1020.00'), dates as
-- 'YYYY-MM-DD', instants as RFC 3339 UTC with six fractional digits
-- ('2026-03-05T09:00:00.000000Z') so that text order is time order.
CREATE TABLE declarations{g} (
    id                  TEXT    PRIMARY KEY,  -- the stream's UUID, lowercase, hyphenated
    declarant           TEXT,                 -- the organisation that owns it; NULL when a rejected filing named none
    lrn                 TEXT,
    declaration_type    TEXT,                 -- 'import' | 'export'
    importer            TEXT,
    exporter            TEXT,
    office              TEXT,
    transport_mode      TEXT,                 -- WCO code '1'..'9'
    filing_date         TEXT,                 -- NULL for a rejected filing
    status              TEXT    NOT NULL,     -- domain Status::as_str, e.g. 'awaitingInspection'
    lane                TEXT,                 -- 'green' | 'yellow' | 'red'; NULL until assessed
    error_count         INTEGER NOT NULL,     -- errors of the latest rejection, else 0
    item_count          INTEGER NOT NULL,
    invoice_currency    TEXT,
    invoice_amount      TEXT,
    tax_currency        TEXT,                 -- national currency of the amounts below
    customs_value       TEXT,                 -- NULL until assessed
    duty                TEXT,
    vat                 TEXT,
    amount_paid         TEXT    NOT NULL,
    additional_tax      TEXT    NOT NULL,     -- post-clearance corrections
    drawback            TEXT    NOT NULL,
    data_version        INTEGER NOT NULL,     -- 1 when filed, +1 per amendment; 0 when rejected
    version             INTEGER NOT NULL,     -- the stream's version
    filed_at            TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    last_event_position INTEGER NOT NULL
);

-- The list order (filed_at DESC, id DESC), alone and behind each equality filter.
CREATE INDEX declarations_by_filed_at{g} ON declarations{g} (filed_at DESC, id DESC);
CREATE INDEX declarations_by_declarant{g} ON declarations{g} (declarant, filed_at DESC, id DESC);
CREATE INDEX declarations_by_status{g} ON declarations{g} (status, filed_at DESC, id DESC);
CREATE INDEX declarations_by_lane{g} ON declarations{g} (lane, filed_at DESC, id DESC);
CREATE INDEX declarations_by_office{g} ON declarations{g} (office, filed_at DESC, id DESC);
CREATE INDEX declarations_by_filing_date{g} ON declarations{g} (filing_date);

-- The current version's items, replaced on amendment; amounts NULL until assessed.
CREATE TABLE declaration_items{g} (
    declaration_id TEXT    NOT NULL REFERENCES declarations{g} (id),
    line           INTEGER NOT NULL,          -- 1-based
    hs_code        TEXT    NOT NULL,          -- 10 digits
    origin         TEXT    NOT NULL,          -- ISO 3166-1 alpha-2
    customs_value  TEXT,
    duty           TEXT,
    vat            TEXT,
    PRIMARY KEY (declaration_id, line)
);

-- Tariff code prefix filters: a range scan on hs_code.
CREATE INDEX declaration_items_by_hs_code{g} ON declaration_items{g} (hs_code, declaration_id);
