-- One generation of the read model (see projections/src/generations.rs): `{g}` stands for
-- the generation's suffix (`_g3`); queries read the serving generation through views named
-- without it (`declarations`). Each index is one line starting `CREATE INDEX`: a rebuild
-- creates them after it has loaded the rows (faster than keeping them up to date row by row).
-- The `declarations` read model: one row per declaration stream, and its current item lines.
-- Portable types: ids and codes as text, decimals as text (exact, e.g. '1020.00'), dates as
-- 'YYYY-MM-DD', instants as RFC 3339 UTC with six fractional digits
-- ('2026-03-05T09:00:00.000000Z') so that text order is time order. Columns that are ordered
-- or range-scanned use the "C" collation: byte order, as on SQLite, whatever the database's
-- locale, and usable by the range scans.
CREATE TABLE declarations{g} (
    id                  text   COLLATE "C" PRIMARY KEY,  -- the stream's UUID, lowercase, hyphenated
    declarant           text,                 -- the organisation that owns it; NULL when a rejected filing named none
    lrn                 text,
    declaration_type    text,                 -- 'import' | 'export'
    importer            text,
    exporter            text,
    office              text,
    transport_mode      text,                 -- WCO code '1'..'9'
    filing_date         text   COLLATE "C",   -- NULL for a rejected filing
    status              text   NOT NULL,      -- domain Status::as_str, e.g. 'awaitingInspection'
    lane                text,                 -- 'green' | 'yellow' | 'red'; NULL until assessed
    error_count         bigint NOT NULL,      -- errors of the latest rejection, else 0
    item_count          bigint NOT NULL,
    invoice_currency    text,
    invoice_amount      text,
    tax_currency        text,                 -- national currency of the amounts below
    customs_value       text,                 -- NULL until assessed
    duty                text,
    vat                 text,
    amount_paid         text   NOT NULL,
    additional_tax      text   NOT NULL,      -- post-clearance corrections
    drawback            text   NOT NULL,
    data_version        bigint NOT NULL,      -- 1 when filed, +1 per amendment; 0 when rejected
    version             bigint NOT NULL,      -- the stream's version
    filed_at            text   COLLATE "C" NOT NULL,
    updated_at          text   COLLATE "C" NOT NULL,
    last_event_position bigint NOT NULL
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
    declaration_id text   COLLATE "C" NOT NULL REFERENCES declarations{g} (id),
    line           bigint NOT NULL,           -- 1-based
    hs_code        text   COLLATE "C" NOT NULL,  -- 10 digits
    origin         text   NOT NULL,           -- ISO 3166-1 alpha-2
    customs_value  text,
    duty           text,
    vat            text,
    PRIMARY KEY (declaration_id, line)
);

-- Tariff code prefix filters: a range scan on hs_code.
CREATE INDEX declaration_items_by_hs_code{g} ON declaration_items{g} (hs_code, declaration_id);
