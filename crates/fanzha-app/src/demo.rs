//! The labelled demo (演示数据): one real county with its real townships
//! (names and codes from the 2023 national statistics division table), and
//! synthetic villages, grids, units, residents and users.
//!
//! Everything personal here is synthetic: names are drawn from common
//! characters, ID numbers are composed with valid check digits, phones are
//! random. Generation is deterministic for a seed.

use fanzha_core::idcard::{self, IdNumber, Sex};
use fanzha_core::org::UnitType;
use fanzha_core::time::{Date, days_in_month};

/// 安吉县, Huzhou, Zhejiang: code 330523 and its fifteen township-level
/// divisions as listed in the national statistics division table (2023).
pub const COUNTY: (&str, &str) = ("安吉县", "330523");
pub const TOWNSHIPS: &[(&str, &str)] = &[
    ("330523001", "递铺街道"),
    ("330523002", "昌硕街道"),
    ("330523003", "灵峰街道"),
    ("330523004", "孝源街道"),
    ("330523103", "鄣吴镇"),
    ("330523104", "杭垓镇"),
    ("330523105", "孝丰镇"),
    ("330523106", "报福镇"),
    ("330523107", "章村镇"),
    ("330523108", "天荒坪镇"),
    ("330523110", "梅溪镇"),
    ("330523111", "天子湖镇"),
    ("330523201", "溪龙乡"),
    ("330523205", "上墅乡"),
    ("330523206", "山川乡"),
];

/// Share of the population per five-year age band, 0–4 … 85+, in per mille,
/// shaped after the 2020 census pyramid with a rural county's older tail.
const AGE_BANDS: [u32; 18] = [
    45, 55, 56, 50, 48, 58, 78, 68, 66, 80, 88, 78, 66, 62, 45, 30, 20, 13,
];

const SURNAMES: &[(&str, u32)] = &[
    ("王", 74),
    ("李", 72),
    ("张", 69),
    ("刘", 55),
    ("陈", 54),
    ("杨", 32),
    ("黄", 24),
    ("赵", 21),
    ("吴", 20),
    ("周", 19),
    ("徐", 16),
    ("孙", 15),
    ("马", 14),
    ("朱", 13),
    ("胡", 12),
    ("郭", 11),
    ("何", 11),
    ("林", 10),
    ("高", 10),
    ("罗", 9),
    ("郑", 9),
    ("梁", 8),
    ("谢", 7),
    ("宋", 7),
    ("唐", 7),
    ("许", 6),
    ("韩", 6),
    ("冯", 6),
    ("邓", 6),
    ("曹", 5),
    ("彭", 5),
    ("曾", 5),
    ("肖", 5),
    ("田", 5),
    ("董", 5),
    ("袁", 4),
    ("潘", 4),
    ("蒋", 4),
    ("蔡", 4),
    ("余", 4),
    ("杜", 4),
    ("叶", 4),
    ("程", 4),
    ("沈", 4),
    ("姚", 3),
    ("陆", 3),
    ("汪", 3),
    ("金", 3),
    ("钱", 3),
    ("施", 2),
    ("俞", 2),
    ("章", 2),
    ("应", 2),
    ("方", 2),
];
const MALE_CHARS: &str = "伟强军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰磊建国志海东兴德成新文";
const FEMALE_CHARS: &str = "芳娟敏静丽艳霞燕玲红梅娜婷雪慧琳莉萍颖佳倩秀英兰凤云洁琴晶欣怡雯悦蕾";
const VILLAGE_HEADS: &str = "上下东西南北前后大小新老高横竹石溪桥塘岭坞山";
const VILLAGE_TAILS: &str = "溪桥塘岭坞湾田坪坑岙口庄村川岗垓";
const STREETS: &str = "山溪竹桥塘岭湾田坪园";

/// The plan of the demo org tree.
#[derive(Clone, Debug)]
pub struct TreePlan {
    pub county: (String, String),
    pub townships: Vec<TownshipPlan>,
}

#[derive(Clone, Debug)]
pub struct TownshipPlan {
    pub name: String,
    pub code: String,
    pub villages: Vec<VillagePlan>,
    pub units: Vec<(String, UnitType, String)>,
}

#[derive(Clone, Debug)]
pub struct VillagePlan {
    pub name: String,
    pub grids: Vec<String>,
}

/// A synthetic resident as generated, before encryption.
#[derive(Clone, Debug)]
pub struct DemoResident {
    pub name: String,
    pub id_number: IdNumber,
    pub sex: Sex,
    pub birth: Date,
    pub phones: Vec<String>,
    pub address: String,
    /// Index into the grid list passed to [`residents`].
    pub grid: usize,
    pub tags: Vec<String>,
    /// (relation, index of the related resident in the returned list).
    pub relatives: Vec<(String, usize)>,
    /// (relation, name, phone) of people outside the registry.
    pub external_contacts: Vec<(String, String, String)>,
}

fn pick<'a>(rng: &mut fastrand::Rng, s: &'a str) -> &'a str {
    let n = s.chars().count();
    let i = rng.usize(..n);
    let (start, c) = s.char_indices().nth(i).unwrap_or((0, 'x'));
    &s[start..start + c.len_utf8()]
}

/// The demo tree: the real townships, 4–7 synthetic villages each, 2–4 grids a village.
pub fn tree(seed: u64) -> TreePlan {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut townships = Vec::new();
    for (code, name) in TOWNSHIPS {
        let mut used = std::collections::HashSet::new();
        let nv = rng.usize(4..=7);
        let mut villages = Vec::new();
        while villages.len() < nv {
            let v = format!(
                "{}{}{}",
                pick(&mut rng, VILLAGE_HEADS),
                pick(&mut rng, VILLAGE_TAILS),
                if name.ends_with("街道") { "社区" } else { "村" }
            );
            if used.insert(v.clone()) {
                let ng = rng.usize(2..=4);
                let grids = (1..=ng).map(|g| format!("第{g}网格")).collect();
                villages.push(VillagePlan { name: v, grids });
            }
        }
        let short = name
            .trim_end_matches("街道")
            .trim_end_matches('镇')
            .trim_end_matches('乡');
        let mut units = vec![
            (
                format!("{short}派出所"),
                UnitType::PoliceStation,
                "派出所所长".to_string(),
            ),
            (
                format!("{short}中心学校"),
                UnitType::School,
                "分管副校长".to_string(),
            ),
            (format!("{short}卫生院"), UnitType::Hospital, "院长".to_string()),
            (
                format!("农商银行{short}支行"),
                UnitType::BankBranch,
                "网点负责人".to_string(),
            ),
            (
                format!("{name}人民政府"),
                UnitType::Government,
                "分管领导".to_string(),
            ),
        ];
        if rng.bool() {
            units.push((
                format!("移动营业厅{short}店"),
                UnitType::TelecomOutlet,
                "店长".to_string(),
            ));
        }
        if rng.u8(..3) == 0 {
            units.push((
                format!("{short}竹木制品有限公司"),
                UnitType::Enterprise,
                "行政主管".to_string(),
            ));
        }
        townships.push(TownshipPlan {
            name: name.to_string(),
            code: code.to_string(),
            villages,
            units,
        });
    }
    TreePlan {
        county: (COUNTY.0.to_string(), COUNTY.1.to_string()),
        townships,
    }
}

fn weighted<T: Copy>(rng: &mut fastrand::Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.u32(..total.max(1));
    for (v, w) in items {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    items[0].0
}

fn age(rng: &mut fastrand::Rng, lo: i32, hi: i32) -> i32 {
    loop {
        let bands: Vec<(usize, u32)> = AGE_BANDS.iter().copied().enumerate().collect();
        let b = weighted(rng, &bands) as i32;
        let a = b * 5 + rng.i32(0..if b == 17 { 15 } else { 5 });
        if (lo..=hi).contains(&a) {
            return a;
        }
    }
}

fn given_name(rng: &mut fastrand::Rng, sex: Sex) -> String {
    let pool = if sex == Sex::Male {
        MALE_CHARS
    } else {
        FEMALE_CHARS
    };
    if rng.u8(..10) < 3 {
        pick(rng, pool).to_string()
    } else {
        format!("{}{}", pick(rng, pool), pick(rng, pool))
    }
}

fn mobile(rng: &mut fastrand::Rng, used: &mut std::collections::HashSet<u64>) -> String {
    const PREFIXES: [u64; 16] = [
        130, 131, 133, 135, 136, 137, 138, 139, 150, 151, 157, 158, 177, 180, 187, 199,
    ];
    loop {
        let p = PREFIXES[rng.usize(..PREFIXES.len())];
        let n = p * 100_000_000 + rng.u64(0..100_000_000);
        if used.insert(n) {
            return format!("+86{n}");
        }
    }
}

struct Gen {
    rng: fastrand::Rng,
    today: Date,
    ids: std::collections::HashSet<(Date, u16)>,
    phones: std::collections::HashSet<u64>,
    out: Vec<DemoResident>,
}

impl Gen {
    fn person(&mut self, surname: &str, sex: Sex, age: i32, grid: usize, address: &str) -> usize {
        let year = self.today.year - age;
        let (birth, id_number) = loop {
            let month = self.rng.u8(1..=12);
            let day = self.rng.u8(1..=days_in_month(year, month));
            let mut seq = self.rng.u16(1..=999);
            if (seq % 2 == 1) != (sex == Sex::Male) {
                seq = if seq == 999 { 998 } else { seq + 1 };
            }
            let Some(birth) = Date::new(year, month, day) else {
                continue;
            };
            if !self.ids.insert((birth, seq)) {
                continue;
            }
            // compose only fails on a malformed region or a sequence over 999.
            if let Some(id) = idcard::compose(COUNTY.1, birth, seq) {
                break (birth, id);
            }
        };
        let has_phone = match age {
            0..=11 => false,
            12..=17 => self.rng.u8(..10) < 6,
            18..=69 => self.rng.u8(..100) < 97,
            70..=79 => self.rng.u8(..10) < 7,
            _ => self.rng.u8(..10) < 4,
        };
        let mut phones = Vec::new();
        if has_phone {
            phones.push(mobile(&mut self.rng, &mut self.phones));
            if age > 25 && self.rng.u8(..100) < 8 {
                phones.push(mobile(&mut self.rng, &mut self.phones));
            }
        }
        let mut tags = Vec::new();
        if (6..=22).contains(&age) {
            tags.push("学生".to_string());
        }
        if (18..=55).contains(&age) && self.rng.u8(..100) < 14 {
            tags.push("外出务工".to_string());
        }
        if self.rng.u8(..100) < 5 {
            tags.push("低收入".to_string());
        }
        let name = format!("{surname}{}", given_name(&mut self.rng, sex));
        self.out.push(DemoResident {
            name,
            id_number,
            sex,
            birth,
            phones,
            address: address.to_string(),
            grid,
            tags,
            relatives: Vec::new(),
            external_contacts: Vec::new(),
        });
        self.out.len() - 1
    }

    fn link(&mut self, a: usize, rel_a_to_b: &str, b: usize, rel_b_to_a: &str) {
        self.out[a].relatives.push((rel_a_to_b.to_string(), b));
        self.out[b].relatives.push((rel_b_to_a.to_string(), a));
    }
}

/// About `n` residents in households spread over `grids` (their display names,
/// used in addresses). `today` fixes ages.
pub fn residents(seed: u64, grids: &[String], n: usize, today: Date) -> Vec<DemoResident> {
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed ^ 0x5eed_da7a),
        today,
        ids: Default::default(),
        phones: Default::default(),
        out: Vec::with_capacity(n + 8),
    };
    if grids.is_empty() {
        return Vec::new();
    }
    let mut house = 1u32;
    while g.out.len() < n {
        let grid = g.rng.usize(..grids.len());
        let address = format!("{}{}路{}号", grids[grid], pick(&mut g.rng, STREETS), house);
        house += 1;
        let surname = weighted(&mut g.rng, SURNAMES);
        let kind = g.rng.u8(..100);
        if kind < 9 {
            // An old person living alone.
            let sex = if g.rng.bool() { Sex::Female } else { Sex::Male };
            let a = age(&mut g.rng, 65, 95);
            let p = g.person(surname, sex, a, grid, &address);
            g.out[p].tags.push("独居老人".to_string());
            let phone = mobile(&mut g.rng, &mut g.phones);
            let child = format!("{surname}{}", given_name(&mut g.rng, Sex::Male));
            g.out[p]
                .external_contacts
                .push(("子女".to_string(), child, phone));
        } else if kind < 17 {
            // A young single adult.
            let sex = if g.rng.bool() { Sex::Female } else { Sex::Male };
            let a = age(&mut g.rng, 18, 35);
            g.person(surname, sex, a, grid, &address);
        } else {
            // A couple, perhaps with children and a grandparent.
            let ha = age(&mut g.rng, 24, 80);
            let h = g.person(surname, Sex::Male, ha, grid, &address);
            let wife_surname = weighted(&mut g.rng, SURNAMES);
            let wa = (ha + g.rng.i32(-5..=3)).clamp(20, 95);
            let w = g.person(wife_surname, Sex::Female, wa, grid, &address);
            g.link(h, "配偶", w, "配偶");
            let kids = if ha < 60 {
                g.rng.usize(0..=2) + usize::from(ha > 28)
            } else {
                0
            };
            for _ in 0..kids {
                let ka = (wa - g.rng.i32(22..=34)).max(0);
                let sex = if g.rng.bool() { Sex::Female } else { Sex::Male };
                let k = g.person(surname, sex, ka, grid, &address);
                g.link(h, "子女", k, "父母");
                g.link(w, "子女", k, "父母");
                if ka < 16 && g.rng.u8(..100) < 20 {
                    g.out[k].tags.push("留守儿童".to_string());
                }
            }
            if ha < 50 && g.rng.u8(..100) < 30 {
                let ga = (ha + g.rng.i32(24..=32)).min(98);
                let p = g.person(surname, Sex::Female, ga, grid, &address);
                g.link(h, "父母", p, "子女");
            }
        }
    }
    g.out.truncate(n.max(1).min(g.out.len()));
    // Drop links to people cut off by the truncation.
    let len = g.out.len();
    for r in &mut g.out {
        r.relatives.retain(|(_, i)| *i < len);
    }
    g.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_has_the_real_townships() {
        let t = tree(7);
        assert_eq!(t.townships.len(), 15);
        assert!(t.townships.iter().any(|t| t.name == "天荒坪镇"));
        assert!(
            t.townships
                .iter()
                .all(|t| !t.villages.is_empty() && t.villages.iter().all(|v| !v.grids.is_empty()))
        );
    }

    #[test]
    fn residents_are_valid_unique_and_shaped() {
        let grids: Vec<String> = (0..40).map(|i| format!("G{i}")).collect();
        let today = Date::new(2026, 11, 29).unwrap();
        let rs = residents(1, &grids, 5000, today);
        assert_eq!(rs.len(), 5000);
        let ids: std::collections::HashSet<_> = rs.iter().map(|r| r.id_number.as_str().to_string()).collect();
        assert_eq!(ids.len(), rs.len());
        let phones: Vec<_> = rs.iter().flat_map(|r| r.phones.iter()).collect();
        let uniq: std::collections::HashSet<_> = phones.iter().collect();
        assert_eq!(uniq.len(), phones.len());
        for r in &rs {
            assert_eq!(
                IdNumber::parse(r.id_number.as_str()).unwrap().birth_date(),
                r.birth
            );
            assert_eq!(r.id_number.sex(), r.sex);
        }
        let old = rs.iter().filter(|r| r.birth.age_on(today) >= 60).count();
        let young = rs.iter().filter(|r| r.birth.age_on(today) < 15).count();
        assert!(old > rs.len() / 6 && old < rs.len() / 2, "old {old}");
        assert!(young > rs.len() / 12, "young {young}");
        assert!(rs.iter().any(|r| r.tags.iter().any(|t| t == "独居老人")));
        assert!(rs.iter().any(|r| !r.relatives.is_empty()));
        // Same seed, same data.
        assert_eq!(residents(1, &grids, 50, today)[7].name, rs[7].name);
    }
}

/// One demo login, printed when the demo is loaded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoLogin {
    pub username: String,
    pub password: String,
    pub role: fanzha_core::roles::Role,
    pub scope: String,
}

/// The password of every demo account. The demo is labelled as such on
/// every page; a real install has no default password.
pub const DEMO_PASSWORD: &str = "fanzha-demo";

/// What [`crate::App::load_demo`] did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoSummary {
    pub already_loaded: bool,
    pub townships: usize,
    pub villages: usize,
    pub grids: usize,
    pub units: usize,
    pub residents: usize,
    pub logins: Vec<DemoLogin>,
}

mod load {
    use super::*;
    use crate::crypto::Field;
    use crate::{App, AppError, Result};
    use fanzha_core::mask;
    use fanzha_core::org::NodeKind;
    use fanzha_core::roles::Role;
    use fanzha_core::{NodeId, ResidentId};
    use fanzha_store::{NewContact, NewResident, NewUnit, NewUser, Scope, SealedPhone};

    impl App {
        fn demo_phone(&self, e164: &str) -> Result<SealedPhone> {
            Ok(SealedPhone {
                enc: self.cipher.seal(Field::Phone, e164)?,
                bidx: self.cipher.blind_index(Field::Phone, e164),
                masked: mask::phone(e164),
            })
        }

        fn demo_sealed(
            &self,
            r: &DemoResident,
            grid: NodeId,
            links: &[Option<ResidentId>],
        ) -> Result<NewResident> {
            let mut contacts = Vec::new();
            for ((rel, _), link) in r
                .relatives
                .iter()
                .zip(links.iter().chain(std::iter::repeat(&None)))
            {
                contacts.push(NewContact {
                    relation: rel.clone(),
                    linked_resident_id: *link,
                    name: String::new(),
                    phone: None,
                });
            }
            for (rel, name, phone) in &r.external_contacts {
                contacts.push(NewContact {
                    relation: rel.clone(),
                    linked_resident_id: None,
                    name: name.clone(),
                    phone: Some(self.demo_phone(phone)?),
                });
            }
            Ok(NewResident {
                grid_id: grid,
                name: r.name.clone(),
                id_enc: self.cipher.seal(Field::IdNumber, r.id_number.as_str())?,
                id_bidx: self.cipher.blind_index(Field::IdNumber, r.id_number.as_str()),
                id_masked: mask::id_number(r.id_number.as_str()),
                birth_date: Some(r.birth),
                sex: Some(r.sex),
                address: r.address.clone(),
                phones: r
                    .phones
                    .iter()
                    .map(|p| self.demo_phone(p))
                    .collect::<Result<_>>()?,
                tags: r.tags.clone(),
                contacts,
            })
        }

        /// Loads the labelled demo into an empty database: the real county
        /// and townships, synthetic villages, grids, units, `residents`
        /// residents and one user per role. Loading twice does nothing the
        /// second time; loading into a database that holds real data is refused.
        pub async fn load_demo(&self, seed: u64, residents_n: usize) -> Result<DemoSummary> {
            let actor = self.cli_actor();
            let plan = tree(seed);
            let existing = self.store.list_nodes(&Scope::All).await?;
            if self.is_demo().await? {
                return Ok(DemoSummary {
                    already_loaded: true,
                    townships: existing.iter().filter(|n| n.kind == NodeKind::Township).count(),
                    villages: existing.iter().filter(|n| n.kind == NodeKind::Village).count(),
                    grids: existing.iter().filter(|n| n.kind == NodeKind::Grid).count(),
                    units: 0,
                    residents: self.store.count_residents(&Scope::All).await? as usize,
                    logins: demo_logins(&plan),
                });
            }
            if !existing.is_empty() {
                return Err(AppError::conflict("demo.not_empty"));
            }
            let audit = |what: &str| self.audit(&actor, what, "", "demo");
            let county = self
                .store
                .create_node(
                    None,
                    NodeKind::County,
                    &plan.county.0,
                    Some(&plan.county.1),
                    &audit("org.node.create"),
                )
                .await?;
            let mut grid_ids = Vec::new();
            let mut grid_names = Vec::new();
            let (mut villages, mut units) = (0, 0);
            let mut first = None;
            for t in &plan.townships {
                let tid = self
                    .store
                    .create_node(
                        Some(county),
                        NodeKind::Township,
                        &t.name,
                        Some(&t.code),
                        &audit("org.node.create"),
                    )
                    .await?;
                for (name, unit_type, responsible) in &t.units {
                    let unit = NewUnit {
                        node_id: tid,
                        name: name.clone(),
                        unit_type: *unit_type,
                        responsible_name: responsible.clone(),
                        responsible_phone: String::new(),
                    };
                    self.store.create_unit(&unit, &audit("org.unit.create")).await?;
                    units += 1;
                }
                for v in &t.villages {
                    let vid = self
                        .store
                        .create_node(
                            Some(tid),
                            NodeKind::Village,
                            &v.name,
                            None,
                            &audit("org.node.create"),
                        )
                        .await?;
                    villages += 1;
                    for g in &v.grids {
                        let gid = self
                            .store
                            .create_node(Some(vid), NodeKind::Grid, g, None, &audit("org.node.create"))
                            .await?;
                        if first.is_none() {
                            first = Some((tid, vid, gid));
                        }
                        grid_ids.push(gid);
                        grid_names.push(format!("{}{}{}", t.name, v.name, g));
                    }
                }
            }
            let (town, village, grid) =
                first.ok_or_else(|| AppError::Internal("demo tree is empty".into()))?;
            let today = Date::from_timestamp(self.now());
            let people = residents(seed, &grid_names, residents_n, today);
            // Insert everyone, then insert again with the links between
            // relatives, whose ids are only known after the first pass.
            let first_pass: Vec<NewResident> = people
                .iter()
                .map(|r| self.demo_sealed(r, grid_ids[r.grid], &[]))
                .collect::<Result<_>>()?;
            let mut ids = Vec::with_capacity(people.len());
            for chunk in first_pass.chunks(5_000) {
                for o in self
                    .store
                    .upsert_residents_batch(chunk, &audit("resident.import"))
                    .await?
                {
                    ids.push(o.id());
                }
            }
            let second_pass: Vec<NewResident> = people
                .iter()
                .map(|r| {
                    let links: Vec<Option<ResidentId>> =
                        r.relatives.iter().map(|(_, i)| ids.get(*i).copied()).collect();
                    self.demo_sealed(r, grid_ids[r.grid], &links)
                })
                .collect::<Result<_>>()?;
            for chunk in second_pass.chunks(5_000) {
                self.store
                    .upsert_residents_batch(chunk, &audit("resident.import"))
                    .await?;
            }
            let hash = self.hash(DEMO_PASSWORD).await?;
            for (username, display, role, node) in [
                ("admin", "演示管理员", Role::Admin, None),
                ("analyst", "演示研判员", Role::Analyst, Some(county)),
                ("leader", "演示领导", Role::Leader, Some(county)),
                ("officer", "演示民警", Role::Officer, Some(town)),
                ("liaison", "演示单位联络员", Role::UnitLiaison, Some(town)),
                ("cadre", "演示村干部", Role::GridWorker, Some(village)),
                ("grid", "演示网格员", Role::GridWorker, Some(grid)),
            ] {
                let user = NewUser {
                    username: username.into(),
                    display_name: display.into(),
                    role,
                    node_id: node,
                    password_hash: hash.clone(),
                    must_change_password: false,
                    lang: "zh".into(),
                };
                self.store.create_user(&user, &audit("user.create")).await?;
            }
            self.store.set_setting("demo", "1", &audit("setting.set")).await?;
            tracing::info!(residents = ids.len(), grids = grid_ids.len(), "demo loaded");
            Ok(DemoSummary {
                already_loaded: false,
                townships: plan.townships.len(),
                villages,
                grids: grid_ids.len(),
                units,
                residents: ids.len(),
                logins: demo_logins(&plan),
            })
        }
    }

    fn demo_logins(plan: &TreePlan) -> Vec<DemoLogin> {
        let town = plan.townships.first().map(|t| t.name.clone()).unwrap_or_default();
        let village = plan
            .townships
            .first()
            .and_then(|t| t.villages.first())
            .map(|v| v.name.clone())
            .unwrap_or_default();
        let grid = plan
            .townships
            .first()
            .and_then(|t| t.villages.first())
            .and_then(|v| v.grids.first())
            .cloned()
            .unwrap_or_default();
        let county = plan.county.0.clone();
        [
            ("admin", Role::Admin, "全部".to_string()),
            ("analyst", Role::Analyst, county.clone()),
            ("leader", Role::Leader, county),
            ("officer", Role::Officer, town.clone()),
            ("liaison", Role::UnitLiaison, town.clone()),
            ("cadre", Role::GridWorker, format!("{town}/{village}")),
            ("grid", Role::GridWorker, format!("{town}/{village}/{grid}")),
        ]
        .into_iter()
        .map(|(u, role, scope)| DemoLogin {
            username: u.into(),
            password: DEMO_PASSWORD.into(),
            role,
            scope,
        })
        .collect()
    }
}

/// What [`App::load_demo_activity`] put in.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DemoActivity {
    /// Demo fraud numbers added to the intelligence base.
    pub indicators: usize,
    /// Demo events stored (0 when they were there already).
    pub events: usize,
    /// Residents the demo events are about.
    pub people: usize,
}

mod activity {
    use super::DemoActivity;
    use crate::detect::ingest::IngestReport;
    use crate::intel::import::IntelImportRequest;
    use crate::residents::ResidentQuery;
    use crate::{App, Result};
    use fanzha_core::org::NodeKind;
    use fanzha_core::taxonomy::{FraudType, IndicatorKind};
    use fanzha_store::Scope;

    /// The demo's fraud numbers: `+86 170 0000 00xx`, a virtual-operator
    /// range, labelled by their source `feed:demo`.
    fn demo_numbers() -> Vec<String> {
        (1..=12).map(|i| format!("+861700000{i:04}")).collect()
    }

    impl App {
        /// Labelled demo activity, so that the lead and task pages of a demo
        /// have something to show: a dozen demo fraud numbers (source
        /// `feed:demo`) and, for a few demo residents (two in the demo grid
        /// worker's grid), a call from one of them, a text with fraud phrases
        /// and for some a transfer, all with source `demo`, stored through the
        /// real ingest path so that the pipeline raises leads and the task
        /// tick dispatches them. Running it again adds nothing (imports and
        /// events are idempotent).
        pub async fn load_demo_activity(&self) -> Result<DemoActivity> {
            let analyst = self.cli_intel_actor();
            let numbers = demo_numbers();
            let mut req = IntelImportRequest::new("demo-fraud-numbers.txt");
            req.format = Some(crate::intel::formats::ImportFormat::List);
            req.kind = Some(IndicatorKind::Phone);
            req.source = Some("feed:demo".into());
            req.fraud_type = Some(FraudType::ImpersonateAuthority);
            req.confidence = Some(90);
            let rep = self
                .import_intel(&analyst, numbers.join("\n").as_bytes(), &req, &|_| {})
                .await?;
            self.sync_intel().await?;
            // People: the demo grid worker's grid first, then other grids.
            let grid_node = self.store.user_by_username("grid").await?.and_then(|u| u.node_id);
            let grids: Vec<_> = self
                .store
                .list_nodes(&Scope::All)
                .await?
                .into_iter()
                .filter(|n| n.kind == NodeKind::Grid && Some(n.id) != grid_node)
                .map(|n| n.id)
                .collect();
            let mut picks = Vec::new();
            let mut plan = Vec::new();
            if let Some(g) = grid_node {
                plan.push((g, 2));
            }
            for g in grids.iter().step_by(grids.len().div_ceil(6).max(1)).take(6) {
                plan.push((*g, 1));
            }
            for (node, n) in plan {
                let mut f = self.filter_for(
                    &ResidentQuery {
                        node: Some(node),
                        age_min: Some(55),
                        ..Default::default()
                    },
                    fanzha_core::time::Date::from_timestamp(self.now()),
                );
                f.limit = Some(20);
                let (items, _) = self.store.list_residents(&Scope::All, &f).await?;
                // Synthetic residents' numbers, opened inside the app to
                // address the demo events (no one is shown them).
                for r in items.iter().filter(|r| r.phone_masked.is_some()).take(n) {
                    let full = self.resident_in(&Scope::All, r.id).await?;
                    if let Some(p) = full.phones.first() {
                        picks.push(self.cipher.open(crate::crypto::Field::Phone, &p.enc)?);
                    }
                }
            }
            let now = self.now().0;
            let mut lines = Vec::new();
            for (i, phone) in picks.iter().enumerate() {
                let caller = &numbers[i % numbers.len()];
                let t0 = now - 50 * 60_000 + i as i64 * 60_000;
                // A spread of grades: a short call alone, a text alone, or
                // the whole chain of call, text and transfer.
                let duration = if i % 4 == 1 { 90 } else { 900 + 60 * i };
                if i % 4 != 2 {
                    lines.push(serde_json::json!({
                        "id": format!("demo-call-{i}"), "ts": t0, "source": "demo", "kind": "call",
                        "caller": caller, "callee": phone, "direction": "in", "duration_s": duration,
                    }));
                }
                if i % 4 == 1 {
                    continue;
                }
                lines.push(serde_json::json!({
                    "id": format!("demo-sms-{i}"), "ts": t0 + 16 * 60_000, "source": "demo", "kind": "sms",
                    "sender": caller, "receiver": phone,
                    "text": "【演示】您的账户涉嫌洗钱，请立即将资金转入安全账户配合调查，不要告诉家人。",
                }));
                if i % 3 == 0 {
                    lines.push(serde_json::json!({
                        "id": format!("demo-transfer-{i}"), "ts": t0 + 25 * 60_000, "source": "demo",
                        "kind": "transfer", "payer": phone,
                        "payee": {"kind": "bank_account", "value": "6222020000000000008"},
                        "amount_fen": 2_000_000,
                    }));
                }
            }
            let body = lines.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n");
            let ing: IngestReport = self.ingest_ndjson(&self.cli_actor(), body.as_bytes()).await?;
            tracing::info!(
                indicators = rep.added,
                events = ing.accepted,
                people = picks.len(),
                "demo activity loaded"
            );
            Ok(DemoActivity {
                indicators: rep.added,
                events: ing.accepted,
                people: picks.len(),
            })
        }
    }
}
