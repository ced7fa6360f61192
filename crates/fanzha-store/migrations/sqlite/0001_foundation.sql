-- Foundation: org tree, units, residents, users, sessions, API tokens,
-- settings and the hash-chained audit log.
-- Timestamps are unix milliseconds; booleans are 0/1.

CREATE TABLE org_nodes (
    id          INTEGER PRIMARY KEY,
    parent_id   INTEGER REFERENCES org_nodes (id),
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    code        TEXT,
    path        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX org_nodes_sibling_name ON org_nodes (COALESCE(parent_id, 0), name);
CREATE INDEX org_nodes_path ON org_nodes (path);
CREATE INDEX org_nodes_parent ON org_nodes (parent_id);

CREATE TABLE units (
    id                INTEGER PRIMARY KEY,
    node_id           INTEGER NOT NULL REFERENCES org_nodes (id),
    name              TEXT    NOT NULL,
    unit_type         TEXT    NOT NULL,
    responsible_name  TEXT    NOT NULL,
    responsible_phone TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE UNIQUE INDEX units_node_name ON units (node_id, name);

CREATE TABLE residents (
    id          INTEGER PRIMARY KEY,
    grid_id     INTEGER NOT NULL REFERENCES org_nodes (id),
    name        TEXT    NOT NULL,
    id_enc      BLOB    NOT NULL,
    id_bidx     BLOB    NOT NULL UNIQUE,
    id_masked   TEXT    NOT NULL,
    birth_date  TEXT,
    sex         TEXT,
    address     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL
);
CREATE INDEX residents_grid ON residents (grid_id);
CREATE INDEX residents_name ON residents (name);

CREATE TABLE resident_phones (
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    enc         BLOB    NOT NULL,
    bidx        BLOB    NOT NULL,
    masked      TEXT    NOT NULL,
    PRIMARY KEY (resident_id, position)
) WITHOUT ROWID;
CREATE INDEX resident_phones_bidx ON resident_phones (bidx);

CREATE TABLE resident_tags (
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    tag         TEXT    NOT NULL,
    PRIMARY KEY (resident_id, tag)
) WITHOUT ROWID;
CREATE INDEX resident_tags_tag ON resident_tags (tag, resident_id);

CREATE TABLE resident_contacts (
    id                 INTEGER PRIMARY KEY,
    resident_id        INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    position           INTEGER NOT NULL,
    relation           TEXT    NOT NULL,
    linked_resident_id INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    name               TEXT    NOT NULL,
    phone_enc          BLOB,
    phone_bidx         BLOB,
    phone_masked       TEXT
);
CREATE INDEX resident_contacts_resident ON resident_contacts (resident_id, position);
CREATE INDEX resident_contacts_bidx ON resident_contacts (phone_bidx);
CREATE INDEX resident_contacts_linked ON resident_contacts (linked_resident_id);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE,
    display_name         TEXT    NOT NULL,
    role                 TEXT    NOT NULL,
    node_id              INTEGER REFERENCES org_nodes (id),
    password_hash        TEXT    NOT NULL,
    disabled             INTEGER NOT NULL DEFAULT 0,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    lang                 TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX users_node ON users (node_id);

CREATE TABLE sessions (
    token_hash       BLOB    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token       TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    ip               TEXT    NOT NULL,
    user_agent_short TEXT    NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor_id  INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    ip        TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);

-- The last entry of the chain; one row, locked by every append.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
