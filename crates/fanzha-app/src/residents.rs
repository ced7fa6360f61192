//! The residents registry (人口): search, detail, reveal, edit, import and
//! export. ID numbers and phones are sealed before they reach the store and
//! shown masked unless the role may see them; every reveal is audited.

use crate::crypto::Field;
use crate::table::{Cell, Columns, Row, TableFormat, read_table, write_csv, write_xlsx};
use crate::{Actor, App, AppError, Page, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::idcard::{IdNumber, Sex};
use fanzha_core::org::NodeKind;
use fanzha_core::roles::{Action, Role};
use fanzha_core::time::Date;
use fanzha_core::{NodeId, ResidentId, mask, phone};
use fanzha_store::{
    NewContact, NewResident, OrgNode, Resident, ResidentFilter, ResidentSummary, ResidentUpdate, Scope,
    SealedPhone, UpsertOutcome,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Largest number of phones or contacts kept per resident.
const MAX_PHONES: usize = 5;
const MAX_CONTACTS: usize = 10;
const MAX_TAGS: usize = 20;

/// Search and filters of the resident list.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResidentQuery {
    /// A name, a phone or an ID number; the kind is recognised.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub node: Option<NodeId>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub age_min: Option<u32>,
    #[serde(default)]
    pub age_max: Option<u32>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// A resident as shown: masked unless the actor may see full values.
#[derive(Clone, Debug, Serialize)]
pub struct ResidentView {
    pub id: ResidentId,
    pub name: String,
    pub id_number: String,
    pub id_number_full: bool,
    pub sex: Option<Sex>,
    pub birth_date: Option<Date>,
    pub age: Option<i32>,
    pub address: String,
    pub grid_id: NodeId,
    pub grid_trail: Vec<String>,
    pub phones: Vec<String>,
    pub phones_full: bool,
    pub tags: Vec<String>,
    pub contacts: Vec<ContactView>,
    pub version: i64,
    pub updated_at: fanzha_core::Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContactView {
    pub id: i64,
    pub relation: String,
    pub name: String,
    pub phone: Option<String>,
    pub linked_resident_id: Option<ResidentId>,
}

/// A resident as entered in a form, an API call or an import row, before
/// validation.
#[derive(Clone, Debug, Deserialize)]
pub struct ResidentForm {
    pub name: String,
    pub id_number: String,
    /// Phones separated by `;`, `,`, `、` or spaces.
    #[serde(default)]
    pub phones: String,
    #[serde(default)]
    pub address: String,
    pub grid_id: NodeId,
    /// Tags separated by `;`, `,` or `、`.
    #[serde(default)]
    pub tags: String,
    /// Contacts as `关系:姓名:电话或身份证号`, separated by `;`.
    #[serde(default)]
    pub contacts: String,
    #[serde(default)]
    pub expected_version: Option<i64>,
}

/// An edit of a resident in which the sealed fields are optional: `None`
/// keeps the stored value (see [`App::edit_resident`]).
#[derive(Clone, Debug, Deserialize)]
pub struct ResidentEdit {
    pub name: String,
    #[serde(default)]
    pub address: String,
    pub grid_id: NodeId,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub phones: Option<String>,
    #[serde(default)]
    pub contacts: Option<String>,
    #[serde(default)]
    pub expected_version: Option<i64>,
}

/// Which full value to reveal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", tag = "field", content = "index")]
pub enum RevealField {
    IdNumber,
    Phone(usize),
    ContactPhone(i64),
}

/// One rejected import row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RowError {
    pub row: usize,
    pub column: String,
    pub reason: Msg,
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub inserted: usize,
    pub updated: usize,
    pub rejected: Vec<RowError>,
}

/// A resident validated and ready to seal.
#[derive(Clone, Debug)]
pub(crate) struct CleanResident {
    name: String,
    id: IdNumber,
    phones: Vec<String>,
    address: String,
    grid: NodeId,
    tags: Vec<String>,
    contacts: Vec<CleanContact>,
}

#[derive(Clone, Debug)]
struct CleanContact {
    relation: String,
    name: String,
    phone: Option<String>,
    linked: Option<IdNumber>,
    linked_id: Option<ResidentId>,
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split([';', '；', ',', '，', '、', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
}

/// A field-level validation failure: the column and the reason.
type FieldErr = (&'static str, Msg);

fn clean_name(name: &str) -> Result<String, FieldErr> {
    let n = name.trim();
    if n.is_empty() {
        return Err(("name", Msg::new("resident.name_empty")));
    }
    if n.chars().count() > 40 || n.chars().any(char::is_control) {
        return Err(("name", Msg::new("resident.name_bad")));
    }
    Ok(n.to_string())
}

fn clean_phones(s: &str) -> Result<Vec<String>, FieldErr> {
    let mut out: Vec<String> = Vec::new();
    for p in s
        .split([';', '；', ',', '，', '、', '/', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        let e164 =
            phone::normalize(p).map_err(|e| ("phones", Msg::new("resident.phone_bad").arg("detail", e)))?;
        if !out.contains(&e164) {
            out.push(e164);
        }
    }
    if out.len() > MAX_PHONES {
        return Err((
            "phones",
            Msg::new("resident.too_many_phones").arg("max", MAX_PHONES),
        ));
    }
    Ok(out)
}

fn clean_tags(s: &str) -> Result<Vec<String>, FieldErr> {
    let mut out: Vec<String> = Vec::new();
    for t in split_list(s) {
        if t.chars().count() > 20 {
            return Err(("tags", Msg::new("resident.tag_long")));
        }
        if !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(("tags", Msg::new("resident.too_many_tags").arg("max", MAX_TAGS)));
    }
    Ok(out)
}

fn clean_contacts(s: &str) -> Result<Vec<CleanContact>, FieldErr> {
    let mut out = Vec::new();
    for item in s
        .split([';', '；', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        let parts: Vec<&str> = item.split([':', '：']).map(str::trim).collect();
        let (relation, name, value) = match parts.as_slice() {
            [r, n, v] => (*r, *n, *v),
            [r, n] => (*r, *n, ""),
            _ => return Err(("contacts", Msg::new("resident.contact_format"))),
        };
        if relation.is_empty() || relation.chars().count() > 10 || name.chars().count() > 40 {
            return Err(("contacts", Msg::new("resident.contact_format")));
        }
        let mut c = CleanContact {
            relation: relation.to_string(),
            name: name.to_string(),
            phone: None,
            linked: None,
            linked_id: None,
        };
        if !value.is_empty() {
            if value.chars().count() == 18 {
                c.linked = Some(
                    IdNumber::parse(value)
                        .map_err(|e| ("contacts", Msg::new("resident.contact_bad_id").arg("detail", e)))?,
                );
            } else {
                c.phone = Some(
                    phone::normalize(value)
                        .map_err(|e| ("contacts", Msg::new("resident.phone_bad").arg("detail", e)))?,
                );
            }
        }
        out.push(c);
    }
    if out.len() > MAX_CONTACTS {
        return Err((
            "contacts",
            Msg::new("resident.too_many_contacts").arg("max", MAX_CONTACTS),
        ));
    }
    Ok(out)
}

fn clean_id(s: &str) -> Result<IdNumber, FieldErr> {
    IdNumber::parse(s).map_err(|e| ("id_number", Msg::new("resident.id_bad").arg("detail", e)))
}

fn clean_address(s: &str) -> Result<String, FieldErr> {
    let a = s.trim();
    if a.chars().count() > 200 {
        return Err(("address", Msg::new("resident.address_long")));
    }
    Ok(a.to_string())
}

impl ResidentForm {
    fn clean(&self) -> Result<CleanResident, FieldErr> {
        Ok(CleanResident {
            name: clean_name(&self.name)?,
            id: clean_id(&self.id_number)?,
            phones: clean_phones(&self.phones)?,
            address: clean_address(&self.address)?,
            grid: self.grid_id,
            tags: clean_tags(&self.tags)?,
            contacts: clean_contacts(&self.contacts)?,
        })
    }
}

fn field_error((column, reason): FieldErr) -> AppError {
    AppError::Invalid(
        Msg::new("resident.field_error")
            .arg("column", column)
            .arg_msg("reason", reason),
    )
}

/// Header aliases of the import and export columns.
pub const COLUMNS: &[(&str, &[&str])] = &[
    ("name", &["姓名"]),
    (
        "id_number",
        &["身份证号", "身份证号码", "公民身份号码", "证件号码", "id"],
    ),
    ("phones", &["手机号", "手机号码", "电话", "联系电话", "phone"]),
    ("address", &["住址", "地址", "现住址", "居住地址"]),
    ("grid", &["网格", "所属网格", "grid_id"]),
    ("tags", &["标签", "人员标签", "人员类别"]),
    ("contacts", &["联系人", "紧急联系人", "亲属", "亲属联系人"]),
];

impl App {
    fn seal_phone(&self, e164: &str) -> Result<SealedPhone> {
        Ok(SealedPhone {
            enc: self.cipher.seal(Field::Phone, e164)?,
            bidx: self.cipher.blind_index(Field::Phone, e164),
            masked: mask::phone(e164),
        })
    }

    fn seal(&self, r: &CleanResident) -> Result<NewResident> {
        let mut contacts = Vec::with_capacity(r.contacts.len());
        for c in &r.contacts {
            contacts.push(NewContact {
                relation: c.relation.clone(),
                linked_resident_id: c.linked_id,
                name: c.name.clone(),
                phone: c.phone.as_deref().map(|p| self.seal_phone(p)).transpose()?,
            });
        }
        Ok(NewResident {
            grid_id: r.grid,
            name: r.name.clone(),
            id_enc: self.cipher.seal(Field::IdNumber, r.id.as_str())?,
            id_bidx: self.cipher.blind_index(Field::IdNumber, r.id.as_str()),
            id_masked: mask::id_number(r.id.as_str()),
            birth_date: Some(r.id.birth_date()),
            sex: Some(r.id.sex()),
            address: r.address.clone(),
            phones: r
                .phones
                .iter()
                .map(|p| self.seal_phone(p))
                .collect::<Result<_>>()?,
            tags: r.tags.clone(),
            contacts,
        })
    }

    /// Fills `linked_id` of contacts given by ID number, from the registry.
    async fn link_contacts(&self, r: &mut CleanResident) -> Result<()> {
        for c in &mut r.contacts {
            if let Some(id) = &c.linked {
                let bidx = self.cipher.blind_index(Field::IdNumber, id.as_str());
                c.linked_id = self
                    .store
                    .resident_by_id_bidx(&Scope::All, &bidx)
                    .await?
                    .map(|x| x.id);
            }
        }
        Ok(())
    }

    async fn grid_in(&self, scope: &Scope, id: NodeId) -> Result<OrgNode> {
        let n = self
            .node_in(scope, id)
            .await
            .map_err(|_| AppError::invalid("resident.grid_unknown"))?;
        if n.kind != NodeKind::Grid {
            return Err(AppError::invalid("resident.grid_not_grid"));
        }
        Ok(n)
    }

    pub(crate) fn filter_for(&self, q: &ResidentQuery, today: Date) -> ResidentFilter {
        let mut f = ResidentFilter {
            node: q.node,
            ..Default::default()
        };
        if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            if let Ok(id) = IdNumber::parse(text) {
                f.id_bidx = Some(self.cipher.blind_index(Field::IdNumber, id.as_str()));
            } else if text.chars().any(|c| c.is_ascii_digit())
                && let Ok(p) = phone::normalize(text)
            {
                f.phone_bidx = Some(self.cipher.blind_index(Field::Phone, &p));
            } else {
                f.name_exact = Some(text.to_string());
            }
        }
        f.tag = q.tag.clone().filter(|t| !t.trim().is_empty());
        // age_min years old or more: born on or before today minus age_min years.
        if let Some(a) = q.age_min {
            f.born_before = Date::new(today.year - a.min(200) as i32, today.month, today.day.min(28));
        }
        if let Some(a) = q.age_max {
            f.born_after = Date::new(today.year - a.min(200) as i32 - 1, today.month, today.day.min(28));
        }
        f
    }

    /// Lists residents in the actor's scope.
    pub async fn residents(&self, actor: &Actor, q: &ResidentQuery) -> Result<Page<ResidentSummary>> {
        let scope = self.gate(actor, Action::ViewResidents)?;
        if let Some(n) = q.node {
            self.node_in(&scope, n).await?;
        }
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).clamp(1, 1_000_000);
        let mut f = self.filter_for(q, Date::from_timestamp(self.now()));
        f.limit = Some(per_page);
        f.offset = (page - 1) * per_page;
        let (items, total) = self.store.list_residents(&scope, &f).await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }

    pub(crate) async fn resident_in(&self, scope: &Scope, id: ResidentId) -> Result<Resident> {
        self.store
            .get_resident(scope, id)
            .await?
            .ok_or_else(|| AppError::not_found("resident.not_found"))
    }

    /// One resident, masked as the actor's role requires.
    pub async fn resident(&self, actor: &Actor, id: ResidentId) -> Result<ResidentView> {
        let scope = self.gate(actor, Action::ViewResidents)?;
        let r = self.resident_in(&scope, id).await?;
        let trail = self
            .node_trail(r.grid_id)
            .await?
            .into_iter()
            .map(|n| n.name)
            .collect();
        let today = Date::from_timestamp(self.now());
        Ok(ResidentView {
            id: r.id,
            name: r.name,
            id_number: r.id_masked,
            id_number_full: false,
            sex: r.sex,
            birth_date: r.birth_date,
            age: r.birth_date.map(|b| b.age_on(today)),
            address: r.address,
            grid_id: r.grid_id,
            grid_trail: trail,
            phones: r.phones.into_iter().map(|p| p.masked).collect(),
            phones_full: false,
            tags: r.tags,
            contacts: r
                .contacts
                .into_iter()
                .map(|c| ContactView {
                    id: c.id,
                    relation: c.relation,
                    name: c.name,
                    phone: c.phone.map(|p| p.masked),
                    linked_resident_id: c.linked_resident_id,
                })
                .collect(),
            version: r.version,
            updated_at: r.updated_at,
        })
    }

    /// Shows one full value. The role must allow it, the resident must be in
    /// scope, and the reveal is written to the audit log (查询留痕).
    pub async fn reveal(&self, actor: &Actor, id: ResidentId, field: RevealField) -> Result<String> {
        let action = match field {
            RevealField::IdNumber => Action::RevealIdNumber,
            RevealField::Phone(_) | RevealField::ContactPhone(_) => Action::RevealPhone,
        };
        self.gate(actor, action)?;
        let scope = self.gate(actor, Action::ViewResidents)?;
        let r = self.resident_in(&scope, id).await?;
        let (value, what) = match field {
            RevealField::IdNumber => (
                self.cipher.open(Field::IdNumber, &r.id_enc)?,
                "id_number".to_string(),
            ),
            RevealField::Phone(i) => {
                let p = r
                    .phones
                    .get(i)
                    .ok_or_else(|| AppError::not_found("resident.phone_not_found"))?;
                (self.cipher.open(Field::Phone, &p.enc)?, format!("phone[{i}]"))
            }
            RevealField::ContactPhone(cid) => {
                let p = r
                    .contacts
                    .iter()
                    .find(|c| c.id == cid)
                    .and_then(|c| c.phone.as_ref())
                    .ok_or_else(|| AppError::not_found("resident.phone_not_found"))?;
                (
                    self.cipher.open(Field::Phone, &p.enc)?,
                    format!("contact_phone[{cid}]"),
                )
            }
        };
        let audit = self.audit(
            actor,
            "resident.reveal",
            format!("resident:{id}"),
            format!("field={what}"),
        );
        self.store.append_audit(&audit).await?;
        Ok(value)
    }

    async fn checked(
        &self,
        actor: &Actor,
        form: &ResidentForm,
        action: Action,
    ) -> Result<(Scope, CleanResident)> {
        let scope = self.gate(actor, action)?;
        let mut clean = form.clean().map_err(field_error)?;
        self.grid_in(&scope, clean.grid).await?;
        self.link_contacts(&mut clean).await?;
        Ok((scope, clean))
    }

    pub async fn create_resident(&self, actor: &Actor, form: &ResidentForm) -> Result<ResidentId> {
        let (_, clean) = self.checked(actor, form, Action::EditResidents).await?;
        let bidx = self.cipher.blind_index(Field::IdNumber, clean.id.as_str());
        if self
            .store
            .resident_by_id_bidx(&Scope::All, &bidx)
            .await?
            .is_some()
        {
            return Err(AppError::conflict("resident.duplicate_id"));
        }
        let new = self.seal(&clean)?;
        let audit = self.audit(actor, "resident.create", "", "");
        let id = self.store.create_resident(&new, &audit).await?;
        self.residents_changed();
        Ok(id)
    }

    pub async fn update_resident(&self, actor: &Actor, id: ResidentId, form: &ResidentForm) -> Result<()> {
        let (scope, clean) = self.checked(actor, form, Action::EditResidents).await?;
        let old = self.resident_in(&scope, id).await?;
        let bidx = self.cipher.blind_index(Field::IdNumber, clean.id.as_str());
        if bidx != old.id_bidx
            && self
                .store
                .resident_by_id_bidx(&Scope::All, &bidx)
                .await?
                .is_some()
        {
            return Err(AppError::conflict("resident.duplicate_id"));
        }
        let data = self.seal(&clean)?;
        let audit = self.audit(actor, "resident.update", format!("resident:{id}"), "");
        self.store
            .update_resident(
                id,
                &ResidentUpdate {
                    data,
                    expected_version: form.expected_version,
                },
                &audit,
            )
            .await?;
        self.residents_changed();
        Ok(())
    }

    /// Changes a resident from an edit form that shows sealed values masked:
    /// an ID number, phones or contacts left out (`None`) keep their stored
    /// values, so that editing a name or address never needs, or reveals,
    /// the full numbers. Given values replace the stored ones as in
    /// [`App::update_resident`].
    pub async fn edit_resident(&self, actor: &Actor, id: ResidentId, edit: &ResidentEdit) -> Result<()> {
        let scope = self.gate(actor, Action::EditResidents)?;
        let old = self.resident_in(&scope, id).await?;
        let name = clean_name(&edit.name).map_err(field_error)?;
        let address = clean_address(&edit.address).map_err(field_error)?;
        let tags = clean_tags(&edit.tags).map_err(field_error)?;
        self.grid_in(&scope, edit.grid_id).await?;
        let (id_enc, id_bidx, id_masked, birth_date, sex) = match edit.id_number.as_deref() {
            Some(v) => {
                let idn = clean_id(v).map_err(field_error)?;
                let bidx = self.cipher.blind_index(Field::IdNumber, idn.as_str());
                if bidx != old.id_bidx
                    && self
                        .store
                        .resident_by_id_bidx(&Scope::All, &bidx)
                        .await?
                        .is_some()
                {
                    return Err(AppError::conflict("resident.duplicate_id"));
                }
                (
                    self.cipher.seal(Field::IdNumber, idn.as_str())?,
                    bidx,
                    mask::id_number(idn.as_str()),
                    Some(idn.birth_date()),
                    Some(idn.sex()),
                )
            }
            None => (
                old.id_enc.clone(),
                old.id_bidx.clone(),
                old.id_masked.clone(),
                old.birth_date,
                old.sex,
            ),
        };
        let phones = match edit.phones.as_deref() {
            Some(v) => clean_phones(v)
                .map_err(field_error)?
                .iter()
                .map(|p| self.seal_phone(p))
                .collect::<Result<_>>()?,
            None => old.phones.clone(),
        };
        let contacts = match edit.contacts.as_deref() {
            Some(v) => {
                let mut out = Vec::new();
                for c in clean_contacts(v).map_err(field_error)? {
                    let linked_resident_id = match &c.linked {
                        Some(idn) => {
                            let bidx = self.cipher.blind_index(Field::IdNumber, idn.as_str());
                            self.store
                                .resident_by_id_bidx(&Scope::All, &bidx)
                                .await?
                                .map(|x| x.id)
                        }
                        None => None,
                    };
                    out.push(NewContact {
                        relation: c.relation,
                        linked_resident_id,
                        name: c.name,
                        phone: c.phone.as_deref().map(|p| self.seal_phone(p)).transpose()?,
                    });
                }
                out
            }
            None => old
                .contacts
                .iter()
                .map(|c| NewContact {
                    relation: c.relation.clone(),
                    linked_resident_id: c.linked_resident_id,
                    name: c.name.clone(),
                    phone: c.phone.clone(),
                })
                .collect(),
        };
        let data = NewResident {
            grid_id: edit.grid_id,
            name,
            id_enc,
            id_bidx,
            id_masked,
            birth_date,
            sex,
            address,
            phones,
            tags,
            contacts,
        };
        let audit = self.audit(actor, "resident.update", format!("resident:{id}"), "");
        self.store
            .update_resident(
                id,
                &ResidentUpdate {
                    data,
                    expected_version: edit.expected_version,
                },
                &audit,
            )
            .await?;
        self.residents_changed();
        Ok(())
    }

    pub async fn delete_resident(&self, actor: &Actor, id: ResidentId) -> Result<()> {
        let scope = self.gate(actor, Action::EditResidents)?;
        self.resident_in(&scope, id).await?;
        let audit = self.audit(actor, "resident.delete", format!("resident:{id}"), "");
        self.store.delete_resident(id, &audit).await?;
        self.residents_changed();
        Ok(())
    }

    /// Imports residents from CSV or XLSX. Every bad row is reported with its
    /// row, column and reason; every good row is stored, all in one
    /// transaction. A resident whose ID number is already registered is
    /// updated, not duplicated. Rows may name their grid by id, by
    /// `村/网格` or `乡镇/村/网格` path, or rely on `default_grid`.
    pub async fn import_residents(
        &self,
        actor: &Actor,
        file_name: Option<&str>,
        bytes: &[u8],
        default_grid: Option<NodeId>,
    ) -> Result<ImportReport> {
        let scope = self.gate(actor, Action::ImportResidents)?;
        if bytes.len() > self.cfg.max_upload_bytes {
            return Err(AppError::TooLarge {
                limit: self.cfg.max_upload_bytes,
            });
        }
        let format = TableFormat::detect(file_name, bytes);
        let table = read_table(format, bytes).map_err(|e| AppError::Invalid(e.msg()))?;
        let cols = Columns::map(&table.headers, COLUMNS);
        for required in ["name", "id_number"] {
            if !cols.has(required) {
                return Err(AppError::Invalid(
                    Msg::new("import.missing_column").arg("column", required),
                ));
            }
        }
        if !cols.has("grid") && default_grid.is_none() {
            return Err(AppError::Invalid(
                Msg::new("import.missing_column").arg("column", "grid"),
            ));
        }
        let default_grid = match default_grid {
            Some(g) => Some(self.grid_in(&scope, g).await?.id),
            None => None,
        };
        let grids = GridResolver::new(self, &scope).await?;
        let mut report = ImportReport {
            rows: table.rows.len() + table.problems.len(),
            ..Default::default()
        };
        for p in table.problems {
            report.rejected.push(RowError {
                row: p.row,
                column: p.column,
                reason: p.reason,
            });
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut good: Vec<(usize, CleanResident)> = Vec::new();
        for row in &table.rows {
            match self.import_row(&cols, row, &grids, default_grid) {
                Ok(clean) => {
                    if let Some(first) = seen.get(clean.id.as_str()) {
                        report.rejected.push(RowError {
                            row: row.number,
                            column: "id_number".into(),
                            reason: Msg::new("import.duplicate_in_file").arg("first", first),
                        });
                        continue;
                    }
                    seen.insert(clean.id.as_str().to_string(), row.number);
                    good.push((row.number, clean));
                }
                Err((column, reason)) => report.rejected.push(RowError {
                    row: row.number,
                    column: column.into(),
                    reason,
                }),
            }
        }
        // Contacts given by ID number link to residents of this file once
        // they are stored (below), or else to residents already registered.
        // Only the latter need a lookup; a row never links to itself.
        let in_file: HashMap<String, usize> = good
            .iter()
            .enumerate()
            .map(|(k, (_, c))| (c.id.as_str().to_string(), k))
            .collect();
        let mut lookups: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        for (k, (_, c)) in good.iter().enumerate() {
            for (n, ct) in c.contacts.iter().enumerate() {
                if let Some(id) = &ct.linked
                    && !in_file.contains_key(id.as_str())
                {
                    lookups.push((k, n, self.cipher.blind_index(Field::IdNumber, id.as_str())));
                }
            }
        }
        let mut found = Vec::with_capacity(lookups.len());
        for (k, n, bidx) in &lookups {
            found.push((
                *k,
                *n,
                self.store
                    .resident_by_id_bidx(&Scope::All, bidx)
                    .await?
                    .map(|x| x.id),
            ));
        }
        for (k, n, id) in found {
            if let Some(ct) = good.get_mut(k).and_then(|(_, c)| c.contacts.get_mut(n)) {
                ct.linked_id = id;
            }
        }
        let mut sealed = good
            .iter()
            .map(|(_, c)| self.seal(c))
            .collect::<Result<Vec<_>>>()?;
        if !sealed.is_empty() {
            let audit = self.audit(actor, "resident.import", "", format!("file_rows={}", report.rows));
            let outcomes = self.store.upsert_residents_batch(&sealed, &audit).await?;
            for o in &outcomes {
                match o {
                    UpsertOutcome::Inserted(_) => report.inserted += 1,
                    UpsertOutcome::Updated(_) => report.updated += 1,
                }
            }
            // Now that everyone is stored, link contacts to residents of
            // this file by their new ids, and store those rows again in one batch.
            let mut relinked = Vec::new();
            for (k, ((_, clean), data)) in good.iter().zip(sealed.iter_mut()).enumerate() {
                let mut changed = false;
                for (ct, new_ct) in clean.contacts.iter().zip(data.contacts.iter_mut()) {
                    if let Some(id) = &ct.linked
                        && let Some(&j) = in_file.get(id.as_str())
                        && j != k
                        && let Some(o) = outcomes.get(j)
                    {
                        new_ct.linked_resident_id = Some(o.id());
                        changed = true;
                    }
                }
                if changed {
                    relinked.push(data.clone());
                }
            }
            if !relinked.is_empty() {
                let audit = self.audit(
                    actor,
                    "resident.import.link",
                    "",
                    format!("linked={}", relinked.len()),
                );
                self.store.upsert_residents_batch(&relinked, &audit).await?;
            }
        }
        if report.inserted + report.updated > 0 {
            self.residents_changed();
        }
        report.rejected.sort_by_key(|e| e.row);
        tracing::info!(
            user_id = actor.user.id.0,
            rows = report.rows,
            inserted = report.inserted,
            updated = report.updated,
            rejected = report.rejected.len(),
            "resident import"
        );
        Ok(report)
    }

    fn import_row(
        &self,
        cols: &Columns,
        row: &Row,
        grids: &GridResolver,
        default_grid: Option<NodeId>,
    ) -> Result<CleanResident, FieldErr> {
        let text = |c: &str| cols.get(row, c).map(Cell::text).unwrap_or("");
        let name = clean_name(text("name"))?;
        let id = match cols.get(row, "id_number") {
            Some(Cell::Number { exact: false, .. }) => {
                return Err(("id_number", Msg::new("import.id_as_number")));
            }
            Some(c) => clean_id(c.text())?,
            None => return Err(("id_number", Msg::new("resident.id_missing"))),
        };
        let grid = match cols.get(row, "grid") {
            Some(c) => grids.resolve(c.text())?,
            None => default_grid.ok_or(("grid", Msg::new("import.grid_missing")))?,
        };
        Ok(CleanResident {
            name,
            id,
            phones: clean_phones(text("phones"))?,
            address: clean_address(text("address"))?,
            grid,
            tags: clean_tags(text("tags"))?,
            contacts: clean_contacts(text("contacts"))?,
        })
    }

    /// Exports residents in scope as CSV or XLSX. ID numbers and phones are
    /// masked unless the role may see them in full; a full export is audited
    /// as a reveal.
    pub async fn export_residents(
        &self,
        actor: &Actor,
        q: &ResidentQuery,
        format: TableFormat,
    ) -> Result<Vec<u8>> {
        let scope = self.gate(actor, Action::ExportResidents)?;
        if let Some(n) = q.node {
            self.node_in(&scope, n).await?;
        }
        let full_id = actor.can(Action::RevealIdNumber);
        let full_phone = actor.can(Action::RevealPhone);
        let f = self.filter_for(q, Date::from_timestamp(self.now()));
        let rows = self.store.export_residents(&scope, &f).await?;
        let grid_names = GridResolver::new(self, &scope).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = if full_id {
                self.cipher.open(Field::IdNumber, &r.id_enc)?
            } else {
                r.id_masked.clone()
            };
            let mut phones = Vec::new();
            for p in &r.phones {
                phones.push(if full_phone {
                    self.cipher.open(Field::Phone, &p.enc)?
                } else {
                    p.masked.clone()
                });
            }
            let mut contacts = Vec::new();
            for c in &r.contacts {
                let ph = match &c.phone {
                    Some(p) if full_phone => self.cipher.open(Field::Phone, &p.enc)?,
                    Some(p) => p.masked.clone(),
                    None => String::new(),
                };
                contacts.push(format!("{}:{}:{}", c.relation, c.name, ph));
            }
            out.push(vec![
                r.name.clone(),
                id,
                phones.join(";"),
                r.address.clone(),
                grid_names.path_of(r.grid_id),
                r.tags.join(";"),
                contacts.join(";"),
            ]);
        }
        let headers = ["姓名", "身份证号", "手机号", "住址", "网格", "标签", "联系人"];
        let detail = format!(
            "rows={} format={} full_id={} full_phone={}",
            out.len(),
            if format == TableFormat::Xlsx {
                "xlsx"
            } else {
                "csv"
            },
            full_id,
            full_phone
        );
        let audit = self.audit(
            actor,
            if full_id || full_phone {
                "resident.export.full"
            } else {
                "resident.export"
            },
            "",
            detail,
        );
        self.store.append_audit(&audit).await?;
        match format {
            TableFormat::Csv => write_csv(&headers, &out).map_err(|e| AppError::Internal(e.to_string())),
            TableFormat::Xlsx => {
                write_xlsx("residents", &headers, &out).map_err(|e| AppError::Internal(e.to_string()))
            }
        }
    }

    /// Whether this role sees full values anywhere (for labels in the UI).
    pub fn sees_full(role: Role) -> bool {
        role.can(Action::RevealIdNumber) || role.can(Action::RevealPhone)
    }
}

/// Resolves the grid column of an import: a node id, or a path of names
/// ending in the grid (`村/网格`, `乡镇/村/网格`), inside the importer's scope.
pub(crate) struct GridResolver {
    by_id: HashMap<NodeId, String>,
    by_path: HashMap<String, Vec<NodeId>>,
}

impl GridResolver {
    async fn new(app: &App, scope: &Scope) -> Result<GridResolver> {
        // Names come from the whole tree, so that a scoped user's grids are
        // named from the county down like everyone else's; only grids in
        // scope can be resolved or named.
        let nodes = app.store.list_nodes(&Scope::All).await?;
        let names: HashMap<NodeId, &OrgNode> = nodes.iter().map(|n| (n.id, n)).collect();
        let mut by_id = HashMap::new();
        let mut by_path: HashMap<String, Vec<NodeId>> = HashMap::new();
        for n in nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Grid && scope.contains(&n.path))
        {
            let chain: Vec<&str> = n
                .path
                .ids()
                .iter()
                .filter_map(|id| names.get(id))
                .map(|x| x.name.as_str())
                .collect();
            // Every suffix of the chain of names from two levels up names it.
            for k in 2..=chain.len() {
                let key = chain[chain.len() - k..].join("/");
                by_path.entry(key).or_default().push(n.id);
            }
            by_id.insert(n.id, chain.iter().skip(1).copied().collect::<Vec<_>>().join("/"));
        }
        Ok(GridResolver { by_id, by_path })
    }

    fn resolve(&self, v: &str) -> Result<NodeId, FieldErr> {
        let v = v.trim();
        if let Ok(id) = v.parse::<i64>() {
            return if self.by_id.contains_key(&NodeId(id)) {
                Ok(NodeId(id))
            } else {
                Err(("grid", Msg::new("import.grid_unknown")))
            };
        }
        let key: String = v
            .split(['/', '／', '-', '>'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        match self.by_path.get(&key).map(Vec::as_slice) {
            Some([one]) => Ok(*one),
            Some([_, _, ..]) => Err(("grid", Msg::new("import.grid_ambiguous"))),
            _ => Err(("grid", Msg::new("import.grid_unknown"))),
        }
    }

    fn path_of(&self, id: NodeId) -> String {
        self.by_id.get(&id).cloned().unwrap_or_else(|| id.to_string())
    }
}
