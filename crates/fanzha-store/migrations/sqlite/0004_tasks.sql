-- Dissuasion workflow (DESIGN.md §6): dispatch policies, dissuasion tasks
-- (劝阻任务) with their assignees, contact attempts and transitions,
-- notifications (warning SMS, robocalls, in-app), appeals (申诉), cases
-- (案件, minimal), message template overrides, the intel review queue,
-- the heads of org nodes and staff phones for notifications.
--
-- Personal data: phone numbers (the person's, staff's, an appellant's) are
-- kept sealed (AES-256-GCM) with a blind index and a masked form. Message
-- texts hold a salutation (surname and 先生/女士) at most, never a full name
-- or a number. A task points at its lead, which holds the sealed subscriber.

-- Dispatch policies as analysts saved them; exactly one is active once any exists.
CREATE TABLE dispatch_policies (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    toml       TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    author_id  INTEGER NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0
);

-- Analysts' texts laid over the shipped templates: kind sms | robocall |
-- script | appeal, key generic | a fraud type code | an appeal decision.
CREATE TABLE message_templates (
    kind       TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    updated_by INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

-- The responsible person (head) of a node for a role: the village head
-- (grid_worker at a village), the station chief (officer at a township),
-- the center's head (leader or analyst at the county).
CREATE TABLE org_heads (
    node_id INTEGER NOT NULL REFERENCES org_nodes (id) ON DELETE CASCADE,
    role    TEXT    NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    set_at  INTEGER NOT NULL,
    PRIMARY KEY (node_id, role)
) WITHOUT ROWID;

-- A staff member's mobile, for task notifications by SMS.
CREATE TABLE user_phones (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone_enc  BLOB    NOT NULL,
    phone_bidx BLOB    NOT NULL,
    masked     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    lead_id          INTEGER NOT NULL UNIQUE REFERENCES leads (id),
    person_key       INTEGER NOT NULL,
    resident_id      INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    node_id          INTEGER NOT NULL REFERENCES org_nodes (id),
    route            TEXT    NOT NULL,
    grade            TEXT    NOT NULL,
    grade_rank       INTEGER NOT NULL,
    fraud_type       TEXT,
    method           TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    policy_version   INTEGER NOT NULL,
    plan             TEXT    NOT NULL,
    watch_roles      TEXT    NOT NULL DEFAULT '',
    contact_due      INTEGER NOT NULL,
    visit_due        INTEGER,
    next_check_at    INTEGER,
    escalation_step  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    accepted_at      INTEGER,
    first_contact_at INTEGER,
    visited_at       INTEGER,
    closed_at        INTEGER,
    outcome          TEXT,
    loss_fen         INTEGER,
    outcome_by       INTEGER,
    outcome_note     TEXT,
    alert            TEXT,
    feedback_pending INTEGER NOT NULL DEFAULT 0,
    version          INTEGER NOT NULL DEFAULT 1,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX tasks_node ON tasks (node_id, id);
CREATE INDEX tasks_state ON tasks (state, id);
CREATE INDEX tasks_created ON tasks (created_at);
CREATE INDEX tasks_check ON tasks (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX tasks_feedback ON tasks (id) WHERE feedback_pending = 1;

-- Who a task is for: owner | watch | escalation (a step of the chain) |
-- accepted (took it without being named).
CREATE TABLE task_assignees (
    task_id  INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind     TEXT    NOT NULL,
    step     INTEGER,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, user_id, kind)
) WITHOUT ROWID;
CREATE INDEX task_assignees_user ON task_assignees (user_id, task_id);

CREATE TABLE task_attempts (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    method          TEXT    NOT NULL,
    by_user         INTEGER,
    result          TEXT    NOT NULL,
    note            TEXT,
    notification_id INTEGER,
    client_key      TEXT,
    UNIQUE (task_id, client_key)
);
CREATE INDEX task_attempts_task ON task_attempts (task_id, id);

-- Every state change (and every event that left the state as it was).
CREATE TABLE task_transitions (
    id         INTEGER PRIMARY KEY,
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    step       INTEGER,
    actor_id   INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX task_transitions_task ON task_transitions (task_id, id);

CREATE TABLE appeals (
    id                 INTEGER PRIMARY KEY,
    reference          TEXT    NOT NULL UNIQUE,
    kind               TEXT    NOT NULL,
    value              TEXT    NOT NULL,
    contact_enc        BLOB,
    contact_bidx       BLOB,
    contact_masked     TEXT,
    reason             TEXT    NOT NULL,
    ip_hash            BLOB    NOT NULL,
    status             TEXT    NOT NULL,
    indicator_ids      TEXT    NOT NULL DEFAULT '',
    decision_reason    TEXT    NOT NULL DEFAULT '',
    decided_by         INTEGER,
    decided_at         INTEGER,
    appellant_notified INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX appeals_status ON appeals (status, id);
CREATE INDEX appeals_created ON appeals (created_at);

-- Warning SMS and robocalls to the person, SMS and in-app messages to staff,
-- and SMS to appellants. `idempotency_key` is what the gateway sees.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER REFERENCES tasks (id) ON DELETE CASCADE,
    appeal_id       INTEGER REFERENCES appeals (id) ON DELETE CASCADE,
    user_id         INTEGER REFERENCES users (id) ON DELETE CASCADE,
    person_key      INTEGER,
    channel         TEXT    NOT NULL,
    purpose         TEXT    NOT NULL,
    to_enc          BLOB,
    to_bidx         BLOB,
    to_masked       TEXT,
    template_id     TEXT    NOT NULL,
    body            TEXT    NOT NULL DEFAULT '',
    idempotency_key TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    delivery_id     TEXT,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    read_at         INTEGER
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'queued';
CREATE INDEX notifications_user ON notifications (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX notifications_task ON notifications (task_id, id);
CREATE INDEX notifications_person ON notifications (person_key, created_at) WHERE person_key IS NOT NULL;
CREATE INDEX notifications_delivery ON notifications (delivery_id) WHERE delivery_id IS NOT NULL;

CREATE TABLE cases (
    id          INTEGER PRIMARY KEY,
    task_id     INTEGER UNIQUE REFERENCES tasks (id),
    lead_id     INTEGER REFERENCES leads (id),
    resident_id INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    person_key  INTEGER,
    node_id     INTEGER REFERENCES org_nodes (id),
    fraud_type  TEXT,
    loss_fen    INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX cases_node ON cases (node_id, id);

CREATE TABLE case_indicators (
    case_id      INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    indicator_id INTEGER NOT NULL REFERENCES indicators (id) ON DELETE CASCADE,
    PRIMARY KEY (case_id, indicator_id)
) WITHOUT ROWID;

-- Indicators an analyst should look at again: behind a false alarm, or
-- named in an appeal.
CREATE TABLE intel_review (
    id           INTEGER PRIMARY KEY,
    indicator_id INTEGER NOT NULL REFERENCES indicators (id) ON DELETE CASCADE,
    reason       TEXT    NOT NULL,
    task_id      INTEGER REFERENCES tasks (id) ON DELETE CASCADE,
    appeal_id    INTEGER REFERENCES appeals (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL,
    note         TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    resolved_by  INTEGER,
    resolved_at  INTEGER
);
CREATE INDEX intel_review_status ON intel_review (status, id);
CREATE UNIQUE INDEX intel_review_task ON intel_review (indicator_id, task_id) WHERE task_id IS NOT NULL;
CREATE UNIQUE INDEX intel_review_appeal ON intel_review (indicator_id, appeal_id) WHERE appeal_id IS NOT NULL;

-- The dispatcher looks for open leads.
CREATE INDEX leads_status ON leads (status, id);
