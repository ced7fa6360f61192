//! The permission matrix through the API, for every demo role, plus the
//! scope of what each role sees, bearer tokens, CSRF, import reports,
//! the org tree and signing out.

use crate::support::{Client, Server, assert_error_json, start};
use fanzha_app::table::{TableFormat, read_table};
use fanzha_core::idcard::compose;
use fanzha_core::time::Date;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// The demo logins, in the column order of the matrix.
const ROLES: [&str; 7] = [
    "admin", "analyst", "leader", "officer", "liaison", "cadre", "grid",
];
/// Not checked for this role (the call would disturb later cases).
const SKIP: u16 = 0;

struct Fixture {
    srv: Server,
    c: HashMap<&'static str, Client>,
    /// The grid worker's grid, a sibling grid in the same village, the
    /// cadre's village, the officer's township and a grid in another township.
    grid: i64,
    sibling: i64,
    village: i64,
    township: i64,
    far_grid: i64,
    nodes: Vec<Value>,
    /// Residents registered by the fixture: in the grid, the sibling grid and the far grid.
    own: Created,
    sib: Created,
    far: Created,
}

struct Created {
    id: i64,
    form: Value,
    id_number: String,
}

/// A synthetic resident with a valid ID number that the demo does not use.
fn person(n: u16, grid: i64) -> (Value, String) {
    let birth = Date::new(1958, 1 + (n % 12) as u8, 1 + (n % 28) as u8).unwrap();
    let id = compose("330523", birth, 900 + (n % 100)).unwrap();
    let form = json!({
        "name": format!("测试{n}"),
        "id_number": id.as_str(),
        "phones": format!("1390000{:04}", n),
        "address": "测试路1号",
        "grid_id": grid,
        "tags": "测试",
        "contacts": format!("子女:测试子女{n}:1370000{:04}", n),
    });
    (form, id.as_str().to_string())
}

fn node_id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

impl Fixture {
    async fn new() -> Fixture {
        let srv = start().await;
        let mut c = HashMap::new();
        for r in ROLES {
            c.insert(r, Client::login(&srv.base, r).await);
        }
        let me = |r: &str| {
            let c = c[r].clone();
            async move { c.get("/me").await.json()["user"]["node_id"].as_i64().unwrap() }
        };
        let (grid, village, township) = (me("grid").await, me("cadre").await, me("officer").await);
        let nodes = c["admin"]
            .get("/org/nodes")
            .await
            .json()
            .as_array()
            .unwrap()
            .clone();
        let grids: Vec<&Value> = nodes.iter().filter(|n| n["kind"] == "grid").collect();
        let sibling = node_id(
            grids
                .iter()
                .find(|n| n["parent_id"] == village && node_id(n) != grid)
                .unwrap(),
        );
        let far_grid = node_id(
            grids
                .iter()
                .find(|n| !n["path"].as_str().unwrap().contains(&format!("/{township}/")))
                .unwrap(),
        );
        let admin = c["admin"].clone();
        let create = |n: u16, g: i64| {
            let admin = admin.clone();
            async move {
                let (form, id_number) = person(n, g);
                let r = admin.post("/residents", form.clone()).await;
                r.expect(201);
                Created {
                    id: r.json()["id"].as_i64().unwrap(),
                    form,
                    id_number,
                }
            }
        };
        let own = create(1, grid).await;
        let sib = create(2, sibling).await;
        let far = create(3, far_grid).await;
        Fixture {
            srv,
            c,
            grid,
            sibling,
            village,
            township,
            far_grid,
            nodes,
            own,
            sib,
            far,
        }
    }

    /// Every resident a client can list.
    async fn all_listed(&self, role: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let v = self.c[role]
                .get(&format!("/residents?per_page=500&page={page}"))
                .await
                .json();
            let items = v["items"].as_array().unwrap().clone();
            let total = v["total"].as_u64().unwrap() as usize;
            out.extend(items);
            if out.len() >= total {
                break;
            }
        }
        out
    }

    /// The grids below a node (inclusive).
    fn grids_under(&self, node: i64) -> BTreeSet<i64> {
        self.nodes
            .iter()
            .filter(|n| n["kind"] == "grid" && n["path"].as_str().unwrap().contains(&format!("/{node}/")))
            .map(node_id)
            .collect()
    }

    /// A grid's names below the county, as the export writes them.
    fn grid_trail(&self, grid: i64) -> String {
        let n = self.nodes.iter().find(|n| node_id(n) == grid).unwrap();
        let ids: Vec<i64> = n["path"]
            .as_str()
            .unwrap()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        ids.iter()
            .skip(1)
            .map(|id| {
                self.nodes.iter().find(|n| node_id(n) == *id).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

struct Case {
    label: &'static str,
    method: Method,
    path: String,
    body: Box<dyn Fn(usize) -> Option<Value>>,
    expect: [u16; 7],
}

fn case(label: &'static str, method: Method, path: String, expect: [u16; 7]) -> Case {
    Case {
        label,
        method,
        path,
        body: Box::new(|_| None),
        expect,
    }
}

fn case_body(
    label: &'static str,
    method: Method,
    path: String,
    body: impl Fn(usize) -> Value + 'static,
    expect: [u16; 7],
) -> Case {
    Case {
        label,
        method,
        path,
        body: Box::new(move |i| Some(body(i))),
        expect,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_for_every_role() {
    let f = Fixture::new().await;
    let (own, sib, far) = (f.own.id, f.sib.id, f.far.id);
    let contact_id = f.c["admin"].get(&format!("/residents/{own}")).await.json()["contacts"][0]["id"]
        .as_i64()
        .unwrap();
    let (grid, far_grid, township) = (f.grid, f.far_grid, f.township);
    let far_form = f.far.form.clone();
    let mut far_into_own = far_form.clone();
    far_into_own["grid_id"] = json!(grid);
    use Method as M;
    #[rustfmt::skip]
    let cases = vec![
        //                                                                          admin analyst leader officer liaison cadre grid
        case("list residents", M::GET, "/residents".into(),                             [200, 200, 200, 200, 403, 200, 200]),
        case("read own-grid resident", M::GET, format!("/residents/{own}"),             [200, 200, 200, 200, 403, 200, 200]),
        case("read same-village other grid", M::GET, format!("/residents/{sib}"),       [200, 200, 200, 200, 403, 200, 404]),
        case("read other township", M::GET, format!("/residents/{far}"),                [200, 200, 200, 404, 403, 404, 404]),
        case("filter by other township's grid", M::GET, format!("/residents?node={far_grid}"),
                                                                                        [200, 200, 200, 404, 403, 404, 404]),
        case("filter by own grid", M::GET, format!("/residents?node={grid}"),           [200, 200, 200, 200, 403, 200, 200]),
        case("export", M::GET, "/residents/export".into(),                              [200, 200, 200, 200, 403, 200, 200]),
        case("export other township's grid", M::GET, format!("/residents/export?node={far_grid}"),
                                                                                        [200, 200, 200, 404, 403, 404, 404]),
        case_body("update other township (as is)", M::PUT, format!("/residents/{far}"), move |_| far_form.clone(),
                                                                                        [200, 200, 403, 404, 403, 404, 404]),
        case_body("move other township's resident into own grid", M::PUT, format!("/residents/{far}"),
            move |_| far_into_own.clone(),                                              [SKIP, SKIP, 403, 404, 403, 404, 404]),
        case("delete other township", M::DELETE, format!("/residents/{far}"),           [SKIP, SKIP, 403, 404, 403, 404, 404]),
        case("delete same-village other grid", M::DELETE, format!("/residents/{sib}"),  [SKIP, SKIP, 403, SKIP, 403, SKIP, 404]),
        case_body("reveal ID number", M::POST, format!("/residents/{own}/reveal"), |_| json!({"field": "id_number"}),
                                                                                        [403, 200, 403, 200, 403, 403, 403]),
        case_body("reveal phone", M::POST, format!("/residents/{own}/reveal"), |_| json!({"field": "phone", "index": 0}),
                                                                                        [403, 200, 403, 200, 403, 200, 200]),
        case_body("reveal contact phone", M::POST, format!("/residents/{own}/reveal"),
            move |_| json!({"field": "contact_phone", "index": contact_id}),             [403, 200, 403, 200, 403, 200, 200]),
        case_body("reveal ID, other township", M::POST, format!("/residents/{far}/reveal"), |_| json!({"field": "id_number"}),
                                                                                        [403, 200, 403, 404, 403, 403, 403]),
        case_body("reveal phone, other township", M::POST, format!("/residents/{far}/reveal"),
            |_| json!({"field": "phone", "index": 0}),                                  [403, 200, 403, 404, 403, 404, 404]),
        case_body("register in own grid", M::POST, "/residents".into(), move |i| person(10 + i as u16, grid).0,
                                                                                        [201, 201, 403, 201, 403, 201, 201]),
        case_body("register in other township", M::POST, "/residents".into(), move |i| person(20 + i as u16, far_grid).0,
                                                                                        [201, 201, 403, 422, 403, 422, 422]),
        case("list users", M::GET, "/users".into(),                                     [200, 403, 403, 403, 403, 403, 403]),
        case("read a user", M::GET, "/users/1".into(),                                  [200, 403, 403, 403, 403, 403, 403]),
        case_body("create user", M::POST, "/users".into(),
            move |i| json!({"username": format!("new{i}"), "role": "officer", "node_id": township, "password": "a-long-password"}),
                                                                                        [201, 403, 403, 403, 403, 403, 403]),
        case_body("change a user", M::PUT, "/users/2".into(),
            move |_| json!({"username": "analyst", "role": "analyst", "node_id": township}),
                                                                                        [SKIP, 403, 403, 403, 403, 403, 403]),
        case("audit log", M::GET, "/audit".into(),                                      [200, 403, 200, 403, 403, 403, 403]),
        case("audit verify", M::GET, "/audit/verify".into(),                            [200, 403, 200, 403, 403, 403, 403]),
        case("org tree", M::GET, "/org/nodes".into(),                                   [200, 200, 200, 200, 200, 200, 200]),
        case_body("create org node", M::POST, "/org/nodes".into(),
            move |i| json!({"parent_id": township, "kind": "village", "name": format!("矩阵村{i}")}),
                                                                                        [201, 403, 403, 403, 403, 403, 403]),
        case("units", M::GET, "/org/units".into(),                                      [200, 200, 200, 200, 200, 200, 200]),
        case("list own tokens", M::GET, "/tokens".into(),                               [200, 200, 403, 403, 403, 403, 403]),
        case_body("create token", M::POST, "/tokens".into(), |_| json!({"name": "matrix"}),
                                                                                        [201, 201, 403, 403, 403, 403, 403]),
        case("home figures", M::GET, "/stats/home".into(),                              [200, 200, 200, 200, 200, 200, 200]),
        case("me", M::GET, "/me".into(),                                                [200, 200, 200, 200, 200, 200, 200]),
    ];
    let mut wrong = Vec::new();
    for c in &cases {
        for (i, role) in ROLES.iter().enumerate() {
            if c.expect[i] == SKIP {
                continue;
            }
            let r = f.c[role].call(c.method.clone(), &c.path, (c.body)(i)).await;
            if r.status != c.expect[i] {
                wrong.push(format!(
                    "{role:8} {:40} expected {} got {}: {}",
                    c.label,
                    c.expect[i],
                    r.status,
                    r.text()
                ));
            } else if r.status >= 400 {
                assert_error_json(&r, c.label);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "permission matrix mismatches:\n{}",
        wrong.join("\n")
    );

    // The liaison is told why, in the default language.
    let r = f.c["liaison"].get("/residents").await;
    assert_eq!(r.json()["error"]["code"], "forbidden");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("无权"));

    // Import goes through the same gate, and the importer's scope decides which rows land.
    let csv = |n: u16, g: i64| {
        let (form, id) = person(n, g);
        format!(
            "姓名,身份证号,手机号,网格\n{},{id},{},{g}\n",
            form["name"].as_str().unwrap(),
            form["phones"].as_str().unwrap()
        )
    };
    for (i, role) in ROLES.iter().enumerate() {
        let r = f.c[role]
            .raw(
                Method::POST,
                "/residents/import?format=csv",
                Some("text/csv"),
                Some(csv(40 + i as u16, grid).into_bytes()),
            )
            .await;
        let expect = if matches!(*role, "leader" | "liaison") {
            403
        } else {
            200
        };
        assert_eq!(r.status, expect, "{role} import: {}", r.text());
        if expect == 200 {
            assert_eq!(r.json()["inserted"], 1, "{role}: {}", r.text());
        }
        let r = f.c[role]
            .raw(
                Method::POST,
                "/residents/import?format=csv",
                Some("text/csv"),
                Some(csv(50 + i as u16, far_grid).into_bytes()),
            )
            .await;
        if matches!(*role, "officer" | "cadre" | "grid") {
            let v = r.expect(200).json();
            assert_eq!(
                (v["inserted"].as_u64(), v["rejected"][0]["column"].as_str()),
                (Some(0), Some("grid")),
                "{role}: {v}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_exactly_its_subtree() {
    let f = Fixture::new().await;
    let everyone = f.all_listed("admin").await;
    let all_grids: BTreeSet<i64> = f
        .nodes
        .iter()
        .filter(|n| n["kind"] == "grid")
        .map(node_id)
        .collect();
    for (role, allowed) in [
        ("admin", all_grids.clone()),
        ("analyst", all_grids.clone()),
        ("leader", all_grids.clone()),
        ("officer", f.grids_under(f.township)),
        ("cadre", f.grids_under(f.village)),
        ("grid", BTreeSet::from([f.grid])),
    ] {
        let seen = f.all_listed(role).await;
        let expected: BTreeSet<i64> = everyone
            .iter()
            .filter(|r| allowed.contains(&r["grid_id"].as_i64().unwrap()))
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        let got: BTreeSet<i64> = seen.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(got.len(), seen.len(), "{role}: a resident is listed twice");
        assert_eq!(
            got, expected,
            "{role} lists residents outside its subtree or misses some"
        );
        assert!(
            got.contains(&f.own.id),
            "{role} does not see the resident of the grid below it"
        );
        if role == "grid" {
            assert!(!got.contains(&f.sib.id) && !got.contains(&f.far.id));
        }
        if role == "cadre" {
            assert!(got.contains(&f.sib.id) && !got.contains(&f.far.id));
        }

        // The export holds the same rows, masked unless the role sees full values.
        for format in ["csv", "xlsx"] {
            let r = f.c[role].get(&format!("/residents/export?format={format}")).await;
            r.expect(200);
            let t = read_table(
                if format == "csv" {
                    TableFormat::Csv
                } else {
                    TableFormat::Xlsx
                },
                &r.body,
            )
            .unwrap();
            assert_eq!(t.rows.len(), expected.len(), "{role} {format} export row count");
            let col = |name: &str| t.headers.iter().position(|h| h == name).unwrap();
            let (id_col, grid_col) = (col("身份证号"), col("网格"));
            let trails: BTreeSet<String> = allowed.iter().map(|g| f.grid_trail(*g)).collect();
            for row in &t.rows {
                let g = row.cells[grid_col].text();
                assert!(trails.contains(g), "{role} export has a row of grid {g}");
                let masked = row.cells[id_col].text().contains('*');
                assert_eq!(
                    masked,
                    !matches!(role, "analyst" | "officer"),
                    "{role} export masking"
                );
            }
        }
    }
    // The grid worker's export holds the fixture's resident of that grid, by its trail.
    let r = f.c["grid"].get("/residents/export").await;
    assert!(r.text().contains("测试1") && !r.text().contains("测试2,") && !r.text().contains("测试3,"));
    // A count that is in scope but empty is still answered for the scope only.
    let v = f.c["grid"].get("/stats/home").await.json();
    assert_eq!(
        v["residents"].as_u64().unwrap() as usize,
        f.all_listed("grid").await.len()
    );
    assert_eq!(f.c["liaison"].get("/stats/home").await.json()["residents"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reveal_is_audited_tokens_work_and_csrf_is_required() {
    let f = Fixture::new().await;
    let own = f.own.id;
    let analyst = &f.c["analyst"];

    // The analyst sees the full value; the entry names the resident.
    let r = analyst
        .post(&format!("/residents/{own}/reveal"), json!({"field": "id_number"}))
        .await;
    assert_eq!(r.expect(200).json()["value"], f.own.id_number);
    let r = analyst
        .post(
            &format!("/residents/{own}/reveal"),
            json!({"field": "phone", "index": 0}),
        )
        .await;
    let v = r.expect(200).json();
    assert_eq!((&v["field"], &v["index"]), (&json!("phone"), &json!(0)));
    assert_eq!(
        v["value"],
        format!("+86{}", f.own.form["phones"].as_str().unwrap())
    );
    let r = analyst
        .post(
            &format!("/residents/{own}/reveal"),
            json!({"field": "phone", "index": 7}),
        )
        .await;
    r.expect(404);
    // The masked view never carries the value.
    let view = analyst.get(&format!("/residents/{own}")).await.text();
    assert!(!view.contains(&f.own.id_number) && view.contains('*'));
    // The leader is refused, and leaves no reveal entry.
    f.c["leader"]
        .post(&format!("/residents/{own}/reveal"), json!({"field": "id_number"}))
        .await
        .expect(403);
    let log = f.c["admin"]
        .get(&format!("/audit?action=resident.reveal&target=resident:{own}"))
        .await
        .json();
    let entries = log["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    for e in entries {
        assert_eq!(e["actor"], "analyst");
        assert_eq!(e["target"], format!("resident:{own}"));
        assert!(
            !e.to_string().contains(&f.own.id_number),
            "the audit entry carries the value"
        );
    }
    assert!(entries.iter().any(|e| e["detail"] == "field=id_number"));

    // Without the CSRF header a cookie session may read but not change.
    let mut no_csrf = analyst.clone();
    no_csrf.send_csrf = false;
    no_csrf.get(&format!("/residents/{own}")).await.expect(200);
    let r = no_csrf
        .post(&format!("/residents/{own}/reveal"), json!({"field": "id_number"}))
        .await;
    assert_eq!(r.expect(403).json()["error"]["code"], "forbidden");
    let r = no_csrf.post("/tokens", json!({"name": "x"})).await;
    r.expect(403);
    let mut wrong = analyst.clone();
    wrong.csrf = Some("0".repeat(64));
    wrong
        .post(&format!("/residents/{own}/reveal"), json!({"field": "id_number"}))
        .await
        .expect(403);

    // A bearer token works without CSRF, is shown once, and dies when revoked.
    let r = analyst.post("/tokens", json!({"name": "ci"})).await;
    let v = r.expect(201).json();
    let (tid, secret) = (
        v["id"].as_i64().unwrap(),
        v["token"].as_str().unwrap().to_string(),
    );
    let listed = analyst.get("/tokens").await.text();
    assert!(
        listed.contains("\"ci\"") && !listed.contains(&secret),
        "the secret is listed"
    );
    let bearer = Client::bearer(&f.srv.base, &secret);
    let me = bearer.get("/me").await.json();
    assert_eq!(
        (me["via"].as_str(), me["user"]["username"].as_str()),
        (Some("token"), Some("analyst"))
    );
    let r = bearer
        .post(&format!("/residents/{own}/reveal"), json!({"field": "id_number"}))
        .await;
    assert_eq!(r.expect(200).json()["value"], f.own.id_number);
    bearer.get("/residents/export").await.expect(200);
    // Someone else's token id is not found.
    f.c["admin"].delete(&format!("/tokens/{tid}")).await.expect(404);
    analyst.delete(&format!("/tokens/{tid}")).await.expect(204);
    let r = bearer.get("/me").await;
    r.expect(401);
    assert_error_json(&r, "revoked token");

    // The caller's language: the account's, or the fz_lang cookie.
    let anon = Client::anon(&f.srv.base);
    assert_eq!(anon.get("/me").await.json()["error"]["message"], "请先登录");
    let r = anon
        .http
        .get(format!("{}/me", f.srv.base))
        .header("cookie", "fz_lang=en")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["message"],
        "Please sign in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_report_org_edits_and_sign_out() {
    let f = Fixture::new().await;
    let (grid, far) = (f.grid, f.far_grid);
    let cadre = &f.c["cadre"];

    // Every bad row comes back with its row, column and reason, as text; good rows are stored.
    let (good, good_id) = person(60, grid);
    let (other, other_id) = person(61, far);
    let mut bad_id = good_id.clone();
    bad_id.replace_range(17.., if good_id.ends_with('0') { "1" } else { "0" });
    let csv = format!(
        "姓名,身份证号,手机号,网格\n{},{good_id},13900000060,{grid}\n{},{other_id},13900000061,{far}\n坏人,{bad_id},,{grid}\n,{good_id},,{grid}\n重复,{good_id},,{grid}\n",
        good["name"].as_str().unwrap(),
        other["name"].as_str().unwrap()
    );
    let r = cadre
        .raw(
            Method::POST,
            "/residents/import",
            Some("text/csv"),
            Some(csv.into_bytes()),
        )
        .await;
    let v = r.expect(200).json();
    assert_eq!(
        (v["rows"].as_u64(), v["inserted"].as_u64()),
        (Some(5), Some(1)),
        "{v}"
    );
    let rejected: Vec<(u64, &str)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["column"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        vec![(3, "grid"), (4, "id_number"), (5, "name"), (6, "id_number")],
        "{v}"
    );
    for e in v["rejected"].as_array().unwrap() {
        let (reason, message) = (e["reason"].as_str().unwrap(), e["message"].as_str().unwrap());
        let raw_key = ["import.", "resident.", "table."]
            .iter()
            .any(|k| reason.starts_with(k));
        assert!(!reason.is_empty() && !raw_key, "reason not rendered: {reason}");
        assert!(
            message.contains(&e["row"].to_string()) && message.contains(reason),
            "{message}"
        );
    }
    // The same file in XLSX, imported again, updates instead of duplicating.
    let rows = vec![vec![
        good["name"].as_str().unwrap().to_string(),
        good_id.clone(),
        grid.to_string(),
    ]];
    let xlsx = fanzha_app::table::write_xlsx("residents", &["姓名", "身份证号", "网格"], &rows).unwrap();
    let r = cadre
        .raw(Method::POST, "/residents/import?format=xlsx", None, Some(xlsx))
        .await;
    let v = r.expect(200).json();
    assert_eq!(
        (v["inserted"].as_u64(), v["updated"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );
    // A file without the required columns, an unknown format, and one over the limit.
    let r = cadre
        .raw(
            Method::POST,
            "/residents/import",
            Some("text/csv"),
            Some(b"a,b\n1,2\n".to_vec()),
        )
        .await;
    assert_error_json(r.expect(422), "missing column");
    let r = cadre
        .raw(
            Method::POST,
            "/residents/import?format=pdf",
            None,
            Some(b"x".to_vec()),
        )
        .await;
    assert_error_json(r.expect(422), "bad format");
    let big = vec![b'x'; crate::support::MAX_UPLOAD + 1];
    let r = cadre
        .raw(
            Method::POST,
            "/residents/import?format=csv",
            Some("text/csv"),
            Some(big),
        )
        .await;
    assert_error_json(r.expect(413), "too large");
    assert_eq!(r.json()["error"]["code"], "too_large");

    // The org tree: create, rename, refuse to delete what holds records, delete what is empty.
    let admin = &f.c["admin"];
    let r = admin
        .post(
            "/org/nodes",
            json!({"parent_id": f.village, "kind": "grid", "name": "新网格"}),
        )
        .await;
    let created = r.expect(201).json();
    let nid = created["id"].as_i64().unwrap();
    assert_eq!(created["parent_id"], f.village);
    let r = admin
        .call(
            Method::PATCH,
            &format!("/org/nodes/{nid}"),
            Some(json!({"name": "改名网格"})),
        )
        .await;
    assert_eq!(r.expect(200).json()["name"], "改名网格");
    admin
        .call(Method::PATCH, &format!("/org/nodes/{nid}"), Some(json!({})))
        .await
        .expect(422);
    let r = admin
        .call(
            Method::PATCH,
            &format!("/org/nodes/{nid}"),
            Some(json!({"parent_id": f.sibling})),
        )
        .await;
    assert_error_json(r.expect(422), "grid under grid");
    let r = admin.delete(&format!("/org/nodes/{grid}")).await;
    assert_error_json(r.expect(409), "delete non-empty");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.len() > "无法删除：".len(),
        "the refusal gives no reason: {msg}"
    );
    admin.delete(&format!("/org/nodes/{nid}")).await.expect(204);
    admin
        .get("/org/nodes")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .for_each(|n| assert_ne!(node_id(n), nid));
    // The cadre's tree holds only the village and its grids.
    let tree = cadre.get("/org/nodes").await.json();
    let ids: BTreeSet<i64> = tree.as_array().unwrap().iter().map(node_id).collect();
    let mut expected = f.grids_under(f.village);
    expected.insert(f.village);
    assert_eq!(ids, expected);

    // Units: create, read, change, delete.
    let r = admin
        .post("/org/units", json!({"node_id": f.township, "name": "测试学校", "unit_type": "school", "responsible_phone": "13900000099"}))
        .await;
    let uid = r.expect(201).json()["id"].as_i64().unwrap();
    let r = admin
        .put(
            &format!("/org/units/{uid}"),
            json!({"node_id": f.township, "name": "测试中学", "unit_type": "school"}),
        )
        .await;
    assert_eq!(r.expect(200).json()["name"], "测试中学");
    f.c["grid"].get(&format!("/org/units/{uid}")).await.expect(404);
    f.c["officer"].get(&format!("/org/units/{uid}")).await.expect(200);
    let r = admin
        .post(
            "/org/units",
            json!({"node_id": f.township, "name": "x", "unit_type": "spaceship"}),
        )
        .await;
    assert_error_json(r.expect(422), "unknown unit type");
    admin.delete(&format!("/org/units/{uid}")).await.expect(204);

    // Users: the administrator creates one who can then sign in.
    let r = admin
        .post("/users", json!({"username": "newgrid", "role": "grid_worker", "node_id": grid, "password": "grid-password-1"}))
        .await;
    let u = r.expect(201).json();
    assert!(u.get("password_hash").is_none() && !u.to_string().contains("argon2"));
    admin.post("/users", json!({"username": "newgrid", "role": "grid_worker", "node_id": grid, "password": "grid-password-1"}))
        .await
        .expect(409);
    admin
        .post(
            "/users",
            json!({"username": "nonode", "role": "officer", "password": "long-enough-1"}),
        )
        .await
        .expect(422);
    let anon = Client::anon(&f.srv.base);
    let r = anon
        .post(
            "/auth/login",
            json!({"username": "newgrid", "password": "grid-password-1"}),
        )
        .await;
    r.expect(200);
    // (A client holding a session must send its CSRF token even to sign in again.)
    anon.post(
        "/auth/login",
        json!({"username": "newgrid", "password": "grid-password-1"}),
    )
    .await
    .expect(403);
    let r = Client::anon(&f.srv.base)
        .post(
            "/auth/login",
            json!({"username": "newgrid", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(r.expect(401).json()["error"]["code"], "bad_credentials");

    // Sign out ends this session; sign out everywhere ends them all.
    let grid_c = &f.c["grid"];
    grid_c.post("/auth/logout", json!({})).await.expect(204);
    grid_c.get("/me").await.expect(401);
    let second = Client::login(&f.srv.base, "cadre").await;
    let r = cadre.post("/auth/logout-all", json!({})).await;
    assert!(r.expect(200).json()["ended"].as_u64().unwrap() >= 2);
    cadre.get("/me").await.expect(401);
    second.get("/me").await.expect(401);
    let v = f.srv.app.verify_audit().await.unwrap();
    assert!(v.ok, "{:?}", v.problem);
    // The API checked the same chain.
    let v = admin.get("/audit/verify").await.json();
    assert_eq!(v["ok"], true);
}
