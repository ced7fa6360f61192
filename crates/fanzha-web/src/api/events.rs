//! Events in: `POST /events`, one NDJSON batch per request.

use super::openapi::{Doc, r};
use super::{Endpoints, M, err};
use crate::auth::Api;
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fanzha_app::AppError;
use fanzha_core::roles::Action;
use serde_json::json;

pub(super) fn add(e: Endpoints) -> Endpoints {
    e.add(
        M::Post,
        "/events",
        Doc::new(
            "detection",
            "Send events as NDJSON (one event per line, see the event format). Each line is checked on its own: \
             bad lines are listed with their number and reason, good lines are stored. The reply comes after the \
             accepted events are durable; an event sent again (same source and id) counts as a duplicate. A body \
             larger than the configured batch limit is refused with 413.",
        )
        .raw_body(&["application/x-ndjson"])
        .ok(200, r("IngestReport")),
        ingest,
    )
}

async fn ingest(State(st): State<AppState>, Api(ctx, actor): Api, body: Body) -> Response {
    // Refuse before reading a body the caller may not send.
    if let Err(e) = st.app.gate(&actor, Action::IngestEvents) {
        return err(&ctx, e);
    }
    // The batch limit, and never more than the server takes in one body.
    let limit = st.app.config().detect.max_batch_bytes.min(st.cfg.max_body_bytes);
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return err(&ctx, AppError::TooLarge { limit }),
    };
    match st.app.ingest_ndjson(&actor, &bytes).await {
        Ok(rep) => axum::Json(json!({
            "accepted": rep.accepted,
            "duplicates": rep.duplicates,
            "rejected": rep.rejected,
            "first_seq": rep.first_seq,
            "last_seq": rep.last_seq,
        }))
        .into_response(),
        Err(e) => err(&ctx, e),
    }
}
