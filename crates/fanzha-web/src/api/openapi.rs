//! The OpenAPI 3.1 document, built from the endpoint list that also builds
//! the router. Schemas are outlines: the fields and their types, enough for a
//! client to be written against; the authoritative rules are in the error
//! messages the server gives.

use super::{Endpoint, M};
use serde_json::{Map, Value, json};

/// How an endpoint is described.
pub(crate) struct Doc {
    tag: &'static str,
    summary: &'static str,
    public: bool,
    /// (name, JSON schema type, description)
    query: Vec<(&'static str, &'static str, &'static str)>,
    body: Option<Value>,
    raw_body: Option<&'static [&'static str]>,
    status: u16,
    response: Option<Value>,
    raw_response: Option<&'static [&'static str]>,
    errors: Vec<u16>,
}

/// A reference to a component schema.
pub(crate) fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An array of a component schema.
pub(crate) fn list_of(name: &str) -> Value {
    json!({ "type": "array", "items": r(name) })
}

impl Doc {
    pub(crate) fn new(tag: &'static str, summary: &'static str) -> Doc {
        Doc {
            tag,
            summary,
            public: false,
            query: Vec::new(),
            body: None,
            raw_body: None,
            status: 200,
            response: None,
            raw_response: None,
            errors: Vec::new(),
        }
    }
    /// Needs no authentication.
    pub(crate) fn public(mut self) -> Doc {
        self.public = true;
        self
    }
    pub(crate) fn query(mut self, q: &[(&'static str, &'static str, &'static str)]) -> Doc {
        self.query.extend_from_slice(q);
        self
    }
    /// A JSON request body with this schema.
    pub(crate) fn body(mut self, schema: Value) -> Doc {
        self.body = Some(schema);
        self
    }
    /// A raw request body in one of these media types.
    pub(crate) fn raw_body(mut self, types: &'static [&'static str]) -> Doc {
        self.raw_body = Some(types);
        self
    }
    /// The success status and its JSON body.
    pub(crate) fn ok(mut self, status: u16, schema: Value) -> Doc {
        self.status = status;
        self.response = Some(schema);
        self
    }
    /// Success is `204 No Content`.
    pub(crate) fn no_content(mut self) -> Doc {
        self.status = 204;
        self
    }
    /// A raw response body in one of these media types.
    pub(crate) fn raw_response(mut self, types: &'static [&'static str]) -> Doc {
        self.raw_response = Some(types);
        self
    }
    /// Error statuses beyond the common ones (401, 403, 422).
    pub(crate) fn errors(mut self, e: &[u16]) -> Doc {
        self.errors.extend_from_slice(e);
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No content",
        401 => "Not signed in, or the token is unknown or revoked",
        403 => "The role may not do this, or the CSRF token is missing",
        404 => "Not found, or outside the caller's scope",
        409 => "Conflict with the stored data",
        413 => "The body is larger than the configured limit",
        422 => "Invalid input; the message says what and why",
        423 => "The account is locked after repeated failed sign-ins",
        429 => "Too many requests from this address; try again later",
        _ => "",
    }
}

fn operation(e: &Endpoint) -> Value {
    let d = &e.doc;
    let mut params = Vec::new();
    for seg in e.path.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            params.push(json!({
                "name": name, "in": "path", "required": true,
                "schema": { "type": "integer", "format": "int64" }
            }));
        }
    }
    for (name, ty, desc) in &d.query {
        params.push(json!({ "name": name, "in": "query", "required": false, "description": desc, "schema": { "type": ty } }));
    }
    let mut op = Map::new();
    op.insert("tags".into(), json!([d.tag]));
    op.insert("summary".into(), json!(d.summary));
    let slug: String = e
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}').replace(['-', '.'], "_"))
        .collect::<Vec<_>>()
        .join("_");
    op.insert(
        "operationId".into(),
        json!(format!("{}_{slug}", e.method.lower())),
    );
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    if let Some(schema) = &d.body {
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": schema } } }),
        );
    } else if let Some(types) = d.raw_body {
        let content: Map<String, Value> = types
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    json!({ "schema": { "type": "string", "contentMediaType": t } }),
                )
            })
            .collect();
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": content }),
        );
    }
    let mut responses = Map::new();
    let mut ok = Map::new();
    ok.insert("description".into(), json!(reason(d.status)));
    if let Some(schema) = &d.response {
        ok.insert(
            "content".into(),
            json!({ "application/json": { "schema": schema } }),
        );
    } else if let Some(types) = d.raw_response {
        let content: Map<String, Value> = types
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    json!({ "schema": { "type": "string", "contentMediaType": t } }),
                )
            })
            .collect();
        ok.insert("content".into(), Value::Object(content));
    }
    responses.insert(d.status.to_string(), Value::Object(ok));
    let mut errors: Vec<u16> = if d.public { vec![422] } else { vec![401, 403, 422] };
    errors.extend(&d.errors);
    if d.body.is_some() || d.raw_body.is_some() {
        errors.push(413);
    }
    errors.sort_unstable();
    errors.dedup();
    for s in errors {
        responses.insert(
            s.to_string(),
            json!({ "description": reason(s), "content": { "application/json": { "schema": r("Error") } } }),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    let security = if d.public {
        json!([])
    } else if e.method == M::Get {
        json!([{ "bearerAuth": [] }, { "cookieAuth": [] }])
    } else {
        json!([{ "bearerAuth": [] }, { "cookieAuth": [], "csrfHeader": [] }])
    };
    op.insert("security".into(), security);
    Value::Object(op)
}

/// The whole document.
pub(crate) fn document(endpoints: &[Endpoint]) -> Value {
    let mut paths = Map::new();
    for e in endpoints {
        let item = paths.entry(e.path.to_string()).or_insert_with(|| json!({}));
        if let Some(obj) = item.as_object_mut() {
            obj.insert(e.method.lower().to_string(), operation(e));
        }
    }
    let mut tags: Vec<&str> = endpoints.iter().map(|e| e.doc.tag).collect();
    tags.sort_unstable();
    tags.dedup();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fanzha API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The JSON API of Fanzha (反诈), the anti-telecom-fraud platform. \
                Authenticate with an API token (`Authorization: Bearer fz_…`, created with POST /tokens) \
                or with the session cookie from POST /auth/login; calls that change data with the \
                cookie must send the session's CSRF token in `X-CSRF-Token`. Every read and write is \
                limited to the caller's role and org subtree. Errors are \
                `{\"error\": {\"code\", \"message\"}}` with the message in the account's language \
                (or the `fz_lang` cookie). ID numbers and phones are masked unless revealed; every \
                reveal is written to the audit log."
        },
        "servers": [{ "url": "/api/v1" }],
        "tags": tags.iter().map(|t| json!({ "name": t })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": "An API token from POST /tokens." },
                "cookieAuth": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
                    "description": "The session cookie set by POST /auth/login." },
                "csrfHeader": { "type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                    "description": "The `csrf` value returned by POST /auth/login or GET /me; required with the cookie on every call that changes data." }
            },
            "schemas": schemas()
        }
    })
}

fn id() -> Value {
    json!({ "type": "integer", "format": "int64" })
}
fn ts() -> Value {
    json!({ "type": "integer", "format": "int64", "description": "Unix milliseconds" })
}
fn s() -> Value {
    json!({ "type": "string" })
}
fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}
fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}
fn codes(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}
fn object(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

fn roles() -> Value {
    let v: Vec<&str> = fanzha_core::roles::Role::ALL.iter().map(|r| r.code()).collect();
    codes(&v)
}
fn node_kinds() -> Value {
    let v: Vec<&str> = fanzha_core::org::NodeKind::ALL.iter().map(|r| r.code()).collect();
    codes(&v)
}
fn unit_types() -> Value {
    let v: Vec<&str> = fanzha_core::org::UnitType::ALL.iter().map(|r| r.code()).collect();
    codes(&v)
}
fn page_of(item: &str) -> Value {
    object(
        &["items", "total", "page", "per_page"],
        json!({ "items": list_of(item), "total": id(), "page": { "type": "integer" }, "per_page": { "type": "integer" } }),
    )
}

fn schemas() -> Value {
    let date = json!({ "type": ["object", "null"], "properties": { "year": { "type": "integer" }, "month": { "type": "integer" }, "day": { "type": "integer" } } });
    let sex = json!({ "type": ["string", "null"], "enum": ["male", "female", null] });
    let mut m = Map::new();
    m.insert("Error".into(), object(&["error"], json!({
            "error": object(&["code", "message"], json!({
                "code": { "type": "string", "description": "Stable machine-readable code, e.g. `invalid`, `forbidden`, `not_found`." },
                "message": { "type": "string", "description": "What went wrong, in the caller's language." }
            }))
        })));
    m.insert(
        "LoginRequest".into(),
        object(
            &["username", "password"],
            json!({ "username": s(), "password": s() }),
        ),
    );
    m.insert(
        "LoginResponse".into(),
        object(
            &["user", "csrf", "expires_at"],
            json!({ "user": r("User"), "csrf": s(), "expires_at": ts() }),
        ),
    );
    m.insert("User".into(), object(&["id", "username", "role"], json!({
            "id": id(), "username": s(), "display_name": s(), "role": roles(), "node_id": nullable("integer"),
            "disabled": { "type": "boolean" }, "locked": { "type": "boolean" }, "lang": s()
        })));
    m.insert("UserForm".into(), object(&["username", "role"], json!({
            "username": s(), "display_name": s(), "role": roles(), "node_id": nullable("integer"),
            "password": { "type": ["string", "null"], "description": "Required on create; on update, a new password when given." },
            "disabled": { "type": "boolean" }
        })));
    m.insert(
        "Me".into(),
        object(
            &["user", "via", "permissions", "scope"],
            json!({
                "user": r("User"),
                "via": codes(&["session", "token"]),
                "csrf": { "type": ["string", "null"], "description": "The CSRF token of a cookie session." },
                "permissions": strings(),
                "scope": object(&["trail"], json!({ "node_id": nullable("integer"), "trail": strings() }))
            }),
        ),
    );
    m.insert(
        "LoggedOutEverywhere".into(),
        object(&["ended"], json!({ "ended": { "type": "integer" } })),
    );
    m.insert(
        "Token".into(),
        object(
            &["id", "name", "prefix"],
            json!({
                "id": id(), "user_id": id(), "name": s(), "prefix": s(), "created_at": ts(),
                "last_used_at": nullable("integer"), "revoked_at": nullable("integer")
            }),
        ),
    );
    m.insert("NewToken".into(), object(&["name"], json!({ "name": s() })));
    m.insert("TokenCreated".into(), object(&["id", "name", "token"], json!({
            "id": id(), "name": s(), "token": { "type": "string", "description": "The secret, shown only in this response." }
        })));
    m.insert(
        "Node".into(),
        object(
            &["id", "kind", "name", "path"],
            json!({
                "id": id(), "parent_id": nullable("integer"), "kind": node_kinds(), "name": s(),
                "code": nullable("string"), "path": s(), "created_at": ts(), "updated_at": ts()
            }),
        ),
    );
    m.insert(
        "NodeInTree".into(),
        json!({
            "allOf": [r("Node"), object(&["depth", "residents"], json!({
                "depth": { "type": "integer", "description": "Depth below the caller's own node." },
                "residents": { "type": "integer", "description": "Residents in the node's whole subtree." }
            }))]
        }),
    );
    m.insert("NewNode".into(), object(&["kind", "name"], json!({
            "parent_id": nullable("integer"), "kind": node_kinds(), "name": s(), "code": nullable("string")
        })));
    m.insert("NodePatch".into(), object(&[], json!({
            "name": s(), "parent_id": { "type": "integer", "format": "int64", "description": "Move under this node." }
        })));
    m.insert("Unit".into(), object(&["id", "node_id", "name", "unit_type"], json!({
            "id": id(), "node_id": id(), "node_name": s(), "node_path": s(), "name": s(), "unit_type": unit_types(),
            "responsible_name": s(), "responsible_phone": s(), "created_at": ts(), "updated_at": ts()
        })));
    m.insert("UnitForm".into(), object(&["node_id", "name", "unit_type"], json!({
            "node_id": id(), "name": s(), "unit_type": unit_types(), "responsible_name": s(), "responsible_phone": s()
        })));
    m.insert(
        "ResidentSummary".into(),
        object(
            &["id", "name", "id_masked", "grid_id"],
            json!({
                "id": id(), "name": s(), "id_masked": s(), "phone_masked": nullable("string"), "sex": sex,
                "birth_date": date, "grid_id": id(), "grid_name": s(), "tags": strings()
            }),
        ),
    );
    m.insert("ResidentPage".into(), page_of("ResidentSummary"));
    m.insert("Contact".into(), object(&["id", "relation", "name"], json!({
            "id": id(), "relation": s(), "name": s(), "phone": nullable("string"), "linked_resident_id": nullable("integer")
        })));
    m.insert("Resident".into(), object(&["id", "name", "id_number", "grid_id", "version"], json!({
            "id": id(), "name": s(), "id_number": { "type": "string", "description": "Masked." },
            "id_number_full": { "type": "boolean" }, "sex": sex, "birth_date": date, "age": nullable("integer"),
            "address": s(), "grid_id": id(), "grid_trail": strings(),
            "phones": { "type": "array", "items": { "type": "string" }, "description": "Masked." },
            "phones_full": { "type": "boolean" }, "tags": strings(), "contacts": list_of("Contact"),
            "version": id(), "updated_at": ts()
        })));
    m.insert("ResidentForm".into(), object(&["name", "id_number", "grid_id"], json!({
            "name": s(), "id_number": s(), "grid_id": id(),
            "phones": { "type": "string", "description": "Phones separated by `;`, `,` or `、`." },
            "address": s(),
            "tags": { "type": "string", "description": "Tags separated by `;`, `,` or `、`." },
            "contacts": { "type": "string", "description": "`relation:name:phone-or-ID`, separated by `;`." },
            "expected_version": { "type": ["integer", "null"], "description": "Refuse the update unless the stored version is this one." }
        })));
    m.insert("RevealRequest".into(), json!({
            "oneOf": [
                object(&["field"], json!({ "field": { "const": "id_number" } })),
                object(&["field", "index"], json!({ "field": { "const": "phone" }, "index": { "type": "integer", "minimum": 0, "description": "Position in `phones`." } })),
                object(&["field", "index"], json!({ "field": { "const": "contact_phone" }, "index": { "type": "integer", "description": "The contact's `id`." } }))
            ]
        }));
    m.insert(
        "RevealResponse".into(),
        json!({ "allOf": [r("RevealRequest"), object(&["value"], json!({ "value": { "type": "string", "description": "The full value." } }))] }),
    );
    m.insert("ImportReport".into(), object(&["rows", "inserted", "updated", "rejected"], json!({
            "rows": { "type": "integer" }, "inserted": { "type": "integer" }, "updated": { "type": "integer" },
            "rejected": { "type": "array", "items": object(&["row", "column", "reason", "message"], json!({
                "row": { "type": "integer", "description": "Row number as the spreadsheet shows it (the header is row 1)." },
                "column": s(), "reason": s(),
                "message": { "type": "string", "description": "Row, column and reason in one sentence." }
            })) }
        })));
    m.insert("AuditEntry".into(), object(&["seq", "at", "actor", "action", "target", "hash"], json!({
            "seq": id(), "at": ts(), "actor_id": id(), "actor": s(), "action": s(), "target": s(), "detail": s(),
            "ip": s(), "prev_hash": s(), "hash": s()
        })));
    m.insert("AuditPage".into(), page_of("AuditEntry"));
    m.insert(
        "AuditVerify".into(),
        object(
            &["entries", "ok"],
            json!({
                "entries": id(), "ok": { "type": "boolean" }, "problem": nullable("string")
            }),
        ),
    );
    // ---- detection (events, leads, rules, backtest)
    let grade = || codes(&["critical", "high", "medium", "low"]);
    let line_error = object(
        &["line", "error"],
        json!({ "line": { "type": "integer" }, "error": s() }),
    );
    m.insert("IngestReport".into(), object(&["accepted", "duplicates", "rejected"], json!({
            "accepted": { "type": "integer", "description": "Events stored by this request (durable when the reply is sent)." },
            "duplicates": { "type": "integer", "description": "Events stored before (same source and id), or repeated in the batch." },
            "rejected": { "type": "array", "items": line_error, "description": "Bad lines: 1-based line number and reason." },
            "first_seq": nullable("integer"), "last_seq": nullable("integer")
        })));
    m.insert("LeadSummary".into(), object(&["id", "subscriber_masked", "grade", "status", "source", "opened_at"], json!({
            "id": id(), "subscriber_kind": s(), "subscriber_masked": s(), "name_masked": nullable("string"),
            "resident_id": nullable("integer"), "node_id": nullable("integer"), "node_name": nullable("string"),
            "grade": grade(), "score_milli": id(), "fraud_type": nullable("string"),
            "status": codes(&["open", "dispatched", "closed"]), "source": codes(&["engine", "upper_push", "public_report"]),
            "upstream_id": nullable("string"), "rules_version": nullable("integer"),
            "opened_at": ts(), "updated_at": ts(), "updates": id()
        })));
    m.insert("LeadPage".into(), page_of("LeadSummary"));
    m.insert("Lead".into(), json!({ "allOf": [r("LeadSummary"), object(&["score", "explanation", "timeline"], json!({
            "score": { "type": "number" }, "raised_seq": nullable("integer"), "last_seq": id(), "note": s(),
            "explanation": { "type": ["object", "null"], "description": "The engine's breakdown: signals with weights, decay, caps and the events that raised them; chains; multipliers. No personal values." },
            "timeline": { "type": "array", "items": object(&["seq", "ts", "kind", "event", "signals"], json!({
                "seq": id(), "ts": ts(), "kind": s(), "source": s(),
                "event": { "type": ["object", "null"], "description": "The event with phones, accounts and digit runs in texts masked." },
                "signals": { "type": "array", "items": object(&["signal", "weight"], json!({
                    "signal": s(), "fraud_type": nullable("string"), "weight": { "type": "number" }, "evidence": { "type": "object" }
                })) },
                "deciding": { "type": "boolean" }
            })) }
        }))] }));
    m.insert("LeadImportReport".into(), object(&["rows", "inserted", "existing", "rejected"], json!({
            "rows": { "type": "integer" }, "inserted": { "type": "integer" },
            "existing": { "type": "integer", "description": "Rows whose upstream id was imported before." },
            "rejected": { "type": "array", "items": object(&["row", "column", "reason", "message"], json!({
                "row": { "type": "integer" }, "column": s(), "reason": s(), "message": s()
            })) },
            "leads": { "type": "array", "items": object(&["row", "lead_id"], json!({ "row": { "type": "integer" }, "lead_id": id() })) }
        })));
    m.insert("RulesVersion".into(), object(&["version", "name", "toml", "active"], json!({
            "version": id(), "name": s(), "toml": { "type": "string", "description": "The rules document (TOML)." },
            "author": s(), "author_id": id(), "note": s(), "created_at": ts(), "active": { "type": "boolean" }
        })));
    m.insert("RulesView".into(), object(&["active", "versions"], json!({
            "active": r("RulesVersion"),
            "versions": { "type": "array", "items": object(&["version", "name", "active"], json!({
                "version": id(), "name": s(), "author": s(), "note": s(), "created_at": ts(), "active": { "type": "boolean" }
            })) }
        })));
    m.insert(
        "RulesPut".into(),
        object(&["toml"], json!({ "toml": s(), "note": s() })),
    );
    m.insert("RulesCheck".into(), object(&["ok"], json!({
            "ok": { "type": "boolean" }, "name": nullable("string"),
            "problem": { "type": ["object", "null"], "properties": {
                "message": s(), "line": { "type": ["integer", "null"], "description": "1-based line of the problem, when known." }
            } }
        })));
    m.insert("LeadReveal".into(), object(&["id", "subscriber"], json!({
            "id": id(), "subscriber": { "type": "string", "description": "The full phone (E.164) or account." }
        })));
    m.insert("BacktestRequest".into(), object(&["rules", "from", "to"], json!({
            "rules": { "type": "string", "description": "Candidate rules document (TOML)." },
            "from": { "type": ["string", "integer"], "description": "RFC 3339 or ms since the epoch (inclusive)." },
            "to": { "type": ["string", "integer"], "description": "RFC 3339 or ms since the epoch (exclusive)." }
        })));
    let bt_lead = object(
        &["event_seq", "opened_at", "first_grade", "max_grade"],
        json!({
            "event_seq": id(), "opened_at": ts(), "first_grade": grade(), "max_grade": grade(),
            "updates": { "type": "integer" }, "fraud_type": nullable("string"), "subscriber_masked": s(),
            "resident_id": nullable("integer"), "node_id": nullable("integer")
        }),
    );
    m.insert("BacktestReport".into(), object(&["events", "new_leads", "dropped_leads", "grade_changes"], json!({
            "from": ts(), "to": ts(), "live_version": id(), "candidate_name": s(), "events": id(),
            "truncated": { "type": "boolean" },
            "new_leads": { "type": "array", "items": bt_lead.clone() },
            "dropped_leads": { "type": "array", "items": bt_lead.clone() },
            "grade_changes": { "type": "array", "items": object(&["live", "candidate"], json!({ "live": bt_lead.clone(), "candidate": bt_lead })) },
            "counts": { "type": "object" }, "elapsed_ms": id()
        })));
    m.insert("HomeStats".into(), object(&["townships", "villages", "grids", "units", "residents", "users"], json!({
            "townships": id(), "villages": id(), "grids": id(), "units": id(), "residents": id(), "users": id(),
            "residents_by_tag": { "type": "array", "description": "[tag, count] pairs, most frequent first.",
                "items": { "type": "array", "prefixItems": [s(), id()] } }
        })));
    intel_schemas(&mut m);
    // ---- dissuasion tasks, receipts, appeals
    let task_states = codes(&[
        "pending",
        "accepted",
        "contacting",
        "done",
        "escalated",
        "transferred",
    ]);
    let outcomes = codes(&[
        "dissuaded",
        "defrauded",
        "false_alarm",
        "unreachable",
        "refused",
        "out_of_jurisdiction",
    ]);
    let task_row = object(
        &[
            "id",
            "lead_id",
            "node_id",
            "grade",
            "method",
            "state",
            "contact_due",
        ],
        json!({
            "id": id(), "lead_id": id(), "resident_id": nullable("integer"), "node_id": id(), "node_name": s(),
            "route": codes(&["local", "transfer_queue"]), "grade": grade(), "fraud_type": nullable("string"),
            "method": codes(&["auto_sms", "robocall", "center_call", "visit"]), "state": task_states.clone(),
            "policy_version": id(), "contact_due": ts(), "visit_due": nullable("integer"),
            "escalation_step": { "type": "integer" }, "created_at": ts(), "accepted_at": nullable("integer"),
            "first_contact_at": nullable("integer"), "visited_at": nullable("integer"), "closed_at": nullable("integer"),
            "outcome": { "type": ["string", "null"] }, "loss_fen": nullable("integer"),
            "alert": { "type": ["string", "null"], "description": "send_retrying, send_failed, rate_limited, no_phone, no_owner" },
            "version": id()
        }),
    );
    m.insert("TaskSummary".into(), json!({ "allOf": [task_row.clone(), object(&["overdue"], json!({
            "overdue": { "type": "boolean" }, "subscriber_masked": s(), "name_masked": nullable("string"), "source": s()
        }))] }));
    m.insert("TaskPage".into(), page_of("TaskSummary"));
    m.insert("TaskDetail".into(), object(&["task", "person", "assignees", "attempts", "transitions"], json!({
            "task": task_row, "plan": { "type": ["object", "null"] }, "source": s(), "upstream_id": nullable("string"),
            "subscriber_masked": s(),
            "person": object(&["phone_masked"], json!({
                "name": nullable("string"), "phone_masked": s(), "address": nullable("string"), "grid_name": nullable("string"),
                "age": nullable("integer"), "tags": { "type": "array", "items": s() },
                "contacts": { "type": "array", "items": object(&["relation", "name"], json!({ "relation": s(), "name": s(), "phone_masked": nullable("string") })) }
            })),
            "evidence": { "type": "array", "items": { "type": "object" } }, "score": { "type": ["number", "null"] },
            "script": { "type": ["object", "null"], "description": "The recommended dissuasion script (劝阻话术): title, say, ask, red_flags." },
            "assignees": { "type": "array", "items": { "type": "object" } },
            "attempts": { "type": "array", "items": { "type": "object" } },
            "transitions": { "type": "array", "items": { "type": "object" } },
            "notifications": { "type": "array", "items": { "type": "object" } },
            "case_id": nullable("integer"), "overdue": { "type": "boolean" }, "can_work": { "type": "boolean" },
            "can_escalate": { "type": "boolean" }, "assigned_to_me": { "type": "boolean" }
        })));
    m.insert("TaskActionResult".into(), object(&["task_id", "state", "changed"], json!({
            "task_id": id(), "state": task_states, "changed": { "type": "boolean", "description": "False for a repeat (double submit)." },
            "case_id": nullable("integer")
        })));
    m.insert("AttemptForm".into(), object(&["method", "result"], json!({
            "method": codes(&["call", "sms", "visit", "robocall"]),
            "result": codes(&["reached", "delivered", "no_answer", "busy", "powered_off", "wrong_number", "hung_up", "not_home", "failed"]),
            "note": nullable("string"), "at": nullable("integer"), "client_key": nullable("string")
        })));
    m.insert("OutcomeForm".into(), object(&["outcome"], json!({
            "outcome": outcomes, "loss_fen": nullable("integer"), "loss_yuan": nullable("string"), "note": nullable("string")
        })));
    m.insert("EscalateBody".into(), object(&[], json!({ "reason": s() })));
    m.insert("RevealedPhones".into(), object(&["contacts"], json!({
            "person": nullable("string"),
            "contacts": { "type": "array", "items": { "type": "array", "prefixItems": [s(), s(), s()], "description": "[relation, name, phone]" } }
        })));
    m.insert("ReceiptReport".into(), object(&["received", "recorded", "unknown", "pending", "errors"], json!({
            "received": { "type": "integer" }, "recorded": { "type": "integer" }, "unknown": { "type": "integer" },
            "pending": { "type": "integer" }, "errors": { "type": "array", "items": { "type": "array" } }
        })));
    let figures = json!({ "type": "object", "description": "tasks, open, closed, outcomes, loss_fen, median_contact_min, median_close_min, deadline_decided, deadline_met, compliance_pct, success_pct, escalated" });
    let group = object(
        &["key", "label", "figures"],
        json!({ "key": s(), "label": s(), "figures": figures.clone() }),
    );
    m.insert("TaskMetrics".into(), object(&["total", "by_grade", "by_fraud_type", "by_node"], json!({
            "total": figures, "by_grade": { "type": "array", "items": group.clone() },
            "by_fraud_type": { "type": "array", "items": group.clone() }, "by_node": { "type": "array", "items": group },
            "appeals": { "type": "object" }, "at": ts()
        })));
    m.insert("AppealForm".into(), object(&["value", "reason"], json!({
            "kind": { "type": ["string", "null"], "description": "phone, url, domain, ip, app, bank_account, payment_account or social_account; detected when absent" },
            "value": s(), "contact": nullable("string"), "reason": s()
        })));
    m.insert(
        "AppealReceipt".into(),
        object(&["reference", "kind"], json!({ "reference": s(), "kind": s() })),
    );
    let appeal_status = codes(&["pending", "revoked", "kept"]);
    m.insert("AppealStatus".into(), object(&["reference", "status"], json!({
            "reference": s(), "status": appeal_status.clone(), "decision_reason": s(), "decided_at": nullable("integer")
        })));
    m.insert("Appeal".into(), object(&["id", "reference", "kind", "value", "status"], json!({
            "id": id(), "reference": s(), "kind": s(), "value": s(), "reason": s(), "status": appeal_status.clone(),
            "contact_masked": nullable("string"), "indicator_ids": { "type": "array", "items": id() },
            "decision_reason": s(), "decided_by": nullable("integer"), "decided_at": nullable("integer"),
            "appellant_notified": { "type": "boolean" }, "created_at": ts(),
            "indicators": { "type": "integer" }, "live_indicators": { "type": "integer" }
        })));
    m.insert("AppealPage".into(), page_of("Appeal"));
    let policy_version = object(
        &["version", "name", "toml", "active"],
        json!({
            "version": id(), "name": s(), "toml": { "type": "string", "description": "The dispatch policy document (TOML)." },
            "author": s(), "author_id": id(), "note": s(), "created_at": ts(), "active": { "type": "boolean" }
        }),
    );
    m.insert("DispatchPolicyVersion".into(), policy_version.clone());
    m.insert("DispatchPolicyView".into(), object(&["active", "versions"], json!({
            "active": policy_version,
            "versions": { "type": "array", "items": object(&["version", "name", "active"], json!({
                "version": id(), "name": s(), "author": s(), "note": s(), "created_at": ts(), "active": { "type": "boolean" }
            })) }
        })));
    let script = object(
        &["title", "say", "ask", "red_flags"],
        json!({
            "title": s(), "say": { "type": "string", "description": "Paragraphs separated by blank lines." },
            "ask": { "type": "array", "items": s() }, "red_flags": { "type": "array", "items": s() }
        }),
    );
    let template_entry = object(
        &["key", "label", "sms", "sms_chars", "sms_segments", "robocall"],
        json!({
            "key": { "type": "string", "description": "generic or a fraud type code." },
            "label": s(), "sms": s(),
            "sms_chars": { "type": "integer", "description": "Length of the SMS filled with the longest sample values (UTF-16 units for Chinese)." },
            "sms_segments": { "type": "integer", "description": "Messages it takes: 70 characters in one, 67 per part when longer." },
            "sms_encoding": codes(&["gsm7", "ucs2"]),
            "robocall": s(), "script": script.clone(),
            "own_sms": { "type": "boolean" }, "own_robocall": { "type": "boolean" }, "own_script": { "type": "boolean" },
            "edited_sms": { "type": "boolean" }, "edited_robocall": { "type": "boolean" }, "edited_script": { "type": "boolean" }
        }),
    );
    m.insert("TaskTemplate".into(), template_entry.clone());
    m.insert(
        "TaskTemplatesView".into(),
        object(
            &["max_segments", "entries"],
            json!({
                "max_segments": { "type": "integer" },
                "entries": { "type": "array", "items": template_entry },
                "warnings": { "type": "array", "items": { "type": "object" } }
            }),
        ),
    );
    m.insert("TaskTemplatePut".into(), object(&["key"], json!({
            "key": { "type": "string", "description": "generic or a fraud type code (or its Chinese name)." },
            "sms": s(), "robocall": s(), "script": script
        })));
    m.insert(
        "AppealDecision".into(),
        object(
            &["decision", "reason"],
            json!({
                "decision": codes(&["revoked", "kept"]), "reason": s()
            }),
        ),
    );
    Value::Object(m)
}

/// The intelligence base's schemas.
fn intel_schemas(m: &mut Map<String, Value>) {
    let kinds: Vec<&str> = fanzha_core::IndicatorKind::ALL.iter().map(|k| k.code()).collect();
    let kind = || codes(&kinds);
    let status = || codes(&["pending", "confirmed", "disposed", "revoked", "expired"]);
    let verdict = || codes(&["flagged", "allowlisted", "clean", "invalid"]);
    let fraud = || json!({ "type": "string", "description": "A fraud type code, e.g. `brushing_rebate`" });
    let int = || json!({ "type": "integer" });
    m.insert("LookupMatch".into(), object(&["indicator_id", "kind", "value", "match", "fraud_type", "confidence", "status"], json!({
            "indicator_id": id(), "kind": kind(), "value": s(), "match": codes(&["exact", "domain", "cidr"]),
            "fraud_type": fraud(), "confidence": int(), "status": status(), "valid_until": nullable("integer"),
            "source": { "type": "string", "description": "Only for roles that view intel." },
            "description": s(), "notes": s()
        })));
    m.insert("LookupResult".into(), object(&["value", "verdict", "matches"], json!({
            "value": s(), "kind": { "type": ["string", "null"], "enum": kinds.iter().map(|k| json!(k)).chain([Value::Null]).collect::<Vec<_>>() },
            "canonical": nullable("string"), "verdict": verdict(), "max_confidence": nullable("integer"),
            "matches": list_of("LookupMatch"),
            "allowlisted_by": { "type": "array", "items": object(&["kind", "value"], json!({ "kind": kind(), "value": s(), "note": s(), "builtin": { "type": "boolean" } })) },
            "error": { "type": "string", "description": "Why the value was not recognised (batch only)." }
        })));
    m.insert(
        "LookupBatch".into(),
        object(
            &["count", "results"],
            json!({
                "count": int(), "flagged": int(), "allowlisted": int(), "clean": int(), "invalid": int(),
                "results": list_of("LookupResult")
            }),
        ),
    );
    m.insert(
        "IntelOverview".into(),
        object(
            &["counts", "index"],
            json!({
                "counts": { "type": "object" }, "index": { "type": "object" }, "top_tags": { "type": "array" }
            }),
        ),
    );
    m.insert("Indicator".into(), object(&["id", "kind", "value", "fraud_type", "confidence", "source", "status"], json!({
            "id": id(), "kind": kind(), "value": s(), "fraud_type": fraud(), "confidence": int(), "source": s(),
            "status": status(), "valid_from": ts(), "valid_until": nullable("integer"), "first_seen": ts(), "last_seen": ts(),
            "sightings": id(), "tags": strings(), "description": s(), "notes": s(), "external_id": nullable("string"),
            "created_by": id(), "created_at": ts(), "updated_at": ts(), "version": id()
        })));
    m.insert("IndicatorPage".into(), page_of("Indicator"));
    m.insert("IndicatorForm".into(), object(&["value"], json!({
            "kind": kind(), "value": s(), "fraud_type": fraud(), "confidence": int(),
            "source": { "type": "string", "description": "analyst (default), upper_push, case or feed:<name>" },
            "status": codes(&["pending", "confirmed"]), "valid_from": ts(), "valid_until": ts(),
            "tags": { "type": "string", "description": "Separated by `;`, `,` or `、`." }, "description": s(), "notes": s()
        })));
    m.insert("IndicatorEdit".into(), object(&["fraud_type", "confidence", "valid_from"], json!({
            "fraud_type": fraud(), "confidence": int(), "valid_from": ts(), "valid_until": nullable("integer"),
            "tags": s(), "description": s(), "notes": s(), "external_id": nullable("string"), "expected_version": nullable("integer")
        })));
    m.insert("IndicatorDetail".into(), object(&["indicator", "live", "history"], json!({
            "indicator": r("Indicator"), "live": { "type": "boolean" }, "history": list_of("AuditEntry"),
            "same_value": list_of("Indicator"), "disposals": list_of("Disposal"), "reports": { "type": "array" }
        })));
    m.insert("BulkRequest".into(), object(&["ids", "action"], json!({
            "ids": { "type": "array", "items": id() }, "action": codes(&["confirm", "revoke", "extend", "dispose"]),
            "reason": { "type": "string", "description": "Required to revoke." },
            "valid_until": { "type": "integer", "description": "extend: the new end (ms)" },
            "days": { "type": "integer", "description": "extend: days from now (1–3650)" }
        })));
    m.insert("BulkResult".into(), object(&["changed", "unchanged", "refused", "not_found"], json!({
            "changed": { "type": "array", "items": id() }, "unchanged": { "type": "array", "items": id() },
            "refused": { "type": "array", "description": "[id, status] pairs the action does not apply to" },
            "not_found": { "type": "array", "items": id() }
        })));
    m.insert("AllowEntry".into(), object(&["id", "kind", "value"], json!({
            "id": id(), "kind": kind(), "value": s(), "note": s(), "builtin": { "type": "boolean" }, "created_by": id(), "created_at": ts()
        })));
    m.insert("AllowPage".into(), page_of("AllowEntry"));
    m.insert(
        "AllowForm".into(),
        object(&["value"], json!({ "kind": kind(), "value": s(), "note": s() })),
    );
    m.insert(
        "AllowAdded".into(),
        object(
            &["id", "kind", "value", "covered_indicators"],
            json!({
                "id": id(), "kind": kind(), "value": s(), "covered_indicators": int()
            }),
        ),
    );
    m.insert("IntelImportReport".into(), object(&["job_id", "added", "updated", "unchanged", "rejected"], json!({
            "job_id": id(), "file_name": s(), "format": s(), "source": s(), "lines": int(), "values": int(),
            "added": int(), "updated": int(), "unchanged": int(), "kept_revoked": int(), "duplicate_lines": int(),
            "allowlisted": { "type": "array", "items": object(&["line", "kind", "value", "entry"], json!({
                "line": int(), "kind": kind(), "value": s(), "entry": s(), "note": s(), "builtin": { "type": "boolean" } })) },
            "skipped_lines": { "type": "object", "description": "Lines without a value, by reason (blank, comment, header…)" },
            "rejected": { "type": "array", "items": object(&["line", "reason"], json!({ "line": int(), "reason": s(), "code": s(), "excerpt": s() })) },
            "rejected_by_reason": { "type": "object" }, "allowlist_candidates": { "type": "array" }, "notes": int()
        })));
    m.insert("ImportJob".into(), object(&["id", "source_name", "format", "file_name"], json!({
            "id": id(), "source_name": s(), "format": s(), "file_name": s(), "lines": id(), "added": id(), "updated": id(),
            "unchanged": id(), "skipped": id(), "rejected": id(), "created_by": id(), "created_at": ts(),
            "report": { "type": ["object", "string", "null"] }
        })));
    m.insert("ImportJobPage".into(), page_of("ImportJob"));
    let rstatus = || codes(&["new", "accepted", "rejected", "allowlisted"]);
    m.insert("Report".into(), object(&["id", "reference", "kind", "value", "status"], json!({
            "id": id(), "reference": s(), "kind": kind(), "value": s(), "fraud_type": nullable("string"), "description": s(),
            "contact_masked": nullable("string"), "status": rstatus(), "indicator_id": nullable("integer"),
            "review_note": s(), "reviewed_by": nullable("integer"), "created_at": ts(), "updated_at": ts()
        })));
    m.insert("ReportPage".into(), page_of("Report"));
    m.insert("ReportReview".into(), object(&["status"], json!({
            "status": codes(&["accepted", "rejected"]), "note": s(), "indicator": codes(&["keep", "confirm", "revoke"])
        })));
    m.insert(
        "RevealContact".into(),
        object(&["contact"], json!({ "contact": s() })),
    );
    let targets = || codes(&["operator", "bank", "platform", "registrar"]);
    let dstatus = || codes(&["requested", "in_progress", "done", "rejected"]);
    m.insert("Disposal".into(), object(&["id", "target", "target_name", "status"], json!({
            "id": id(), "indicator_ids": { "type": "array", "items": id() }, "filter_description": s(), "target": targets(),
            "target_name": s(), "request_note": s(), "status": dstatus(), "result": s(), "requested_by": id(),
            "requested_at": ts(), "updated_at": ts(), "version": id()
        })));
    m.insert("DisposalPage".into(), page_of("Disposal"));
    m.insert("DisposalForm".into(), object(&["target", "target_name"], json!({
            "indicator_ids": { "type": "array", "items": id() }, "filter_description": s(), "target": targets(),
            "target_name": s(), "request_note": s()
        })));
    m.insert(
        "DisposalUpdate".into(),
        object(
            &["status"],
            json!({
                "status": dstatus(), "result": s(), "expected_version": nullable("integer")
            }),
        ),
    );
    m.insert(
        "PublicCheck".into(),
        object(
            &["kind", "verdict", "fraud_types", "message"],
            json!({
                "kind": kind(), "verdict": verdict(), "fraud_types": strings(), "message": s()
            }),
        ),
    );
    m.insert("PublicReportForm".into(), object(&["value"], json!({
            "kind": kind(), "value": s(), "fraud_type": fraud(), "description": s(),
            "contact": { "type": ["string", "null"], "description": "A phone number to call the reporter back on (optional)." }
        })));
    m.insert(
        "ReportReceipt".into(),
        object(
            &["reference", "kind"],
            json!({ "reference": s(), "kind": kind() }),
        ),
    );
    m.insert(
        "PublicReportStatus".into(),
        object(
            &["reference", "status", "message"],
            json!({
                "reference": s(), "status": rstatus(), "message": s()
            }),
        ),
    );
}
