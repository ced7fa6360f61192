//! The residents as the pipeline sees them: keyed person key → resident,
//! grid and the attributes that raise vulnerability (age, tags). Built from
//! the store's phone blind indexes, so no phone is decrypted.

use crate::{App, Result};
use fanzha_core::time::Date;
use fanzha_core::{NodeId, ResidentId, Timestamp};
use fanzha_engine::detect::PersonAttrs;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Keys are keyed hashes already: use them as they are.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// One resident, as the pipeline needs it.
#[derive(Clone, Debug)]
pub struct Person {
    pub resident_id: ResidentId,
    pub grid: NodeId,
    pub attrs: Arc<PersonAttrs>,
}

/// Person key → resident. Residents sharing a phone: the lowest id wins.
#[derive(Default)]
pub struct Directory {
    people: KeyMap<Person>,
    /// Where leads of unknown subscribers go.
    pub unknown_node: Option<NodeId>,
    /// Residents read.
    pub residents: usize,
    /// When it was built (app clock).
    pub built_at: Timestamp,
    default_attrs: PersonAttrs,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("keys", &self.people.len())
            .field("residents", &self.residents)
            .finish()
    }
}

/// Rows read per page while building.
const PAGE: usize = 5_000;

impl Directory {
    pub fn get(&self, person_key: u64) -> Option<&Person> {
        self.people.get(&person_key)
    }
    /// The attributes of a person (none for unknown subscribers).
    pub fn attrs(&self, person_key: u64) -> &PersonAttrs {
        self.people
            .get(&person_key)
            .map_or(&self.default_attrs, |p| &p.attrs)
    }
    pub fn len(&self) -> usize {
        self.people.len()
    }
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }
    /// The node a lead of this person belongs to.
    pub fn node_of(&self, person_key: u64) -> Option<NodeId> {
        self.get(person_key).map(|p| p.grid).or(self.unknown_node)
    }
}

fn age_on(birth: Option<Date>, today: Date) -> Option<u8> {
    let b = birth?;
    u8::try_from(b.age_on(today)).ok()
}

impl App {
    /// Reads every resident's phone indexes, grid, age and tags.
    pub(crate) async fn build_directory(&self) -> Result<Directory> {
        let now = self.now();
        let today = Date::from_timestamp(now);
        let mut people: KeyMap<Person> = KeyMap::default();
        let mut tag_sets: HashMap<Vec<String>, Arc<PersonAttrs>> = HashMap::new();
        let mut after = None;
        let mut residents = 0usize;
        loop {
            let page = self.store.resident_directory_page(after, PAGE).await?;
            let short = page.len() < PAGE;
            for e in page {
                after = Some(e.resident_id);
                residents += 1;
                let age = age_on(e.birth_date, today);
                let attrs = PersonAttrs { age, tags: e.tags };
                // Share identical attribute sets (most residents have few tags).
                let shared = match tag_sets.get(&attrs.tags) {
                    Some(a) if a.age == age => a.clone(),
                    _ => {
                        let a = Arc::new(attrs.clone());
                        if attrs.tags.is_empty() || tag_sets.len() < 10_000 {
                            tag_sets.insert(attrs.tags.clone(), a.clone());
                        }
                        a
                    }
                };
                for b in &e.phone_bidx {
                    let Some(head) = b.get(..8) else { continue };
                    let mut k = [0u8; 8];
                    k.copy_from_slice(head);
                    let key = u64::from_le_bytes(k);
                    people.entry(key).or_insert_with(|| Person {
                        resident_id: e.resident_id,
                        grid: e.grid_id,
                        attrs: shared.clone(),
                    });
                }
            }
            if short {
                break;
            }
        }
        let unknown_node = match self.cfg.detect.unknown_node {
            Some(n) => Some(n),
            None => self
                .store
                .list_nodes(&fanzha_store::Scope::All)
                .await?
                .into_iter()
                .filter(|n| n.parent_id.is_none())
                .map(|n| n.id)
                .min_by_key(|n| n.0),
        };
        Ok(Directory {
            people,
            unknown_node,
            residents,
            built_at: now,
            default_attrs: PersonAttrs::default(),
        })
    }

    /// Rebuilds the directory and swaps it in.
    pub(crate) async fn refresh_directory(&self) -> Result<()> {
        self.detect
            .directory_dirty
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let started = std::time::Instant::now();
        let d = match self.build_directory().await {
            Ok(d) => d,
            Err(e) => {
                self.detect
                    .directory_dirty
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(e);
            }
        };
        tracing::info!(
            residents = d.residents,
            keys = d.len(),
            ms = started.elapsed().as_millis() as u64,
            "resident directory built"
        );
        *self.detect.directory.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(d);
        Ok(())
    }
}
