//! The permission matrix through the pages: every demo role against every
//! page or action, with the expected status and, where it matters, what the
//! page shows (or must not show).

use super::support::*;
use fanzha_app::residents::ResidentForm;
use fanzha_core::ResidentId;

const ROLES: [&str; 7] = [
    "admin", "analyst", "leader", "officer", "liaison", "cadre", "grid",
];

#[derive(Clone, Copy, Debug)]
enum Act {
    OrgTree,
    List,
    ReadOwn,
    ReadSibling,
    ReadFar,
    Export,
    ImportPage,
    Create,
    EditSibling,
    EditFar,
    DeleteFar,
    RevealId,
    RevealPhone,
    RevealContactPhone,
    RevealFarPhone,
    OrgRename,
    UnitNewPage,
    Users,
    Audit,
    AuditVerify,
    Tokens,
}

/// Expected status per role, in the order of `ROLES`:
/// admin, analyst, leader, officer, liaison, cadre (village), grid (one grid).
const MATRIX: &[(Act, [u16; 7])] = &[
    (Act::OrgTree, [200, 200, 200, 200, 200, 200, 200]),
    (Act::List, [200, 200, 200, 200, 403, 200, 200]),
    (Act::ReadOwn, [200, 200, 200, 200, 403, 200, 200]),
    (Act::ReadSibling, [200, 200, 200, 200, 403, 200, 404]),
    (Act::ReadFar, [200, 200, 200, 404, 403, 404, 404]),
    (Act::Export, [200, 200, 200, 200, 403, 200, 200]),
    (Act::ImportPage, [200, 200, 403, 200, 403, 200, 200]),
    (Act::Create, [303, 303, 403, 303, 403, 303, 303]),
    (Act::EditSibling, [303, 303, 403, 303, 403, 303, 404]),
    (Act::EditFar, [303, 303, 403, 404, 403, 404, 404]),
    (Act::DeleteFar, [303, 303, 403, 404, 403, 404, 404]),
    (Act::RevealId, [403, 200, 403, 200, 403, 403, 403]),
    (Act::RevealPhone, [403, 200, 403, 200, 403, 200, 200]),
    (Act::RevealContactPhone, [403, 200, 403, 200, 403, 200, 200]),
    (Act::RevealFarPhone, [403, 200, 403, 404, 403, 404, 404]),
    (Act::OrgRename, [303, 403, 403, 403, 403, 403, 403]),
    (Act::UnitNewPage, [200, 403, 403, 403, 403, 403, 403]),
    (Act::Users, [200, 403, 403, 403, 403, 403, 403]),
    (Act::Audit, [200, 403, 200, 403, 403, 403, 403]),
    (Act::AuditVerify, [200, 403, 200, 403, 403, 403, 403]),
    (Act::Tokens, [200, 200, 403, 403, 403, 403, 403]),
];

#[tokio::test]
async fn permission_matrix_through_the_pages() {
    let s = start().await;
    let w = world(&s.app).await;
    let cli = s.app.cli_actor();
    let own_grid_name = w
        .tree
        .iter()
        .find(|n| n.node.id == w.own_grid)
        .unwrap()
        .node
        .name
        .clone();
    let rename_target = w.village.0;
    let village_name = w
        .tree
        .iter()
        .find(|n| n.node.id == w.village)
        .unwrap()
        .node
        .name
        .clone();
    let mut failures = Vec::new();
    let mut created = 0u16;
    for (ri, role) in ROLES.iter().enumerate() {
        let b = Browser::login(&s.base, role).await;
        for (act, expected) in MATRIX {
            let want = expected[ri];
            let r = match act {
                Act::OrgTree => b.get("/org").await,
                Act::List => b.get("/residents").await,
                Act::ReadOwn => b.get(&format!("/residents/{}", w.own.id)).await,
                Act::ReadSibling => b.get(&format!("/residents/{}", w.sibling.id)).await,
                Act::ReadFar => b.get(&format!("/residents/{}", w.far.id)).await,
                Act::Export => b.get("/residents/export?format=csv").await,
                Act::ImportPage => b.get("/residents/import").await,
                Act::Create => {
                    created += 1;
                    let idn = id_number(100 + ri as u16 * 10 + created);
                    let grid = w.own_grid.0.to_string();
                    b.post(
                        "/residents/new",
                        &[
                            ("name", "新登记"),
                            ("id_number", &idn),
                            ("phones", "13700001111"),
                            ("grid_id", &grid),
                        ],
                    )
                    .await
                }
                Act::EditSibling | Act::EditFar => {
                    let (k, grid) = if matches!(act, Act::EditFar) {
                        (&w.far, w.far_grid)
                    } else {
                        (&w.sibling, w.sibling_grid)
                    };
                    let name = format!("改名{role}");
                    b.post(
                        &format!("/residents/{}/edit", k.id),
                        &[("name", &name), ("grid_id", &grid.0.to_string())],
                    )
                    .await
                }
                Act::DeleteFar => {
                    // A fresh resident in the far grid, so that allowed deletes do not disturb other rows.
                    let form = ResidentForm {
                        name: "待删除".into(),
                        id_number: id_number(500 + ri as u16),
                        phones: String::new(),
                        address: String::new(),
                        grid_id: w.far_grid,
                        tags: String::new(),
                        contacts: String::new(),
                        expected_version: None,
                    };
                    let id = s.app.create_resident(&cli, &form).await.unwrap();
                    let r = b.post(&format!("/residents/{id}/delete"), &[]).await;
                    let still = s.app.resident(&cli, id).await.is_ok();
                    if still != (want != 303) {
                        failures.push(format!("{role} {act:?}: resident still there = {still}"));
                    }
                    r
                }
                Act::RevealId => {
                    b.post(
                        &format!("/residents/{}/reveal", w.own.id),
                        &[("field", "id_number")],
                    )
                    .await
                }
                Act::RevealPhone => {
                    b.post(
                        &format!("/residents/{}/reveal", w.own.id),
                        &[("field", "phone"), ("index", "0")],
                    )
                    .await
                }
                Act::RevealContactPhone => {
                    let v = s.app.resident(&cli, w.own.id).await.unwrap();
                    let cid = v.contacts[0].id.to_string();
                    b.post(
                        &format!("/residents/{}/reveal", w.own.id),
                        &[("field", "contact_phone"), ("index", &cid)],
                    )
                    .await
                }
                Act::RevealFarPhone => {
                    b.post(
                        &format!("/residents/{}/reveal", w.far.id),
                        &[("field", "phone"), ("index", "0")],
                    )
                    .await
                }
                Act::OrgRename => {
                    b.post(
                        &format!("/org/{rename_target}/rename"),
                        &[("name", &village_name)],
                    )
                    .await
                }
                Act::UnitNewPage => b.get("/org/units/new").await,
                Act::Users => b.get("/users").await,
                Act::Audit => b.get("/audit").await,
                Act::AuditVerify => b.post("/audit/verify", &[]).await,
                Act::Tokens => b.post("/account/tokens", &[("name", "matrix")]).await,
            };
            if r.status != want {
                failures.push(format!(
                    "{role} {act:?}: status {} (want {want}) {:?}",
                    r.status,
                    r.error_text()
                ));
                continue;
            }
            // What a successful answer shows. Counts are read now: earlier rows create residents.
            let (own_count, village_count) = if matches!(act, Act::List | Act::Export) {
                (
                    count_in(&s.app, w.own_grid).await,
                    count_in(&s.app, w.village).await,
                )
            } else {
                (0, 0)
            };
            let text = r.text();
            let link = |k: &Known| format!("href=\"/residents/{}\"", k.id);
            let mut check = |ok: bool, what: &str| {
                if !ok {
                    failures.push(format!("{role} {act:?}: {what}"));
                }
            };
            match act {
                Act::List if want == 200 => {
                    if *role == "grid" {
                        check(text.contains(&link(&w.own)), "own resident listed");
                        check(
                            !text.contains(&link(&w.sibling)),
                            "sibling grid's resident absent",
                        );
                        check(
                            text.contains(&format!("id=\"resident-total\">{own_count}<")),
                            "total is the grid's count",
                        );
                    }
                    if *role == "cadre" {
                        check(
                            text.contains(&link(&w.own)) && text.contains(&link(&w.sibling)),
                            "village residents listed",
                        );
                        check(
                            text.contains(&format!("id=\"resident-total\">{village_count}<")),
                            "total is the village's count",
                        );
                    }
                    if matches!(*role, "grid" | "cadre" | "officer") {
                        check(!text.contains(&link(&w.far)), "far resident absent");
                    }
                    check(
                        text.contains("id=\"resident-new\"")
                            == (want == 200
                                && ["admin", "analyst", "officer", "cadre", "grid"].contains(role)),
                        "new button by role",
                    );
                    check(text.contains("id=\"export-csv\""), "export button");
                }
                Act::ReadOwn if want == 200 => {
                    check(text.contains(&w.own.name), "name shown");
                    check(!text.contains(&w.own.id_number), "ID number masked");
                    check(!text.contains(&w.own.phone), "phone masked");
                    let reveal_buttons = text.matches("value=\"id_number\"").count();
                    check(
                        (reveal_buttons == 1) == matches!(*role, "analyst" | "officer"),
                        "ID reveal button only for roles allowed",
                    );
                }
                Act::Export if want == 200 => {
                    check(r.ctype.starts_with("text/csv"), "CSV content type");
                    check(
                        r.disposition.starts_with("attachment;") && r.disposition.contains(".csv"),
                        "attachment",
                    );
                    let rows = csv_rows(&r.body);
                    if *role == "grid" {
                        check(
                            rows.len() as i64 == own_count,
                            "grid export has exactly the grid's rows",
                        );
                        check(
                            rows.iter().all(|row| row[4].ends_with(&own_grid_name)),
                            "every row in the own grid",
                        );
                        check(
                            rows.iter().any(|row| row[0] == w.own.name),
                            "own resident exported",
                        );
                    }
                    if matches!(*role, "grid" | "cadre" | "officer") {
                        check(
                            !rows.iter().any(|row| row[0] == w.far.name),
                            "far resident not exported",
                        );
                    }
                    if *role == "cadre" {
                        check(
                            rows.len() as i64 == village_count,
                            "cadre export has the village's rows",
                        );
                    }
                    // Full values only for roles that may see them.
                    let full_id = rows.iter().any(|row| row[1] == w.own.id_number);
                    if rows.iter().any(|row| row[0] == w.own.name) {
                        check(
                            full_id == matches!(*role, "analyst" | "officer"),
                            "full ID numbers only for analyst/officer",
                        );
                    }
                }
                Act::Create if want == 303 => check(
                    r.location.starts_with("/residents/") && r.location.ends_with("?ok=created"),
                    "redirect to the new record",
                ),
                Act::RevealId if want == 200 => {
                    check(text.contains(&w.own.id_number), "full ID number shown");
                    check(
                        text.contains("id=\"reveal-note\""),
                        "note that the view was logged",
                    );
                    check(
                        r.location.is_empty(),
                        "no redirect: the value is never put in a URL",
                    );
                }
                Act::RevealPhone if want == 200 => check(
                    text.contains(&format!("href=\"tel:{}\"", w.own.phone)),
                    "revealed phone is a tel: link",
                ),
                Act::RevealContactPhone if want == 200 => check(
                    text.contains(&format!("href=\"tel:{}\"", w.own.contact_phone)),
                    "revealed contact phone",
                ),
                Act::Users if want == 200 => check(
                    text.contains(">grid<") && text.contains(">liaison<"),
                    "users listed",
                ),
                Act::AuditVerify if want == 200 => {
                    check(text.contains("id=\"verify-result\""), "verify result shown")
                }
                Act::Tokens if want == 200 => {
                    check(text.contains("id=\"new-secret\">fz_"), "secret shown once")
                }
                _ => {}
            }
            // The nav shows only what the role may use.
            if matches!(act, Act::OrgTree) {
                let nav = &text[text.find("class=\"main-nav\"").unwrap_or(0)..];
                let nav = &nav[..nav.find("</nav>").unwrap_or(nav.len())];
                check(
                    nav.contains("href=\"/residents\"") == (*role != "liaison"),
                    "residents in nav",
                );
                check(
                    nav.contains("href=\"/users\"") == (*role == "admin"),
                    "users in nav",
                );
                check(
                    nav.contains("href=\"/audit\"") == matches!(*role, "admin" | "leader"),
                    "audit in nav",
                );
            }
        }
    }
    // Denied edits changed nothing; allowed ones did.
    let far = s.app.resident(&cli, w.far.id).await.unwrap();
    assert!(
        far.name == "改名analyst",
        "last allowed edit of the far resident wins: {}",
        far.name
    );
    let sibling = s.app.resident(&cli, w.sibling.id).await.unwrap();
    assert_eq!(
        sibling.name, "改名cadre",
        "the grid worker's edit of the sibling grid was refused"
    );
    assert!(
        failures.is_empty(),
        "permission matrix failures:\n{}",
        failures.join("\n")
    );

    // Reveals are audited: the analyst's three, none for the refused leader.
    let admin = Browser::login(&s.base, "admin").await;
    let r = admin.get("/audit?action=resident.reveal&actor=analyst").await;
    r.expect(200)
        .contains(&format!("resident:{}", w.own.id))
        .contains("field=id_number")
        .contains("field=phone[0]");
    let far_reveal = format!("resident:{}", ResidentId(w.far.id.0));
    r.contains(&far_reveal);
    let r = admin.get("/audit?action=resident.reveal&actor=leader").await;
    r.expect(200).contains("id=\"audit-total\">0<");
    let r = admin.get("/audit?action=resident.reveal&actor=grid").await;
    r.expect(200).contains("field=phone[0]").lacks(&far_reveal);
}
