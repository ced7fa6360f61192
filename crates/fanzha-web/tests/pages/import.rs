//! Import and export through the pages: every rejected row reported with its
//! row, column and reason; good rows kept; re-import updates; bad files are
//! 4xx with a message.

use super::support::*;
use fanzha_app::residents::ResidentQuery;

/// The rows the importer should reject, with the column and a piece of the reason.
const BAD: &[(usize, &str, &str)] = &[
    (3, "身份证号", "身份证号无效"),
    (4, "电话号码", "电话号码无效"),
    (5, "姓名", "姓名不能为空"),
    (6, "所属网格", "网格不存在"),
    (8, "身份证号", "与第 2 行身份证号重复"),
];

fn file(grid_path: &str) -> String {
    let mut s = String::from("姓名,身份证号,手机号,住址,网格,标签,联系人\n");
    s += &format!(
        "导入甲,{},13511110001,导入村1号,{grid_path},独居老人,\n",
        id_number(301)
    );
    s += &format!("导入乙,1101051980,13511110002,,{grid_path},,\n");
    s += &format!("导入丙,{},not-a-phone,,{grid_path},,\n", id_number(303));
    s += &format!(",{},13511110004,,{grid_path},,\n", id_number(304));
    s += &format!(
        "导入丁,{},13511110005,,不存在的镇/不存在的村/第9网格,,\n",
        id_number(305)
    );
    s += &format!(
        "导入戊,{},13511110006,,{grid_path},留守儿童;测试,配偶:导入甲:{}\n",
        id_number(306),
        id_number(301)
    );
    s += &format!("导入重复,{},13511110007,,{grid_path},,\n", id_number(301));
    s
}

#[tokio::test]
async fn import_reports_every_bad_row_and_keeps_the_good_ones() {
    let s = start().await;
    let w = world(&s.app).await;
    let cli = s.app.cli_actor();
    let b = Browser::login(&s.base, "cadre").await;
    // The grid by its path under the cadre's village: village/grid.
    let trail: Vec<String> = {
        let g = w.tree.iter().find(|n| n.node.id == w.own_grid).unwrap();
        g.node
            .path
            .ids()
            .iter()
            .filter_map(|id| w.tree.iter().find(|n| n.node.id == *id))
            .map(|n| n.node.name.clone())
            .collect()
    };
    let grid_path = trail[trail.len() - 2..].join("/");
    let page = b.get("/residents/import").await;
    page.expect(200)
        .contains("id=\"import-max\">256 KB<")
        .contains("enctype=\"multipart/form-data\"");
    let csv = file(&grid_path);
    let r = b
        .upload(
            "/residents/import",
            "residents.csv",
            csv.as_bytes(),
            &[("default_grid", "")],
        )
        .await;
    r.expect(200);
    r.contains("id=\"import-rows\">7<")
        .contains("id=\"import-inserted\">2<")
        .contains("id=\"import-updated\">0<")
        .contains("id=\"import-rejected\">5<");
    let text = r.text();
    let table = &text[text.find("id=\"rejected\"").expect("rejected rows table")..];
    for (row, column, reason) in BAD {
        let cell =
            format!("class=\"num\">{row}</td><td data-label=\"列\">{column}</td><td data-label=\"原因\">");
        let at = table.find(&cell).unwrap_or_else(|| {
            panic!(
                "row {row} ({column}) not reported:\n{}",
                &table[..table.len().min(3000)]
            )
        });
        assert!(
            table[at..].split("</tr>").next().unwrap().contains(reason),
            "row {row}: reason should mention {reason}"
        );
    }
    // The good rows are stored once, linked to each other.
    let find = |idn: String| ResidentQuery {
        q: Some(idn),
        ..Default::default()
    };
    let first = s.app.residents(&cli, &find(id_number(301))).await.unwrap();
    assert_eq!(first.total, 1);
    assert_eq!(first.items[0].grid_id, w.own_grid);
    let spouse = s.app.residents(&cli, &find(id_number(306))).await.unwrap();
    let v = s.app.resident(&cli, spouse.items[0].id).await.unwrap();
    assert_eq!(v.contacts[0].linked_resident_id, Some(first.items[0].id));
    for bad in [303, 304, 305] {
        assert_eq!(
            s.app.residents(&cli, &find(id_number(bad))).await.unwrap().total,
            0
        );
    }
    // Importing the same file again updates instead of duplicating.
    let r = b
        .upload("/residents/import", "residents.csv", csv.as_bytes(), &[])
        .await;
    r.expect(200)
        .contains("id=\"import-inserted\">0<")
        .contains("id=\"import-updated\">2<")
        .contains("id=\"import-rejected\">5<");
    assert_eq!(
        s.app.residents(&cli, &find(id_number(301))).await.unwrap().total,
        1
    );
    // In English the reasons and columns are English.
    b.get("/lang/en").await;
    let r = b
        .upload("/residents/import", "residents.csv", csv.as_bytes(), &[])
        .await;
    r.expect(200)
        .contains("Invalid ID number")
        .contains("Same ID number as row 2")
        .contains(">Grid<");
}

#[tokio::test]
async fn import_rows_without_grid_use_the_default_grid() {
    let s = start().await;
    let w = world(&s.app).await;
    let b = Browser::login(&s.base, "grid").await;
    let csv = format!(
        "姓名,身份证号\n默认甲,{}\n默认乙,{}\n",
        id_number(401),
        id_number(402)
    );
    // Without a grid column and without a default the file is refused as a whole.
    let r = b.upload("/residents/import", "a.csv", csv.as_bytes(), &[]).await;
    r.expect(422);
    assert!(r.error_text().unwrap().contains("grid"), "{:?}", r.error_text());
    let grid = w.own_grid.0.to_string();
    let r = b
        .upload(
            "/residents/import",
            "a.csv",
            csv.as_bytes(),
            &[("default_grid", &grid)],
        )
        .await;
    r.expect(200).contains("id=\"import-inserted\">2<");
    // A default grid outside the scope is refused.
    let far = w.far_grid.0.to_string();
    b.upload(
        "/residents/import",
        "a.csv",
        csv.as_bytes(),
        &[("default_grid", &far)],
    )
    .await
    .expect(422);
    b.upload(
        "/residents/import",
        "a.csv",
        csv.as_bytes(),
        &[("default_grid", "abc")],
    )
    .await
    .expect(422);
}

#[tokio::test]
async fn bad_uploads_are_4xx_with_a_message() {
    let s = start().await;
    let b = Browser::login(&s.base, "analyst").await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "bad.xlsx",
            b"PK\x03\x04 this is not a workbook".to_vec(),
            422,
            "XLSX",
        ),
        ("random.xlsx", vec![0u8; 300], 422, "XLSX"),
        ("binary.csv", (0..=255u8).cycle().take(4000).collect(), 422, ""),
        (
            "latin1.csv",
            b"\xd0\xd5\xc3\xfb,\xc9\xed\xb7\xdd\xd6\xa4\xba\xc5\n\xd5\xc5,1\n".to_vec(),
            422,
            "缺少必需的列",
        ),
        ("empty.csv", Vec::new(), 422, "请选择要导入的文件"),
        ("blank.csv", b"   \n\n".to_vec(), 422, "文件为空"),
        ("big.csv", vec![b'a'; MAX_UPLOAD + 10], 413, "上传文件过大"),
    ];
    for (name, bytes, status, needle) in cases {
        let r = b.upload("/residents/import", name, &bytes, &[]).await;
        assert_eq!(r.status, status, "{name}: {:?}", r.error_text());
        let msg = r.error_text().unwrap_or_default();
        assert!(msg.contains(needle), "{name}: {msg}");
        // The form is there to try again.
        assert!(
            r.text().contains("type=\"file\""),
            "{name}: upload form shown again"
        );
    }
    // A CSV with one row that is not UTF-8 rejects that row only.
    let w = world(&s.app).await;
    let mut mixed = format!("姓名,身份证号,网格\n好人,{},{}\n", id_number(11), w.own_grid).into_bytes();
    mixed.extend_from_slice(b"\xff\xfe,1101051980,1\n");
    let r = b.upload("/residents/import", "mixed.csv", &mixed, &[]).await;
    r.expect(200)
        .contains("UTF-8")
        .contains("id=\"import-inserted\">1<")
        .contains("id=\"import-rejected\">1<");
    // Not a form the guard can read a token from: refused before anything else.
    let r = b
        .send(
            "POST",
            &format!("/residents/import?_csrf={}", b.csrf),
            Some(("text/plain", b"hello".to_vec())),
        )
        .await;
    r.expect(403);
    // Multipart without a boundary.
    let r = b
        .send(
            "POST",
            &format!("/residents/import?_csrf={}", b.csrf),
            Some(("multipart/form-data", b"hello".to_vec())),
        )
        .await;
    r.expect(422);
    assert!(r.error_text().unwrap().contains("上传内容无法读取"));
    // A truncated multipart body.
    let (ctype, body) = multipart("a.csv", b"x,y\n", &[]);
    let r = b
        .send(
            "POST",
            &format!("/residents/import?_csrf={}", b.csrf),
            Some((&ctype, body[..body.len() - 20].to_vec())),
        )
        .await;
    assert!(
        (400..500).contains(&r.status),
        "truncated multipart: {}",
        r.status
    );
}

#[tokio::test]
async fn template_and_exports() {
    let s = start().await;
    let w = world(&s.app).await;
    let b = Browser::login(&s.base, "officer").await;
    let t = b.get("/residents/import/template.csv").await;
    t.expect(200);
    assert!(t.ctype.starts_with("text/csv"));
    assert!(t.disposition.contains("attachment"));
    let text = t.text();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next(), Some("姓名,身份证号,手机号,住址,网格,标签,联系人"));
    assert!(
        lines.next().unwrap().starts_with("示例"),
        "the example row is labelled"
    );
    assert_eq!(lines.next(), None);
    // Importing the template unchanged adds nobody: the example grid does not exist.
    let r = b.upload("/residents/import", "template.csv", &t.body, &[]).await;
    r.expect(200)
        .contains("id=\"import-inserted\">0<")
        .contains("id=\"import-rejected\">1<");
    // XLSX export with the filters of the list.
    let node = w.village.0;
    let r = b
        .get(&format!(
            "/residents/export?format=xlsx&node={node}&tag=%E6%B5%8B%E8%AF%95"
        ))
        .await;
    r.expect(200);
    assert!(
        r.ctype
            .starts_with("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    assert!(r.disposition.contains(".xlsx"));
    assert!(r.body.starts_with(b"PK\x03\x04"));
    // CSV with filters: only the tagged test residents of the village.
    let r = b
        .get(&format!(
            "/residents/export?format=csv&node={node}&tag=%E6%B5%8B%E8%AF%95"
        ))
        .await;
    let rows = csv_rows(&r.body);
    let mut names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    names.sort();
    let mut want = vec![w.own.name.as_str(), w.sibling.name.as_str()];
    want.sort();
    assert_eq!(names, want);
    // The officer sees full values in an export, and the export is audited.
    assert!(rows.iter().any(|r| r[1] == w.own.id_number));
    let admin = Browser::login(&s.base, "admin").await;
    admin
        .get("/audit?action=resident.export&actor=officer")
        .await
        .expect(200)
        .contains("resident.export.full")
        .contains("full_id=true");
    // The list links to the export with the same filters.
    b.get(&format!("/residents?node={node}&tag=%E6%B5%8B%E8%AF%95"))
        .await
        .contains(&format!(
            "/residents/export?node={node}&amp;tag=%E6%B5%8B%E8%AF%95&amp;format=csv"
        ));
}
