//! The residents registry (人口信息): list with search and filters, detail
//! with audited reveal of full values, create, edit, delete, import and
//! export. Every read and write goes through the app's permission gate; a
//! resident outside the user's scope is "not found".

use super::common::{
    NodeOpt, Signed, back_to_record, clip, err_text, fail, flash, grid_options, is_form_error, node_options,
    opt_num, query_prefix, size_text, status_of,
};
use crate::auth::Ctx;
use crate::error::{Form, Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fanzha_app::residents::{ResidentEdit, ResidentForm, ResidentQuery, ResidentView, RevealField};
use fanzha_app::table::TableFormat;
use fanzha_app::{Actor, AppError};
use fanzha_core::i18n::{Lang, Msg, tr};
use fanzha_core::roles::Action;
use fanzha_core::time::Date;
use fanzha_core::{NodeId, ResidentId};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};

/// Rows per page of the list.
const PER_PAGE: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/residents", get(list))
        .route("/residents/new", get(new_page).post(create))
        .route("/residents/export", get(export))
        .route("/residents/import", get(import_page).post(import))
        .route("/residents/import/template.csv", get(import_template))
        .route("/residents/{id}", get(detail))
        .route(
            "/residents/{id}/reveal",
            back_to_record("/residents").post(reveal),
        )
        .route("/residents/{id}/edit", get(edit_page).post(update))
        .route(
            "/residents/{id}/delete",
            back_to_record("/residents").post(delete),
        )
}

fn forbidden(action: Action) -> AppError {
    AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", action.code()))
}

// ---- list and export ----

/// The list's search and filters as typed, kept as text so that bad input
/// is reported and shown again instead of failing the page.
#[derive(Deserialize, Default, Clone)]
struct ListQ {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    age_min: Option<String>,
    #[serde(default)]
    age_max: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

impl ListQ {
    fn parse(&self) -> Result<ResidentQuery, AppError> {
        let age = |s: Option<&str>, key: &str| -> Result<Option<u32>, AppError> {
            let a = opt_num::<u32>(s, key)?;
            if a.is_some_and(|a| a > 150) {
                return Err(AppError::invalid("resident.age_range"));
            }
            Ok(a)
        };
        let age_min = age(self.age_min.as_deref(), "resident.age_min")?;
        let age_max = age(self.age_max.as_deref(), "resident.age_max")?;
        if let (Some(lo), Some(hi)) = (age_min, age_max)
            && lo > hi
        {
            return Err(AppError::invalid("resident.age_order"));
        }
        let page = opt_num::<usize>(self.page.as_deref(), "pages.page")?;
        if page.is_some_and(|p| p == 0 || p > 1_000_000) {
            return Err(AppError::Invalid(
                Msg::new("pages.bad_number").arg("field", "pages.page"),
            ));
        }
        Ok(ResidentQuery {
            q: self
                .q
                .as_deref()
                .map(|s| clip(s.trim(), 100))
                .filter(|s| !s.is_empty()),
            node: opt_num::<i64>(self.node.as_deref(), "org.node")?.map(NodeId),
            tag: self
                .tag
                .as_deref()
                .map(|s| clip(s.trim(), 40))
                .filter(|s| !s.is_empty()),
            age_min,
            age_max,
            page,
            per_page: Some(PER_PAGE),
        })
    }

    /// The filters as a query string (without page), for pager and export links.
    fn filters(&self) -> String {
        let v = |o: &Option<String>, n: usize| clip(o.as_deref().unwrap_or(""), n);
        query_prefix(&[
            ("q", &v(&self.q, 100)),
            ("node", &v(&self.node, 20)),
            ("tag", &v(&self.tag, 40)),
            ("age_min", &v(&self.age_min, 5)),
            ("age_max", &v(&self.age_max, 5)),
        ])
    }
}

#[derive(Serialize)]
struct Row {
    id: i64,
    name: String,
    id_masked: String,
    phone: Option<String>,
    sex: Option<&'static str>,
    age: Option<i32>,
    grid: String,
    tags: Vec<String>,
}

async fn list(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<ListQ>) -> Response {
    if !actor.can(Action::ViewResidents) {
        return fail(&ctx, forbidden(Action::ViewResidents));
    }
    let tree = match st.app.org_nodes(&actor).await {
        Ok(t) => t,
        Err(e) => return fail(&ctx, e),
    };
    let today = Date::from_timestamp(st.app.now());
    // Grids are named with their village: grid names repeat across villages.
    let grid_names: std::collections::HashMap<i64, String> = node_options(&tree)
        .into_iter()
        .map(|o| {
            let parts: Vec<&str> = o.trail.split(" / ").collect();
            (o.id, parts[parts.len().saturating_sub(2)..].join(" "))
        })
        .collect();
    let (result, error) = match q.parse() {
        Ok(query) => match st.app.residents(&actor, &query).await {
            Ok(p) => (Some(p), None),
            // A node filter outside the scope is bad input here, not a missing page.
            Err(AppError::NotFound(m)) => (None, Some(AppError::Invalid(m))),
            Err(e) if is_form_error(&e) => (None, Some(e)),
            Err(e) => return fail(&ctx, e),
        },
        Err(e) => (None, Some(e)),
    };
    let rows: Vec<Row> = result
        .as_ref()
        .map(|p| {
            p.items
                .iter()
                .map(|r| Row {
                    id: r.id.0,
                    name: r.name.clone(),
                    id_masked: r.id_masked.clone(),
                    phone: r.phone_masked.clone(),
                    sex: r.sex.map(|s| s.code()),
                    age: r.birth_date.map(|b| b.age_on(today)),
                    grid: grid_names
                        .get(&r.grid_id.0)
                        .cloned()
                        .unwrap_or_else(|| r.grid_name.clone()),
                    tags: r.tags.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let filters = q.filters();
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        &st,
        &ctx,
        "residents.html",
        context! {
            rows => Serde(&rows),
            total => result.as_ref().map(|p| p.total).unwrap_or(0),
            page_no => result.as_ref().map(|p| p.page).unwrap_or(1),
            pages => result.as_ref().map(|p| p.pages()).unwrap_or(1),
            pager_base => format!("/residents?{filters}"),
            export_query => filters,
            nodes => Serde(node_options(&tree)),
            f => context! {
                q => clip(q.q.as_deref().unwrap_or(""), 100),
                node => clip(q.node.as_deref().unwrap_or(""), 20),
                tag => clip(q.tag.as_deref().unwrap_or(""), 40),
                age_min => clip(q.age_min.as_deref().unwrap_or(""), 5),
                age_max => clip(q.age_max.as_deref().unwrap_or(""), 5),
            },
            can_edit => actor.can(Action::EditResidents),
            can_import => actor.can(Action::ImportResidents),
            can_export => actor.can(Action::ExportResidents),
            flash => flash(&ctx, q.ok.as_deref()),
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn export(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<ListQ>) -> Response {
    let format = match q.format.as_deref().map(str::trim) {
        Some("csv") | None | Some("") => TableFormat::Csv,
        Some("xlsx") => TableFormat::Xlsx,
        Some(_) => return fail(&ctx, AppError::invalid("resident.export_bad_format")),
    };
    let query = match q.parse() {
        Ok(mut x) => {
            x.page = None;
            x.per_page = None;
            x
        }
        Err(e) => return fail(&ctx, e),
    };
    let bytes = match st.app.export_residents(&actor, &query, format).await {
        Ok(b) => b,
        Err(AppError::NotFound(m)) => return fail(&ctx, AppError::Invalid(m)),
        Err(e) => return fail(&ctx, e),
    };
    let today = Date::from_timestamp(st.app.now());
    let (ctype, ext) = match format {
        TableFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        TableFormat::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    let name = format!(
        "residents-{:04}{:02}{:02}.{ext}",
        today.year, today.month, today.day
    );
    (
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

// ---- detail and reveal ----

#[derive(Deserialize, Default)]
struct OkQ {
    ok: Option<String>,
}

/// One value shown in full after a reveal.
#[derive(Default)]
struct Revealed {
    id_number: Option<String>,
    phone: Option<(usize, String)>,
    contact: Option<(i64, String)>,
}

impl Revealed {
    fn any(&self) -> bool {
        self.id_number.is_some() || self.phone.is_some() || self.contact.is_some()
    }
}

fn sex_code(v: &ResidentView) -> Option<&'static str> {
    v.sex.map(|s| s.code())
}

async fn detail(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Query(q): Query<OkQ>,
) -> Response {
    render_detail(
        &st,
        &ctx,
        &actor,
        ResidentId(id),
        Revealed::default(),
        flash(&ctx, q.ok.as_deref()),
    )
    .await
}

async fn render_detail(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    id: ResidentId,
    revealed: Revealed,
    flash_msg: Option<String>,
) -> Response {
    let v = match st.app.resident(actor, id).await {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let phones: Vec<Value> = v
        .phones
        .iter()
        .enumerate()
        .map(|(i, masked)| {
            let full = revealed.phone.as_ref().filter(|(j, _)| *j == i).map(|(_, p)| p.clone());
            context! { index => i, value => full.clone().unwrap_or_else(|| masked.clone()), full => full.is_some() }
        })
        .collect();
    let mut contacts = Vec::new();
    for c in &v.contacts {
        // A relative with their own record: link it, by name when in scope.
        let linked_name = match c.linked_resident_id {
            Some(rid) => st.app.resident(actor, rid).await.ok().map(|r| r.name),
            None => None,
        };
        let full = revealed
            .contact
            .as_ref()
            .filter(|(j, _)| *j == c.id)
            .map(|(_, p)| p.clone());
        contacts.push(context! {
            id => c.id,
            relation => c.relation.clone(),
            name => if c.name.is_empty() { linked_name.clone().unwrap_or_default() } else { c.name.clone() },
            phone => full.clone().or_else(|| c.phone.clone()),
            phone_full => full.is_some(),
            linked_id => c.linked_resident_id.map(|r| r.0),
            linked_visible => linked_name.is_some(),
        });
    }
    let html = page(
        st,
        ctx,
        "resident.html",
        context! {
            r => context! {
                id => v.id.0,
                name => v.name.clone(),
                id_number => revealed.id_number.clone().unwrap_or_else(|| v.id_number.clone()),
                id_full => revealed.id_number.is_some(),
                sex => sex_code(&v),
                birth => v.birth_date.map(|d| d.to_string()),
                age => v.age,
                address => v.address.clone(),
                grid_id => v.grid_id.0,
                trail => v.grid_trail.join(" / "),
                tags => v.tags.clone(),
                updated_at => v.updated_at.0,
            },
            phones => phones,
            contacts => contacts,
            revealed => revealed.any(),
            can_reveal_id => actor.can(Action::RevealIdNumber),
            can_reveal_phone => actor.can(Action::RevealPhone),
            can_edit => actor.can(Action::EditResidents),
            flash => flash_msg,
        },
    );
    html.into_response()
}

#[derive(Deserialize, Default)]
struct RevealForm {
    #[serde(default)]
    field: String,
    #[serde(default)]
    index: String,
}

impl RevealForm {
    fn parse(&self) -> Result<RevealField, AppError> {
        match self.field.as_str() {
            "id_number" => Ok(RevealField::IdNumber),
            "phone" => opt_num::<usize>(Some(&self.index), "resident.phones")?
                .map(RevealField::Phone)
                .ok_or_else(|| AppError::invalid("resident.reveal_bad_field")),
            "contact_phone" => opt_num::<i64>(Some(&self.index), "resident.contacts")?
                .map(RevealField::ContactPhone)
                .ok_or_else(|| AppError::invalid("resident.reveal_bad_field")),
            _ => Err(AppError::invalid("resident.reveal_bad_field")),
        }
    }
}

/// Shows one full value on the re-rendered page. The value is never put in
/// a cookie or a URL; the app writes the reveal to the audit log.
async fn reveal(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<RevealForm>,
) -> Response {
    let field = match f.parse() {
        Ok(x) => x,
        Err(e) => return fail(&ctx, e),
    };
    let value = match st.app.reveal(&actor, ResidentId(id), field).await {
        Ok(v) => v,
        Err(e) => return fail(&ctx, e),
    };
    let revealed = match field {
        RevealField::IdNumber => Revealed {
            id_number: Some(value),
            ..Default::default()
        },
        RevealField::Phone(i) => Revealed {
            phone: Some((i, value)),
            ..Default::default()
        },
        RevealField::ContactPhone(c) => Revealed {
            contact: Some((c, value)),
            ..Default::default()
        },
    };
    let mut r = render_detail(&st, &ctx, &actor, ResidentId(id), revealed, None).await;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

// ---- create, edit, delete ----

/// The resident form as typed.
#[derive(Deserialize, Default, Serialize, Clone)]
struct ResidentInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    phones: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    grid_id: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    contacts: String,
    #[serde(default)]
    expected_version: String,
    /// Edit only: remove every stored phone / contact.
    #[serde(default)]
    clear_phones: Option<String>,
    #[serde(default)]
    clear_contacts: Option<String>,
}

impl ResidentInput {
    fn grid(&self) -> Result<NodeId, AppError> {
        opt_num::<i64>(Some(&self.grid_id), "resident.grid")?
            .map(NodeId)
            .ok_or_else(|| AppError::invalid("resident.grid_required"))
    }

    fn to_create(&self) -> Result<ResidentForm, AppError> {
        Ok(ResidentForm {
            name: self.name.clone(),
            id_number: self.id_number.clone(),
            phones: self.phones.clone(),
            address: self.address.clone(),
            grid_id: self.grid()?,
            tags: self.tags.clone(),
            contacts: self.contacts.clone(),
            expected_version: None,
        })
    }

    /// Blank sealed fields keep their stored values; the clear boxes empty them.
    fn to_edit(&self) -> Result<ResidentEdit, AppError> {
        let keep_or = |v: &str, clear: bool| {
            if clear {
                Some(String::new())
            } else if v.trim().is_empty() {
                None
            } else {
                Some(v.to_string())
            }
        };
        Ok(ResidentEdit {
            name: self.name.clone(),
            address: self.address.clone(),
            grid_id: self.grid()?,
            tags: self.tags.clone(),
            id_number: keep_or(&self.id_number, false),
            phones: keep_or(&self.phones, self.clear_phones.is_some()),
            contacts: keep_or(&self.contacts, self.clear_contacts.is_some()),
            expected_version: opt_num::<i64>(Some(&self.expected_version), "resident.version")?,
        })
    }

    fn clipped(&self) -> ResidentInput {
        ResidentInput {
            name: clip(&self.name, 60),
            id_number: clip(&self.id_number, 30),
            phones: clip(&self.phones, 300),
            address: clip(&self.address, 300),
            grid_id: clip(&self.grid_id, 20),
            tags: clip(&self.tags, 500),
            contacts: clip(&self.contacts, 1000),
            expected_version: clip(&self.expected_version, 20),
            clear_phones: self.clear_phones.as_ref().map(|_| "on".into()),
            clear_contacts: self.clear_contacts.as_ref().map(|_| "on".into()),
        }
    }
}

async fn render_form(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    current: Option<&ResidentView>,
    input: &ResidentInput,
    error: Option<AppError>,
) -> Response {
    if !actor.can(Action::EditResidents) {
        return fail(ctx, forbidden(Action::EditResidents));
    }
    let tree = match st.app.org_nodes(actor).await {
        Ok(t) => t,
        Err(e) => return fail(ctx, e),
    };
    let grids: Vec<NodeOpt> = grid_options(&tree);
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "resident_form.html",
        context! {
            current => current.map(|v| context! {
                id => v.id.0,
                name => v.name.clone(),
                id_number => v.id_number.clone(),
                phones => v.phones.clone(),
                contacts => v.contacts.iter().map(|c| format!("{}:{}:{}", c.relation, c.name, c.phone.clone().unwrap_or_default())).collect::<Vec<_>>(),
            }),
            f => Serde(input.clipped()),
            grids => Serde(&grids),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn new_page(State(st): State<AppState>, Signed(ctx, actor): Signed) -> Response {
    let tree = st.app.org_nodes(&actor).await.unwrap_or_default();
    // A grid worker bound to one grid gets it preselected.
    let grids = grid_options(&tree);
    let input = ResidentInput {
        grid_id: if grids.len() == 1 {
            grids[0].id.to_string()
        } else {
            String::new()
        },
        ..Default::default()
    };
    render_form(&st, &ctx, &actor, None, &input, None).await
}

async fn create(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<ResidentInput>,
) -> Response {
    if !actor.can(Action::EditResidents) {
        return fail(&ctx, forbidden(Action::EditResidents));
    }
    let result = match f.to_create() {
        Ok(form) => st.app.create_resident(&actor, &form).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/residents/{id}?ok=created")).into_response(),
        Err(e) if is_form_error(&e) => render_form(&st, &ctx, &actor, None, &f, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

async fn edit_page(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    let v = match st.app.resident(&actor, ResidentId(id)).await {
        Ok(v) => v,
        Err(e) => return fail(&ctx, e),
    };
    let input = ResidentInput {
        name: v.name.clone(),
        address: v.address.clone(),
        grid_id: v.grid_id.0.to_string(),
        tags: v.tags.join("、"),
        expected_version: v.version.to_string(),
        ..Default::default()
    };
    render_form(&st, &ctx, &actor, Some(&v), &input, None).await
}

async fn update(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<ResidentInput>,
) -> Response {
    // Out of scope is "not found" before anything else is said about the input.
    let v = match st.app.resident(&actor, ResidentId(id)).await {
        Ok(v) => v,
        Err(e) => return fail(&ctx, e),
    };
    if !actor.can(Action::EditResidents) {
        return fail(&ctx, forbidden(Action::EditResidents));
    }
    let result = match f.to_edit() {
        Ok(edit) => st.app.edit_resident(&actor, ResidentId(id), &edit).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/residents/{id}?ok=saved")).into_response(),
        Err(e) if is_form_error(&e) => render_form(&st, &ctx, &actor, Some(&v), &f, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

async fn delete(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    match st.app.delete_resident(&actor, ResidentId(id)).await {
        Ok(()) => Redirect::to("/residents?ok=deleted").into_response(),
        Err(e) => fail(&ctx, e),
    }
}

// ---- import ----

fn column_label(lang: Lang, column: &str) -> String {
    let key = match column {
        "name" => "resident.name",
        "id_number" => "resident.id_number",
        "phones" => "resident.phones",
        "address" => "resident.address",
        "grid" => "resident.grid",
        "tags" => "resident.tags",
        "contacts" => "resident.contacts",
        "" => return "—".to_string(),
        other => return other.to_string(),
    };
    tr(lang, key).to_string()
}

async fn render_import(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    default_grid: &str,
    report: Option<Value>,
    error: Option<AppError>,
) -> Response {
    if !actor.can(Action::ImportResidents) {
        return fail(ctx, forbidden(Action::ImportResidents));
    }
    let tree = match st.app.org_nodes(actor).await {
        Ok(t) => t,
        Err(e) => return fail(ctx, e),
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "resident_import.html",
        context! {
            grids => Serde(grid_options(&tree)),
            default_grid => clip(default_grid, 20),
            max_size => size_text(st.app.config().max_upload_bytes),
            report => report,
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn import_page(State(st): State<AppState>, Signed(ctx, actor): Signed) -> Response {
    render_import(&st, &ctx, &actor, "", None, None).await
}

struct Upload {
    file_name: Option<String>,
    bytes: Vec<u8>,
    default_grid: String,
}

async fn read_upload(mp: Result<Multipart, MultipartRejection>, limit: usize) -> Result<Upload, AppError> {
    let mut mp = mp.map_err(|_| AppError::invalid("resident.import_bad_upload"))?;
    let mut up = Upload {
        file_name: None,
        bytes: Vec::new(),
        default_grid: String::new(),
    };
    let too_large =
        |e: &axum::extract::multipart::MultipartError| e.status() == StatusCode::PAYLOAD_TOO_LARGE;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if too_large(&e) => return Err(AppError::TooLarge { limit }),
            Err(_) => return Err(AppError::invalid("resident.import_bad_upload")),
        };
        match field.name() {
            Some("file") => {
                up.file_name = field.file_name().map(|n| clip(n, 200));
                up.bytes = match field.bytes().await {
                    Ok(b) => b.to_vec(),
                    Err(e) if too_large(&e) => return Err(AppError::TooLarge { limit }),
                    Err(_) => return Err(AppError::invalid("resident.import_bad_upload")),
                };
            }
            Some("default_grid") => {
                up.default_grid = match field.text().await {
                    Ok(t) => clip(&t, 20),
                    Err(_) => return Err(AppError::invalid("resident.import_bad_upload")),
                };
            }
            _ => {}
        }
    }
    Ok(up)
}

#[derive(Serialize)]
struct RejectedRow {
    row: usize,
    column: String,
    reason: String,
}

async fn import(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    if !actor.can(Action::ImportResidents) {
        return fail(&ctx, forbidden(Action::ImportResidents));
    }
    let limit = st.app.config().max_upload_bytes;
    let up = match read_upload(mp, limit).await {
        Ok(u) => u,
        Err(e) => return render_import(&st, &ctx, &actor, "", None, Some(e)).await,
    };
    let grid = match opt_num::<i64>(Some(&up.default_grid), "resident.default_grid") {
        Ok(g) => g.map(NodeId),
        Err(e) => return render_import(&st, &ctx, &actor, &up.default_grid, None, Some(e)).await,
    };
    if up.bytes.is_empty() {
        let e = AppError::invalid("resident.import_no_file");
        return render_import(&st, &ctx, &actor, &up.default_grid, None, Some(e)).await;
    }
    match st
        .app
        .import_residents(&actor, up.file_name.as_deref(), &up.bytes, grid)
        .await
    {
        Ok(rep) => {
            let rejected: Vec<RejectedRow> = rep
                .rejected
                .iter()
                .map(|r| RejectedRow {
                    row: r.row,
                    column: column_label(ctx.lang, &r.column),
                    reason: r.reason.render(ctx.lang),
                })
                .collect();
            let report = context! {
                file => up.file_name.clone(),
                rows => rep.rows,
                inserted => rep.inserted,
                updated => rep.updated,
                rejected => Serde(&rejected),
            };
            render_import(&st, &ctx, &actor, &up.default_grid, Some(report), None).await
        }
        Err(e) if is_form_error(&e) => {
            render_import(&st, &ctx, &actor, &up.default_grid, None, Some(e)).await
        }
        Err(e) => fail(&ctx, e),
    }
}

/// A CSV with the header row the importer reads and one example row. The
/// example names a grid that does not exist, so importing the template
/// unchanged adds nobody.
async fn import_template(Signed(ctx, actor): Signed) -> Response {
    if !actor.can(Action::ImportResidents) {
        return fail(&ctx, forbidden(Action::ImportResidents));
    }
    let example = tr(ctx.lang, "resident.template_example");
    let mut body = String::from("\u{feff}姓名,身份证号,手机号,住址,网格,标签,联系人\r\n");
    let row = [
        example,
        "11010519491231002X",
        "13800138000",
        tr(ctx.lang, "resident.template_address"),
        tr(ctx.lang, "resident.template_grid"),
        tr(ctx.lang, "resident.template_tags"),
        tr(ctx.lang, "resident.template_contacts"),
    ];
    let cells: Vec<String> = row
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                (*c).to_string()
            }
        })
        .collect();
    body.push_str(&cells.join(","));
    body.push_str("\r\n");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"residents-template.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_checks_numbers() {
        let q = ListQ {
            age_min: Some("abc".into()),
            ..Default::default()
        };
        assert!(matches!(q.parse(), Err(AppError::Invalid(m)) if m.key == "pages.bad_number"));
        let q = ListQ {
            age_min: Some("70".into()),
            age_max: Some("60".into()),
            ..Default::default()
        };
        assert!(matches!(q.parse(), Err(AppError::Invalid(m)) if m.key == "resident.age_order"));
        let q = ListQ {
            age_max: Some("4000000000".into()),
            ..Default::default()
        };
        assert!(q.parse().is_err());
        let q = ListQ {
            q: Some(" 张三 ".into()),
            node: Some("12".into()),
            page: Some("2".into()),
            ..Default::default()
        };
        let p = q.parse().unwrap();
        assert_eq!(p.q.as_deref(), Some("张三"));
        assert_eq!(p.node, Some(NodeId(12)));
        assert_eq!(q.filters(), "q=%E5%BC%A0%E4%B8%89&node=12&");
    }

    #[test]
    fn edit_keeps_blank_sealed_fields() {
        let f = ResidentInput {
            name: "x".into(),
            grid_id: "4".into(),
            phones: " ".into(),
            clear_contacts: Some("on".into()),
            ..Default::default()
        };
        let e = f.to_edit().unwrap();
        assert_eq!(e.id_number, None);
        assert_eq!(e.phones, None);
        assert_eq!(e.contacts.as_deref(), Some(""));
        let f = ResidentInput {
            grid_id: "".into(),
            ..Default::default()
        };
        assert!(matches!(f.to_edit(), Err(AppError::Invalid(m)) if m.key == "resident.grid_required"));
    }

    #[test]
    fn sizes() {
        assert_eq!(size_text(20 * 1024 * 1024), "20 MB");
        assert_eq!(size_text(512 * 1024), "512 KB");
    }
}
