-- Detection pipeline (DESIGN.md §5): ingested events, consumer checkpoints,
-- the signals events raised, leads (线索) and the versioned rules.
--
-- Personal data: an event's content (phone numbers, SMS texts…) is kept
-- only as a sealed payload (AES-256-GCM). The person key is a keyed
-- pseudonym (derived from the master key), and the event id is kept as a
-- keyed digest of (source, id), so no column holds a phone number or an
-- id that may embed one. A lead's subscriber is sealed with a blind index
-- and a masked form, like residents' phones.

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id_hash     BLOB    NOT NULL UNIQUE,
    ts          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    person_key  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    payload     BLOB    NOT NULL
);
CREATE INDEX events_ts ON events (ts);

-- How far each consumer (per partition) has durably processed the log.
CREATE TABLE pipeline_checkpoints (
    consumer   TEXT    NOT NULL,
    part       INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, part)
) WITHOUT ROWID;

-- Signals raised by events (indicator hits, text verdicts, behaviour).
CREATE TABLE event_signals (
    seq          INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    person_key   INTEGER NOT NULL,
    signal       TEXT    NOT NULL,
    fraud_type   TEXT,
    weight_milli INTEGER NOT NULL,
    evidence     TEXT    NOT NULL,
    PRIMARY KEY (seq, position)
) WITHOUT ROWID;

CREATE TABLE leads (
    id                INTEGER PRIMARY KEY,
    person_key        INTEGER NOT NULL,
    subscriber_kind   TEXT    NOT NULL,
    subscriber_enc    BLOB    NOT NULL,
    subscriber_bidx   BLOB    NOT NULL,
    subscriber_masked TEXT    NOT NULL,
    name_enc          BLOB,
    name_masked       TEXT,
    resident_id       INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    node_id           INTEGER REFERENCES org_nodes (id),
    grade             TEXT    NOT NULL,
    score_milli       INTEGER NOT NULL,
    fraud_type        TEXT,
    status            TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    upstream_id       TEXT,
    rules_version     INTEGER,
    opened_at         INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    raised_seq        INTEGER UNIQUE,
    last_seq          INTEGER NOT NULL DEFAULT 0,
    updates           INTEGER NOT NULL DEFAULT 0,
    explanation       TEXT    NOT NULL,
    note              TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX leads_upstream ON leads (source, upstream_id);
CREATE INDEX leads_person ON leads (person_key, id);
CREATE INDEX leads_opened ON leads (opened_at);
CREATE INDEX leads_node ON leads (node_id);
CREATE INDEX leads_resident ON leads (resident_id);
CREATE INDEX leads_subscriber ON leads (subscriber_bidx);

-- The events that make up a lead's evidence.
CREATE TABLE lead_events (
    lead_id INTEGER NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (lead_id, seq)
) WITHOUT ROWID;

-- Rules documents as analysts saved them; exactly one is active once any exists.
CREATE TABLE rules_versions (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    toml       TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    author_id  INTEGER NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0
);
