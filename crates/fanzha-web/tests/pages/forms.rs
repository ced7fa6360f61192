//! CSRF, bad input on every kind of form, and the create/edit/delete flows:
//! every bad request is a 4xx with a message and the user's input, never a
//! 500 or a blank page.

use super::support::*;

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn csrf_is_required_on_every_form() {
    let s = start().await;
    let w = world(&s.app).await;
    let b = Browser::login(&s.base, "grid").await;
    let grid = w.own_grid.0.to_string();
    let idn = id_number(13);
    let form = [
        ("name", "无令牌"),
        ("id_number", idn.as_str()),
        ("grid_id", grid.as_str()),
    ];
    // No token at all.
    let r = b
        .send(
            "POST",
            "/residents/new",
            Some(("application/x-www-form-urlencoded", form_body(&form))),
        )
        .await;
    r.expect(403);
    assert!(
        r.error_text().is_some_and(|m| m.contains("表单已过期")),
        "{:?}",
        r.error_text()
    );
    // A wrong token.
    let mut bad = vec![("_csrf", "0".repeat(64))];
    bad.extend(form.iter().map(|(k, v)| (*k, v.to_string())));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.send(
        "POST",
        "/residents/new",
        Some(("application/x-www-form-urlencoded", form_body(&bad))),
    )
    .await
    .expect(403);
    // Another session's token.
    let other = Browser::login(&s.base, "cadre").await;
    let mut stolen = vec![("_csrf", other.csrf.as_str())];
    stolen.extend_from_slice(&form);
    b.send(
        "POST",
        "/residents/new",
        Some(("application/x-www-form-urlencoded", form_body(&stolen))),
    )
    .await
    .expect(403);
    // Reveal, delete, account actions and uploads are guarded the same way.
    for path in [
        format!("/residents/{}/reveal", w.own.id),
        format!("/residents/{}/delete", w.own.id),
        "/account/logout-all".into(),
    ] {
        b.send(
            "POST",
            &path,
            Some((
                "application/x-www-form-urlencoded",
                form_body(&[("field", "phone"), ("index", "0")]),
            )),
        )
        .await
        .expect(403);
    }
    let (ctype, body) = multipart("a.csv", "姓名,身份证号\n".as_bytes(), &[]);
    b.send("POST", "/residents/import", Some((&ctype, body.clone())))
        .await
        .expect(403);
    b.send("POST", "/residents/import?_csrf=nope", Some((&ctype, body)))
        .await
        .expect(403);
    // Nothing was created or deleted, and the session still works.
    assert!(s.app.resident(&s.app.cli_actor(), w.own.id).await.is_ok());
    b.get("/residents").await.expect(200);
    // With the right token the same form works.
    b.post("/residents/new", &form).await.expect(303);
}

#[tokio::test]
async fn garbage_gets_4xx_with_a_message() {
    let s = start().await;
    let w = world(&s.app).await;
    let b = Browser::login(&s.base, "officer").await;
    let admin = Browser::login(&s.base, "admin").await;
    let own = w.own.id.0;
    // Non-numeric and unknown ids.
    for path in [
        "/residents/abc",
        "/residents/99999999",
        "/residents/1e3/edit",
        "/org/xyz",
        "/org/units/-",
        "/users/abc",
    ] {
        let r = if path.starts_with("/users") {
            admin.get(path).await
        } else {
            b.get(path).await
        };
        assert_eq!(r.status, 404, "{path}");
        assert!(r.error_text().is_some(), "{path}: no message");
    }
    b.post("/residents/abc/edit", &[("name", "x")]).await.expect(404);
    b.post("/residents/abc/reveal", &[("field", "phone")])
        .await
        .expect(404);
    // Bad filters: the list is shown again with the message and the input.
    for (q, needle) in [
        ("/residents?age_min=abc", "须为整数"),
        ("/residents?age_min=70&age_max=20", "最小年龄"),
        ("/residents?age_max=999", "0 到 150"),
        ("/residents?page=0", "页码"),
        ("/residents?node=abc", "组织节点"),
        ("/residents?node=999999", "不在管辖范围"),
        ("/org/units?type=spaceship", "单位类型"),
    ] {
        let r = b.get(q).await;
        assert_eq!(r.status, 422, "{q}");
        let msg = r.error_text().unwrap_or_default();
        assert!(msg.contains(needle), "{q}: {msg}");
        assert!(r.text().contains("<form"), "{q}: the filter form is shown again");
    }
    b.get("/residents?age_min=abc").await.contains("value=\"abc\"");
    admin
        .get("/audit?from=2026-13-01")
        .await
        .expect(422)
        .contains("YYYY-MM-DD");
    admin
        .get("/audit?from=2026-11-29&to=2026-11-01")
        .await
        .expect(422);
    admin.get("/audit?page=x").await.expect(422);
    b.get("/residents/export?format=pdf").await.expect(422);
    // Bytes that are not UTF-8 in a query string are replaced, not a failure.
    assert!(b.get("/residents?q=%FF%FE").await.status < 500);
    // Forms: bad numbers, oversized fields, wrong values.
    let grid = w.own_grid.0.to_string();
    let r = b
        .post(
            "/residents/new",
            &[
                ("name", "张三丰"),
                ("id_number", "11010519800517001X"),
                ("grid_id", "abc"),
            ],
        )
        .await;
    r.expect(422)
        .contains("value=\"张三丰\"")
        .contains("value=\"11010519800517001X\"");
    let long = "长".repeat(10_000);
    let r = b
        .post(
            "/residents/new",
            &[
                ("name", &long),
                ("id_number", "11010519800517001X"),
                ("grid_id", &grid),
            ],
        )
        .await;
    r.expect(422);
    assert!(r.text().len() < 60_000, "the oversized input is not echoed whole");
    b.post(
        "/residents/new",
        &[("name", "李四"), ("id_number", "123"), ("grid_id", &grid)],
    )
    .await
    .expect(422)
    .contains("身份证号无效");
    b.post(
        "/residents/new",
        &[
            ("name", "李四"),
            ("id_number", &id_number(1)),
            ("phones", "not-a-phone"),
            ("grid_id", &grid),
        ],
    )
    .await
    .expect(422)
    .contains("电话号码无效");
    b.post(
        "/residents/new",
        &[
            ("name", "李四"),
            ("id_number", &id_number(1)),
            ("contacts", "乱写"),
            ("grid_id", &grid),
        ],
    )
    .await
    .expect(422)
    .contains("联系人格式");
    // A grid outside the scope, or a node that is not a grid.
    let far = w.far_grid.0.to_string();
    b.post(
        "/residents/new",
        &[("name", "李四"), ("id_number", &id_number(1)), ("grid_id", &far)],
    )
    .await
    .expect(422);
    let village = w.village.0.to_string();
    b.post(
        "/residents/new",
        &[
            ("name", "李四"),
            ("id_number", &id_number(1)),
            ("grid_id", &village),
        ],
    )
    .await
    .expect(422)
    .contains("网格节点");
    // An ID number already registered.
    b.post(
        "/residents/new",
        &[
            ("name", "重复"),
            ("id_number", &w.own.id_number),
            ("grid_id", &grid),
        ],
    )
    .await
    .expect(409)
    .contains("已登记");
    // Wrong form field types never reach the handlers as 500s.
    b.post(
        &format!("/residents/{own}/edit"),
        &[("name", "x"), ("grid_id", &grid), ("expected_version", "v2")],
    )
    .await
    .expect(422);
    b.post(&format!("/residents/{own}/reveal"), &[("field", "bogus")])
        .await
        .expect(422);
    b.post(
        &format!("/residents/{own}/reveal"),
        &[("field", "phone"), ("index", "x")],
    )
    .await
    .expect(422);
    b.post(
        &format!("/residents/{own}/reveal"),
        &[("field", "phone"), ("index", "7")],
    )
    .await
    .expect(404);
    admin
        .post(
            "/org/units/new",
            &[("name", "某校"), ("unit_type", "school"), ("node_id", "xyz")],
        )
        .await
        .expect(422)
        .contains("value=\"某校\"");
    admin
        .post(
            "/org/units/new",
            &[("name", "某校"), ("unit_type", "rocket"), ("node_id", &village)],
        )
        .await
        .expect(422);
    admin
        .post(
            "/org/units/new",
            &[("name", "某校"), ("unit_type", "school"), ("node_id", "99999")],
        )
        .await
        .expect(422);
    admin
        .post(&format!("/org/{village}/move"), &[("parent", "abc")])
        .await
        .expect(422);
    admin
        .post(&format!("/org/{village}/rename"), &[("name", "   ")])
        .await
        .expect(422)
        .contains("名称不能为空");
    admin
        .post(
            "/users/new",
            &[
                ("username", "a b"),
                ("role", "leader"),
                ("node_id", &village),
                ("password", "longenough1"),
                ("password2", "longenough1"),
            ],
        )
        .await
        .expect(422)
        .contains("用户名");
    admin
        .post(
            "/users/new",
            &[
                ("username", "x1"),
                ("role", "king"),
                ("password", "longenough1"),
                ("password2", "longenough1"),
            ],
        )
        .await
        .expect(422);
    admin
        .post(
            "/users/new",
            &[
                ("username", "x1"),
                ("role", "leader"),
                ("password", "longenough1"),
                ("password2", "longenough1"),
            ],
        )
        .await
        .expect(422)
        .contains("必须绑定组织节点");
    // A body that is not a form at all.
    b.send(
        "POST",
        "/residents/new",
        Some(("application/json", b"{\"name\":1}".to_vec())),
    )
    .await
    .status_4xx();
    // None of that left anything behind or broke the session.
    b.get("/residents").await.expect(200);
}

trait Status4xx {
    fn status_4xx(&self);
}

impl Status4xx for Resp {
    #[track_caller]
    fn status_4xx(&self) {
        assert!((400..500).contains(&self.status), "status {}", self.status);
    }
}

#[tokio::test]
async fn resident_create_edit_delete_keeps_sealed_values() {
    let s = start().await;
    let w = world(&s.app).await;
    let cli = s.app.cli_actor();
    let b = Browser::login(&s.base, "grid").await;
    let grid = w.own_grid.0.to_string();
    // The new form preselects the grid worker's only grid.
    b.get("/residents/new")
        .await
        .expect(200)
        .contains(&format!("value=\"{grid}\" selected"));
    let idn = id_number(42);
    let contacts = format!("女儿:测试女儿:13600002222;丈夫:测试甲:{}", w.own.id_number);
    let r = b
        .post(
            "/residents/new",
            &[
                ("name", "网格新人"),
                ("id_number", &idn),
                ("phones", "13600001111"),
                ("address", "测试村 2 号"),
                ("grid_id", &grid),
                ("tags", "独居老人、测试"),
                ("contacts", &contacts),
            ],
        )
        .await;
    r.expect(303);
    let id: i64 = r
        .location
        .trim_start_matches("/residents/")
        .trim_end_matches("?ok=created")
        .parse()
        .unwrap();
    let page = b.get(&r.location).await;
    page.expect(200)
        .contains("网格新人")
        .contains("已创建")
        .contains("独居老人")
        .lacks(&idn);
    // The relative given by ID number links to their own record.
    page.contains(&format!("href=\"/residents/{}\"", w.own.id));
    let before = s.app.resident(&cli, fanzha_core::ResidentId(id)).await.unwrap();
    // Edit the name and address only: the masked ID number, phones and
    // contacts are kept without the form ever holding the full values.
    let edit = b.get(&format!("/residents/{id}/edit")).await;
    edit.expect(200).contains("placeholder=\"").lacks(&idn);
    let version = before.version.to_string();
    b.post(
        &format!("/residents/{id}/edit"),
        &[
            ("name", "网格新人改"),
            ("address", "测试村 3 号"),
            ("grid_id", &grid),
            ("tags", "测试"),
            ("expected_version", &version),
        ],
    )
    .await
    .expect(303);
    let after = s.app.resident(&cli, fanzha_core::ResidentId(id)).await.unwrap();
    assert_eq!(after.name, "网格新人改");
    assert_eq!(after.id_number, before.id_number);
    assert_eq!(after.phones, before.phones);
    assert_eq!(after.contacts.len(), 2);
    assert_eq!(after.tags, vec!["测试".to_string()]);
    // A stale version is a conflict shown on the form, with the input kept.
    let r = b
        .post(
            &format!("/residents/{id}/edit"),
            &[
                ("name", "过期的改动"),
                ("grid_id", &grid),
                ("expected_version", &version),
            ],
        )
        .await;
    r.expect(409).contains("value=\"过期的改动\"");
    // Clearing phones is explicit.
    let version = after.version.to_string();
    b.post(
        &format!("/residents/{id}/edit"),
        &[
            ("name", "网格新人改"),
            ("grid_id", &grid),
            ("clear_phones", "on"),
            ("expected_version", &version),
        ],
    )
    .await
    .expect(303);
    assert!(
        s.app
            .resident(&cli, fanzha_core::ResidentId(id))
            .await
            .unwrap()
            .phones
            .is_empty()
    );
    // Delete, then it is gone.
    b.post(&format!("/residents/{id}/delete"), &[]).await.expect(303);
    b.get(&format!("/residents/{id}")).await.expect(404);
    b.get("/residents?ok=deleted")
        .await
        .expect(200)
        .contains("已删除");
}

#[tokio::test]
async fn language_switch_changes_the_pages() {
    let s = start().await;
    let b = Browser::login(&s.base, "analyst").await;
    b.get("/residents")
        .await
        .expect(200)
        .contains("人口信息")
        .contains("导出 CSV");
    let r = b.get("/lang/en?back=/residents").await;
    r.expect(303);
    assert_eq!(r.location, "/residents");
    let page = b.get("/residents").await;
    page.expect(200)
        .contains("<html lang=\"en\">")
        .contains("Residents")
        .contains("Export CSV")
        .contains("More filters")
        .lacks("导出 CSV");
    // Messages too.
    b.get("/residents?age_min=abc")
        .await
        .expect(422)
        .contains("must be a whole number");
    b.get("/org").await.expect(200).contains("Organisation");
    b.get("/account")
        .await
        .expect(200)
        .contains("Change password")
        .contains("API tokens");
    // And back.
    b.get("/lang/zh?back=/").await.expect(303);
    b.get("/residents").await.contains("导出 CSV");
    b.get("/lang/klingon").await.status_4xx();
}

#[tokio::test]
async fn search_by_name_phone_or_id_within_scope() {
    let s = start().await;
    let w = world(&s.app).await;
    let b = Browser::login(&s.base, "grid").await;
    let own_link = format!("href=\"/residents/{}\"", w.own.id);
    let local_phone = w.own.phone.trim_start_matches("+86").to_string();
    for q in [
        w.own.name.as_str(),
        local_phone.as_str(),
        w.own.id_number.as_str(),
    ] {
        let r = b.get(&format!("/residents?q={}", urlencode(q))).await;
        r.expect(200)
            .contains(&own_link)
            .contains("id=\"resident-total\">1<");
    }
    // Someone outside the grid is not found, whichever way they are looked up.
    for q in [
        w.far.name.as_str(),
        w.far.id_number.as_str(),
        w.sibling.id_number.as_str(),
    ] {
        let r = b.get(&format!("/residents?q={}", urlencode(q))).await;
        r.expect(200).contains("id=\"resident-total\">0<");
    }
}

#[tokio::test]
async fn addresses_that_only_take_posts_lead_back_to_their_page() {
    let s = start().await;
    let w = world(&s.app).await;
    let b = Browser::login(&s.base, "admin").await;
    let own = w.own.id;
    let village = w.village;
    for (path, to) in [
        (format!("/residents/{own}/reveal"), format!("/residents/{own}")),
        (format!("/residents/{own}/delete"), format!("/residents/{own}")),
        (format!("/org/{village}/rename"), format!("/org/{village}")),
        (format!("/org/{village}/delete"), format!("/org/{village}")),
        ("/org/root".to_string(), "/org".to_string()),
        ("/audit/verify".to_string(), "/audit".to_string()),
        ("/account/tokens".to_string(), "/account".to_string()),
        ("/account/logout-all".to_string(), "/account".to_string()),
    ] {
        let r = b.get(&path).await;
        assert_eq!((r.status, r.location.as_str()), (303, to.as_str()), "{path}");
    }
    // Nothing happened: the resident is still there and the session is live.
    b.get(&format!("/residents/{own}")).await.expect(200);
}
