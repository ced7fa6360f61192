//! The administrator's pages (org tree, units, users), the audit log, the
//! account page, lockout and the forced password change.

use super::support::*;
use fanzha_core::org::NodeKind;

#[tokio::test]
async fn org_tree_and_node_editing() {
    let s = start().await;
    let w = world(&s.app).await;
    let admin = Browser::login(&s.base, "admin").await;
    // The tree with resident counts.
    let tree = admin.get("/org").await;
    tree.expect(200).contains("id=\"org-tree\"").contains("安吉县");
    let now_tree = s.app.org_tree(&s.app.cli_actor()).await.unwrap();
    let county = now_tree.iter().find(|n| n.node.kind == NodeKind::County).unwrap();
    assert!(
        tree.text()
            .contains(&format!("{}</span></span></summary>", county.residents)),
        "county resident count shown"
    );
    // The grid worker sees only their own grid.
    let grid = Browser::login(&s.base, "grid").await;
    let own = grid.get("/org").await;
    assert_eq!(ids_after(&own.text(), "href=\"/org/"), vec![w.own_grid.0]);
    grid.get(&format!("/org/{}", w.far_grid)).await.expect(404);
    grid.get(&format!("/org/{}", w.own_grid))
        .await
        .expect(200)
        .lacks("/rename");
    // Create a child, rename it, move it to another village, delete it.
    let village = w.village.0;
    let r = admin
        .post(
            &format!("/org/{village}/children"),
            &[("name", "新网格"), ("code", "")],
        )
        .await;
    r.expect(303);
    let new_id: i64 = r
        .location
        .trim_start_matches("/org/")
        .trim_end_matches("?ok=created")
        .parse()
        .unwrap();
    admin
        .get(&r.location)
        .await
        .expect(200)
        .contains("新网格")
        .contains("已创建");
    admin
        .post(&format!("/org/{new_id}/rename"), &[("name", "改名网格")])
        .await
        .expect(303);
    let other_village = w
        .tree
        .iter()
        .find(|n| n.node.kind == NodeKind::Village && n.node.id != w.village)
        .unwrap()
        .node
        .id;
    admin
        .post(
            &format!("/org/{new_id}/move"),
            &[("parent", &other_village.0.to_string())],
        )
        .await
        .expect(303);
    let moved = s
        .app
        .node(&s.app.cli_actor(), fanzha_core::NodeId(new_id))
        .await
        .unwrap();
    assert_eq!(
        (moved.name.as_str(), moved.parent_id),
        ("改名网格", Some(other_village))
    );
    // A move to a node of the wrong kind is refused on the form.
    admin
        .post(
            &format!("/org/{new_id}/move"),
            &[("parent", &w.own_grid.0.to_string())],
        )
        .await
        .expect(422);
    // A grid cannot have children.
    admin
        .post(&format!("/org/{new_id}/children"), &[("name", "x")])
        .await
        .expect(422);
    admin
        .post(&format!("/org/{new_id}/delete"), &[])
        .await
        .expect(303);
    admin.get(&format!("/org/{new_id}")).await.expect(404);
    // Deleting a node that holds residents is refused with the reason.
    let r = admin.post(&format!("/org/{}/delete", w.own_grid), &[]).await;
    r.expect(409);
    let msg = r.error_text().unwrap();
    assert!(
        msg.starts_with("无法删除") && msg.len() > "无法删除：".len(),
        "{msg}"
    );
    r.contains("id=\"delete-error\"");
    assert!(s.app.node(&s.app.cli_actor(), w.own_grid).await.is_ok());
}

#[tokio::test]
async fn units_list_filter_create_edit_delete() {
    let s = start().await;
    let w = world(&s.app).await;
    let admin = Browser::login(&s.base, "admin").await;
    let all = admin.get("/org/units").await;
    all.expect(200);
    let schools = admin.get("/org/units?type=school").await;
    schools.expect(200);
    let n_all = ids_after(&all.text(), "href=\"/org/units/").len();
    let n_schools = ids_after(&schools.text(), "href=\"/org/units/").len();
    assert!(
        n_schools > 0 && n_schools < n_all,
        "type filter: {n_schools} of {n_all}"
    );
    let village = w.village.0.to_string();
    let r = admin
        .post(
            "/org/units/new",
            &[
                ("name", "测试小学"),
                ("unit_type", "school"),
                ("node_id", &village),
                ("responsible_name", "赵老师"),
                ("responsible_phone", "0572-5123456"),
            ],
        )
        .await;
    r.expect(303);
    let id: i64 = r
        .location
        .trim_start_matches("/org/units/")
        .trim_end_matches("?ok=created")
        .parse()
        .unwrap();
    admin
        .get(&r.location)
        .await
        .expect(200)
        .contains("测试小学")
        .contains("赵老师")
        .contains("href=\"tel:");
    // Edit and move to another node in one form.
    let other = w.own_grid.0.to_string();
    admin
        .post(
            &format!("/org/units/{id}/edit"),
            &[
                ("name", "测试中学"),
                ("unit_type", "school"),
                ("node_id", &other),
                ("responsible_name", ""),
                ("responsible_phone", ""),
            ],
        )
        .await
        .expect(303);
    let u = s
        .app
        .unit(&s.app.cli_actor(), fanzha_core::UnitId(id))
        .await
        .unwrap();
    assert_eq!((u.name.as_str(), u.node_id), ("测试中学", w.own_grid));
    // Bad phone: the form again, with the input.
    admin
        .post(
            &format!("/org/units/{id}/edit"),
            &[
                ("name", "测试中学"),
                ("unit_type", "school"),
                ("node_id", &other),
                ("responsible_phone", "call me"),
            ],
        )
        .await
        .expect(422)
        .contains("value=\"call me\"");
    // The grid worker sees the unit (it is in their grid) but cannot change it.
    let g = Browser::login(&s.base, "grid").await;
    g.get(&format!("/org/units/{id}"))
        .await
        .expect(200)
        .lacks("/delete");
    g.post(&format!("/org/units/{id}/delete"), &[]).await.expect(403);
    admin
        .post(&format!("/org/units/{id}/delete"), &[])
        .await
        .expect(303);
    admin.get(&format!("/org/units/{id}")).await.expect(404);
}

#[tokio::test]
async fn users_create_edit_and_forced_password_change() {
    let s = start().await;
    let w = world(&s.app).await;
    let admin = Browser::login(&s.base, "admin").await;
    admin.get("/users").await.expect(200).contains(">cadre<");
    let node = w.own_grid.0.to_string();
    let r = admin
        .post(
            "/users/new",
            &[
                ("username", "newgrid"),
                ("display_name", "新网格员"),
                ("role", "grid_worker"),
                ("node_id", &node),
                ("password", "first-pass-1"),
                ("password2", "first-pass-1"),
            ],
        )
        .await;
    r.expect(303);
    admin
        .get("/users?ok=created")
        .await
        .contains("新网格员")
        .contains("已创建");
    // A duplicate username is a conflict on the form.
    admin
        .post(
            "/users/new",
            &[
                ("username", "newgrid"),
                ("role", "grid_worker"),
                ("node_id", &node),
                ("password", "first-pass-1"),
                ("password2", "first-pass-1"),
            ],
        )
        .await
        .expect(409);
    // The new user must change the password first: every page leads there.
    let mut u = Browser::anon(&s.base);
    let r = u.try_login("newgrid", "first-pass-1").await;
    r.expect(303);
    assert_eq!(r.location, "/account?first=1");
    u.refresh_csrf().await;
    let r = u.get("/residents").await;
    r.expect(303);
    assert_eq!(r.location, "/account?first=1");
    u.get("/account?first=1")
        .await
        .expect(200)
        .contains("id=\"must-change\"");
    u.post(
        "/account/password",
        &[
            ("old", "wrong-pass"),
            ("new", "second-pass-2"),
            ("new2", "second-pass-2"),
        ],
    )
    .await
    .expect(422)
    .contains("原密码不正确");
    u.post(
        "/account/password",
        &[
            ("old", "first-pass-1"),
            ("new", "second-pass-2"),
            ("new2", "other"),
        ],
    )
    .await
    .expect(422);
    u.post(
        "/account/password",
        &[("old", "first-pass-1"), ("new", "short"), ("new2", "short")],
    )
    .await
    .expect(422)
    .contains("至少 8 位");
    u.post(
        "/account/password",
        &[
            ("old", "first-pass-1"),
            ("new", "second-pass-2"),
            ("new2", "second-pass-2"),
        ],
    )
    .await
    .expect(303);
    u.get("/residents").await.expect(200);
    // Edit: role, node, name; reset the password; disable.
    let users = s.app.cli_users().await.unwrap();
    let uid = users.iter().find(|u| u.username == "newgrid").unwrap().id.0;
    let me = users.iter().find(|u| u.username == "admin").unwrap().id.0;
    let village = w.village.0.to_string();
    admin
        .get(&format!("/users/{uid}"))
        .await
        .expect(200)
        .contains("newgrid");
    admin
        .post(
            &format!("/users/{uid}"),
            &[
                ("display_name", "改名网格员"),
                ("role", "grid_worker"),
                ("node_id", &village),
                ("password", "reset-pass-3"),
                ("password2", "reset-pass-3"),
            ],
        )
        .await
        .expect(303);
    // The reset ended the user's sessions and forces a change again.
    u.get("/residents").await.expect(303);
    let mut u = Browser::anon(&s.base);
    let r = u.try_login("newgrid", "reset-pass-3").await;
    assert_eq!(r.location, "/account?first=1");
    admin
        .post(
            &format!("/users/{uid}"),
            &[("role", "grid_worker"), ("node_id", &village), ("disabled", "on")],
        )
        .await
        .expect(303);
    admin.get("/users").await.contains("已停用");
    let r = u.try_login("newgrid", "reset-pass-3").await;
    r.expect(422);
    // The last administrator cannot demote themself.
    admin
        .post(
            &format!("/users/{me}"),
            &[("role", "leader"), ("node_id", &village)],
        )
        .await
        .expect(409)
        .contains("最后一个管理员");
    admin.get("/users/999999").await.expect(404);
}

#[tokio::test]
async fn lockout_after_five_bad_passwords() {
    let s = start().await;
    let mut b = Browser::anon(&s.base);
    for i in 1..=4 {
        let r = b.try_login("officer", "wrong-password").await;
        r.expect(422);
        assert!(
            r.error_text().unwrap().contains("用户名或密码错误"),
            "attempt {i}"
        );
    }
    let r = b.try_login("officer", "wrong-password").await;
    r.expect(422);
    assert!(
        r.error_text().unwrap().contains("已锁定"),
        "fifth failure locks: {:?}",
        r.error_text()
    );
    // Locked: even the right password is refused, and no session is made.
    let r = b.try_login("officer", PASSWORD).await;
    r.expect(422);
    assert!(r.error_text().unwrap().contains("已锁定"));
    b.get("/residents").await.expect(303);
    // Other accounts are not affected; the admin sees the lock and the failures are audited.
    let admin = Browser::login(&s.base, "admin").await;
    admin.get("/users").await.contains("已锁定");
    admin
        .get("/audit?action=login.failed&actor=officer")
        .await
        .expect(200)
        .contains("id=\"audit-total\">5<");
}

#[tokio::test]
async fn audit_filters_pages_and_verify() {
    let s = start().await;
    let w = world(&s.app).await;
    let leader = Browser::login(&s.base, "leader").await;
    let all = leader.get("/audit").await;
    all.expect(200).contains("class=\"pager\"");
    // Filter by target: the test residents' creation.
    let r = leader.get(&format!("/audit?target=resident:{}", w.own.id)).await;
    r.expect(200)
        .contains("resident.create")
        .contains("id=\"audit-total\">1<")
        .contains(&format!("href=\"/residents/{}\"", w.own.id));
    // Dates: everything happened "today" (the clock stands still at 2026-11-29 12:00 China time).
    leader
        .get("/audit?from=2026-11-29&to=2026-11-29")
        .await
        .expect(200)
        .lacks("id=\"audit-total\">0<");
    leader
        .get("/audit?from=2026-11-30")
        .await
        .expect(200)
        .contains("id=\"audit-total\">0<");
    leader
        .get("/audit?to=2026-11-28")
        .await
        .expect(200)
        .contains("id=\"audit-total\">0<");
    // Page 2 keeps the filters.
    let p2 = leader.get("/audit?action=resident&page=2").await;
    p2.expect(200)
        .contains("href=\"/audit?action=resident&amp;page=1\"");
    // Verify the chain.
    let r = leader.post("/audit/verify?action=login", &[]).await;
    r.expect(200)
        .contains("id=\"verify-result\"")
        .contains("哈希链完整")
        .contains("value=\"login\"");
    let g = Browser::login(&s.base, "grid").await;
    g.post("/audit/verify", &[]).await.expect(403);
}

#[tokio::test]
async fn account_tokens_and_logout_everywhere() {
    let s = start().await;
    let a = Browser::login(&s.base, "analyst").await;
    let page = a.get("/account").await;
    page.expect(200).contains("id=\"tokens\"");
    let r = a.post("/account/tokens", &[("name", "对接系统")]).await;
    r.expect(200);
    let text = r.text();
    let i = text.find("id=\"new-secret\">").unwrap() + "id=\"new-secret\">".len();
    let secret = &text[i..i + text[i..].find('<').unwrap()];
    assert!(secret.starts_with("fz_") && secret.len() > 40);
    // Shown once: the next page load lists the token by its prefix only.
    let again = a.get("/account").await;
    again.contains("对接系统").contains(&secret[..10]).lacks(secret);
    a.post("/account/tokens", &[("name", "")])
        .await
        .expect(422)
        .contains("令牌名称");
    let t = again.text();
    let i = t.find("action=\"/account/tokens/").unwrap() + "action=\"/account/tokens/".len();
    let tid: i64 = t[i..].split('/').next().unwrap().parse().unwrap();
    a.post(&format!("/account/tokens/{tid}/revoke"), &[])
        .await
        .expect(303);
    a.get("/account?ok=revoked")
        .await
        .contains("令牌已吊销")
        .contains("已吊销");
    a.post("/account/tokens/999999/revoke", &[]).await.expect(404);
    // A grid worker has no tokens.
    let g = Browser::login(&s.base, "grid").await;
    g.get("/account").await.expect(200).lacks("id=\"tokens\"");
    g.post("/account/tokens", &[("name", "x")]).await.expect(403);
    // Log out everywhere: both of the analyst's sessions end.
    let a2 = Browser::login(&s.base, "analyst").await;
    let r = a.post("/account/logout-all", &[]).await;
    r.expect(303);
    assert_eq!(r.location, "/login");
    a.get("/residents").await.expect(303);
    a2.get("/residents").await.expect(303);
    g.get("/residents").await.expect(200);
}
