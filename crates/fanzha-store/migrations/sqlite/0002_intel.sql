-- Intelligence base (情报库): indicators, the allowlist, public reports
-- (举报), disposal records (处置记录) and import jobs.
--
-- Intel rows are global to the deployment: none of them belongs to an org
-- node, so none of them keeps a node from being deleted.
--
-- One value may be held by several sources at once (the 165 feed and an
-- analyst, say): an indicator is unique by (value, kind, source), and a
-- lookup returns every row of the value. An indicator's history is the audit
-- log (target `indicator:{id}`).

CREATE TABLE indicators (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    fraud_type  TEXT    NOT NULL,
    confidence  INTEGER NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    source      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    valid_from  INTEGER NOT NULL,
    valid_until INTEGER,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    sightings   INTEGER NOT NULL DEFAULT 0,
    description TEXT    NOT NULL DEFAULT '',
    notes       TEXT    NOT NULL DEFAULT '',
    external_id TEXT,
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL
);
CREATE UNIQUE INDEX indicators_value_kind_source ON indicators (value, kind, source);
CREATE INDEX indicators_status ON indicators (status, id);
CREATE INDEX indicators_kind ON indicators (kind, id);
CREATE INDEX indicators_valid_until ON indicators (valid_until) WHERE valid_until IS NOT NULL;

CREATE TABLE indicator_tags (
    indicator_id INTEGER NOT NULL REFERENCES indicators (id) ON DELETE CASCADE,
    tag          TEXT    NOT NULL,
    PRIMARY KEY (indicator_id, tag)
) WITHOUT ROWID;
CREATE INDEX indicator_tags_tag ON indicator_tags (tag, indicator_id);

CREATE TABLE intel_allowlist (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    note       TEXT    NOT NULL,
    builtin    INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX intel_allowlist_kind_value ON intel_allowlist (kind, value);

CREATE TABLE intel_reports (
    id             INTEGER PRIMARY KEY,
    reference      TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    fraud_type     TEXT,
    description    TEXT    NOT NULL,
    contact_enc    BLOB,
    contact_bidx   BLOB,
    contact_masked TEXT,
    ip_hash        BLOB    NOT NULL,
    status         TEXT    NOT NULL,
    indicator_id   INTEGER REFERENCES indicators (id) ON DELETE SET NULL,
    review_note    TEXT    NOT NULL DEFAULT '',
    reviewed_by    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX intel_reports_status ON intel_reports (status, id);
CREATE INDEX intel_reports_indicator ON intel_reports (indicator_id);
CREATE INDEX intel_reports_contact ON intel_reports (contact_bidx);

CREATE TABLE intel_disposals (
    id                 INTEGER PRIMARY KEY,
    target_kind        TEXT    NOT NULL,
    target_name        TEXT    NOT NULL,
    filter_description TEXT    NOT NULL,
    request_note       TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    result             TEXT    NOT NULL DEFAULT '',
    requested_by       INTEGER NOT NULL,
    requested_at       INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    version            INTEGER NOT NULL
);
CREATE INDEX intel_disposals_status ON intel_disposals (status, id);

CREATE TABLE intel_disposal_items (
    disposal_id  INTEGER NOT NULL REFERENCES intel_disposals (id) ON DELETE CASCADE,
    indicator_id INTEGER NOT NULL REFERENCES indicators (id),
    PRIMARY KEY (disposal_id, indicator_id)
) WITHOUT ROWID;
CREATE INDEX intel_disposal_items_indicator ON intel_disposal_items (indicator_id);

CREATE TABLE intel_import_jobs (
    id          INTEGER PRIMARY KEY,
    source_name TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    file_name   TEXT    NOT NULL,
    lines       INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    unchanged   INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    report      TEXT    NOT NULL,
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- One row: the intel generation (bumped by every change that can alter the
-- match index) and the counter behind RPZ serials.
CREATE TABLE intel_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    generation    INTEGER NOT NULL,
    export_serial INTEGER NOT NULL
);
INSERT INTO intel_state (id, generation, export_serial) VALUES (1, 1, 0);
