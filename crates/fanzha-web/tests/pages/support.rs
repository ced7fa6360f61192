//! Starting the real app and driving its pages like a browser: a cookie
//! store, forms with the CSRF token taken from the page, no JavaScript.

use fanzha_app::crypto::{MasterKey, PasswordCost};
use fanzha_app::org::NodeView;
use fanzha_app::residents::{ResidentForm, ResidentQuery};
use fanzha_app::{App, AppConfig, ManualClock, StoreConfig};
use fanzha_core::org::NodeKind;
use fanzha_core::time::Date;
use fanzha_core::{NodeId, ResidentId, Timestamp};
use std::sync::Arc;

pub const SEED: u64 = 7;
pub const RESIDENTS: usize = 800;
/// 2026-11-29 04:00 UTC; the clock stands still.
pub const NOW: Timestamp = Timestamp(1_795_924_800_000);
pub const MAX_UPLOAD: usize = 256 * 1024;
pub const PASSWORD: &str = fanzha_app::demo::DEMO_PASSWORD;

pub struct Server {
    pub base: String,
    pub app: Arc<App>,
    _dir: tempfile::TempDir,
}

/// The real app on 127.0.0.1:0 with a fresh SQLite database and the demo.
pub async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.path().join("fanzha.db"),
    })
    .await
    .unwrap();
    let mut cfg = AppConfig::new(MasterKey::generate().unwrap());
    cfg.password_cost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
    };
    cfg.max_upload_bytes = MAX_UPLOAD;
    let app = App::new(store, cfg, Arc::new(ManualClock::new(NOW))).unwrap();
    app.migrate().await.unwrap();
    app.load_demo(SEED, RESIDENTS).await.unwrap();
    let web = fanzha_web::WebConfig {
        demo: true,
        max_body_bytes: 2 * MAX_UPLOAD,
        ..Default::default()
    };
    let router = fanzha_web::router(app.clone(), web).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = fanzha_web::serve(listener, router).await;
    });
    Server {
        base: format!("http://{addr}"),
        app,
        _dir: dir,
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub location: String,
    pub ctype: String,
    pub disposition: String,
    pub body: Vec<u8>,
}

impl Resp {
    /// The page as text. Slashes that the template engine escaped in
    /// attribute values (`&#x2f;`) are read back as a browser reads them.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).replace("&#x2f;", "/")
    }
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status,
            status,
            "location {:?} body: {}",
            self.location,
            excerpt(&self.text())
        );
        self
    }
    #[track_caller]
    pub fn contains(&self, needle: &str) -> &Resp {
        assert!(
            self.text().contains(needle),
            "status {}: {needle:?} not in page: {}",
            self.status,
            excerpt(&self.text())
        );
        self
    }
    #[track_caller]
    pub fn lacks(&self, needle: &str) -> &Resp {
        assert!(
            !self.text().contains(needle),
            "status {}: {needle:?} unexpectedly in page",
            self.status
        );
        self
    }
    /// The message of an error or form page: its `class="error"` paragraph.
    pub fn error_text(&self) -> Option<String> {
        let t = self.text();
        let i = t.find("class=\"error\"")?;
        let rest = &t[i..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find("</p>")?;
        Some(rest[start..start + end].trim().to_string())
    }
}

/// The main part of a page, for assertion messages.
fn excerpt(t: &str) -> String {
    let body = t.find("<main>").map(|i| &t[i..]).unwrap_or(t);
    body.chars().take(1500).collect()
}

/// The value of the first hidden `_csrf` field in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let i = html.find("name=\"_csrf\" value=\"")?;
    let rest = &html[i + 20..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The numbers following `prefix` in a page, e.g. ids in `href="/residents/`.
pub fn ids_after(html: &str, prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(prefix) {
        rest = &rest[i + prefix.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = rest[digits.len()..].chars().next();
        if !digits.is_empty() && after == Some('"') {
            out.push(digits.parse().unwrap());
        }
    }
    out
}

pub fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

/// A multipart body with a file part and optional text parts.
pub fn multipart(file_name: &str, file: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "----fanzha-test-boundary-7d1f";
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    b.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(file);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

/// A browser: cookies kept, redirects not followed (tests look at them).
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

impl Browser {
    pub fn anon(base: &str) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            http,
            base: base.to_string(),
            csrf: String::new(),
        }
    }

    /// Signs in through the login form; panics unless it redirects.
    pub async fn login(base: &str, user: &str) -> Browser {
        Browser::login_with(base, user, PASSWORD).await
    }

    pub async fn login_with(base: &str, user: &str, password: &str) -> Browser {
        let mut b = Browser::anon(base);
        let r = b.try_login(user, password).await;
        assert_eq!(r.status, 303, "login of {user} failed: {:?}", r.error_text());
        b.refresh_csrf().await;
        b
    }

    /// Posts the login form (with the token the login page gave) and returns the answer.
    pub async fn try_login(&mut self, user: &str, password: &str) -> Resp {
        let page = self.get("/login").await;
        let pre = csrf_in(&page.text()).expect("login form has a token");
        self.send(
            "POST",
            "/login",
            Some((
                "application/x-www-form-urlencoded",
                form_body(&[("_csrf", &pre), ("username", user), ("password", password)]),
            )),
        )
        .await
    }

    /// Reads the session's CSRF token from a page (the sign-out form carries it).
    pub async fn refresh_csrf(&mut self) {
        let r = self.get("/account").await;
        self.csrf = csrf_in(&r.text()).unwrap_or_default();
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, format!("{}{}", self.base, path));
        if let Some((ctype, bytes)) = body {
            rb = rb.header("content-type", ctype).body(bytes);
        }
        let r = rb.send().await.unwrap();
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (status, location, ctype, disposition) = (
            r.status().as_u16(),
            h("location"),
            h("content-type"),
            h("content-disposition"),
        );
        let body = r.bytes().await.unwrap().to_vec();
        Resp {
            status,
            location,
            ctype,
            disposition,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    /// Posts a form with the session's CSRF token.
    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let mut all = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        self.send(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", form_body(&all))),
        )
        .await
    }

    /// Uploads a file the way the import form does (token in the URL).
    pub async fn upload(&self, path: &str, file_name: &str, file: &[u8], fields: &[(&str, &str)]) -> Resp {
        let (ctype, body) = multipart(file_name, file, fields);
        let sep = if path.contains('?') { '&' } else { '?' };
        self.send(
            "POST",
            &format!("{path}{sep}_csrf={}", self.csrf),
            Some((&ctype, body)),
        )
        .await
    }
}

/// Facts about the demo the tests rely on, read from the app itself.
pub struct World {
    pub tree: Vec<NodeView>,
    /// The grid of the `grid` user, another grid of the same village (the
    /// `cadre` user's), and a grid in another township.
    pub own_grid: NodeId,
    pub sibling_grid: NodeId,
    pub far_grid: NodeId,
    pub village: NodeId,
    /// Residents created for the tests with known values, one per grid above.
    pub own: Known,
    pub sibling: Known,
    pub far: Known,
}

pub struct Known {
    pub id: ResidentId,
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub contact_phone: String,
}

/// A valid ID number that no demo resident has (the demo uses region 330523).
pub fn id_number(seq: u16) -> String {
    fanzha_core::idcard::compose("110105", Date::new(1980, 5, 17).unwrap(), seq)
        .unwrap()
        .as_str()
        .to_string()
}

pub async fn world(app: &App) -> World {
    let cli = app.cli_actor();
    let tree = app.org_tree(&cli).await.unwrap();
    let users = app.cli_users().await.unwrap();
    let node_of = |u: &str| users.iter().find(|x| x.username == u).unwrap().node_id.unwrap();
    let own_grid = node_of("grid");
    let village = node_of("cadre");
    let officer_town = node_of("officer");
    let node = |id: NodeId| tree.iter().find(|n| n.node.id == id).unwrap();
    let sibling_grid = tree
        .iter()
        .find(|n| n.node.kind == NodeKind::Grid && n.node.parent_id == Some(village) && n.node.id != own_grid)
        .expect("the cadre's village has a second grid")
        .node
        .id;
    let far_grid = tree
        .iter()
        .find(|n| n.node.kind == NodeKind::Grid && !n.node.path.ids().contains(&officer_town))
        .unwrap()
        .node
        .id;
    assert!(node(own_grid).node.path.ids().contains(&village));
    let mut made = Vec::new();
    for (i, (grid, name)) in [
        (own_grid, "测试甲"),
        (sibling_grid, "测试乙"),
        (far_grid, "测试丙"),
    ]
    .into_iter()
    .enumerate()
    {
        let idn = id_number(900 + i as u16);
        let phone = format!("1391234{:04}", 1000 + i);
        let contact_phone = format!("1382345{:04}", 2000 + i);
        let form = ResidentForm {
            name: name.to_string(),
            id_number: idn.clone(),
            phones: phone.clone(),
            address: "测试路 1 号".into(),
            grid_id: grid,
            tags: "测试".into(),
            contacts: format!("配偶:王五:{contact_phone}"),
            expected_version: None,
        };
        let id = app.create_resident(&cli, &form).await.unwrap();
        made.push(Known {
            id,
            name: name.to_string(),
            id_number: idn,
            phone: fanzha_core::phone::normalize(&phone).unwrap(),
            contact_phone: fanzha_core::phone::normalize(&contact_phone).unwrap(),
        });
    }
    let far = made.pop().unwrap();
    let sibling = made.pop().unwrap();
    let own = made.pop().unwrap();
    World {
        tree,
        own_grid,
        sibling_grid,
        far_grid,
        village,
        own,
        sibling,
        far,
    }
}

/// How many residents a node holds, from the app.
pub async fn count_in(app: &App, node: NodeId) -> i64 {
    let q = ResidentQuery {
        node: Some(node),
        per_page: Some(1),
        ..Default::default()
    };
    app.residents(&app.cli_actor(), &q).await.unwrap().total
}

/// The data rows of an exported CSV (after the header), quote-aware.
pub fn csv_rows(body: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows.into_iter().skip(1).collect()
}
