//! The small seam between the shared store logic and the two drivers.
//!
//! All SQL is written once, with PostgreSQL's `$1` placeholders, and run
//! through [`Db`]. The SQLite side rewrites the placeholders to `?1` and runs
//! synchronously (its futures are ready on first poll); the PostgreSQL side
//! awaits the server. Values cross the seam as [`P`] (parameters, borrowed
//! where possible) and come back as [`Row`]s of owned [`V`]s.

use crate::error::{Result, StoreError};
use fanzha_core::Timestamp;
use fanzha_core::org::OrgPath;
use std::borrow::Cow;
use std::future::Future;

/// Which SQL dialect a [`Db`] speaks, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound parameter.
#[derive(Clone, Debug)]
pub(crate) enum P<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
    Bool(bool),
}

impl From<i64> for P<'_> {
    fn from(v: i64) -> Self {
        P::Int(v)
    }
}
impl From<bool> for P<'_> {
    fn from(v: bool) -> Self {
        P::Bool(v)
    }
}
impl<'a> From<&'a str> for P<'a> {
    fn from(v: &'a str) -> Self {
        P::Text(Cow::Borrowed(v))
    }
}
impl<'a> From<&'a String> for P<'a> {
    fn from(v: &'a String) -> Self {
        P::Text(Cow::Borrowed(v.as_str()))
    }
}
impl From<String> for P<'_> {
    fn from(v: String) -> Self {
        P::Text(Cow::Owned(v))
    }
}
impl<'a> From<&'a [u8]> for P<'a> {
    fn from(v: &'a [u8]) -> Self {
        P::Blob(Cow::Borrowed(v))
    }
}
impl<'a> From<&'a Vec<u8>> for P<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        P::Blob(Cow::Borrowed(v.as_slice()))
    }
}
impl From<Timestamp> for P<'_> {
    fn from(v: Timestamp) -> Self {
        P::Int(v.0)
    }
}
impl<'a, T: Into<P<'a>>> From<Option<T>> for P<'a> {
    fn from(v: Option<T>) -> Self {
        match v {
            Some(v) => v.into(),
            None => P::Null,
        }
    }
}

macro_rules! id_params {
    ($($t:ty),*) => {$(
        impl From<$t> for P<'_> {
            fn from(v: $t) -> Self {
                P::Int(v.0)
            }
        }
    )*};
}
id_params!(
    fanzha_core::NodeId,
    fanzha_core::UnitId,
    fanzha_core::ResidentId,
    fanzha_core::UserId,
    fanzha_core::TokenId
);

/// Builds a parameter slice: `params![a, b, c]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::db::P::from($v)),*][..]
    };
}
pub(crate) use params;

/// A value read back.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum V {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

/// One result row. Accessors take the value out of the row.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<V>);

fn bad(i: usize, want: &str) -> StoreError {
    StoreError::corrupt(format!("column {i} is not {want}"))
}

impl Row {
    fn take(&mut self, i: usize) -> V {
        match self.0.get_mut(i) {
            Some(v) => std::mem::replace(v, V::Null),
            None => V::Null,
        }
    }
    pub(crate) fn opt_i64(&mut self, i: usize) -> Result<Option<i64>> {
        match self.take(i) {
            V::Null => Ok(None),
            V::Int(v) => Ok(Some(v)),
            V::Bool(b) => Ok(Some(i64::from(b))),
            _ => Err(bad(i, "an integer")),
        }
    }
    pub(crate) fn i64(&mut self, i: usize) -> Result<i64> {
        self.opt_i64(i)?.ok_or_else(|| bad(i, "a non-null integer"))
    }
    pub(crate) fn ts(&mut self, i: usize) -> Result<Timestamp> {
        self.i64(i).map(Timestamp)
    }
    pub(crate) fn opt_ts(&mut self, i: usize) -> Result<Option<Timestamp>> {
        Ok(self.opt_i64(i)?.map(Timestamp))
    }
    pub(crate) fn bool(&mut self, i: usize) -> Result<bool> {
        match self.take(i) {
            V::Bool(b) => Ok(b),
            V::Int(v) => Ok(v != 0),
            _ => Err(bad(i, "a boolean")),
        }
    }
    pub(crate) fn opt_text(&mut self, i: usize) -> Result<Option<String>> {
        match self.take(i) {
            V::Null => Ok(None),
            V::Text(s) => Ok(Some(s)),
            _ => Err(bad(i, "text")),
        }
    }
    pub(crate) fn text(&mut self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| bad(i, "non-null text"))
    }
    pub(crate) fn opt_blob(&mut self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.take(i) {
            V::Null => Ok(None),
            V::Blob(b) => Ok(Some(b)),
            _ => Err(bad(i, "a byte string")),
        }
    }
    pub(crate) fn blob(&mut self, i: usize) -> Result<Vec<u8>> {
        self.opt_blob(i)?.ok_or_else(|| bad(i, "a non-null byte string"))
    }
    pub(crate) fn path(&mut self, i: usize) -> Result<OrgPath> {
        let s = self.text(i)?;
        OrgPath::parse(&s).ok_or_else(|| StoreError::corrupt("malformed org path"))
    }
}

/// A connection or transaction of either backend.
///
/// The futures are not required to be `Send`: SQLite's never leave the
/// blocking thread they run on, and PostgreSQL's are `Send` by their concrete
/// type, which the compiler sees where they are awaited.
pub(crate) trait Db {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the number of rows changed.
    fn exec(&self, sql: &str, params: &[P<'_>]) -> impl Future<Output = Result<u64>>;
    /// Runs a query and collects its rows.
    fn query(&self, sql: &str, params: &[P<'_>]) -> impl Future<Output = Result<Vec<Row>>>;
    /// Runs several `;`-separated statements without parameters.
    fn batch(&self, sql: &str) -> impl Future<Output = Result<()>>;

    /// The first row, if any.
    fn query_opt(&self, sql: &str, params: &[P<'_>]) -> impl Future<Output = Result<Option<Row>>> {
        async move { Ok(self.query(sql, params).await?.into_iter().next()) }
    }
    /// Exactly one row.
    fn query_one(&self, sql: &str, params: &[P<'_>]) -> impl Future<Output = Result<Row>> {
        async move {
            self.query_opt(sql, params)
                .await?
                .ok_or_else(|| StoreError::Backend("query returned no row".into()))
        }
    }
    /// A single integer from the first column of the first row (e.g. a count).
    fn query_i64(&self, sql: &str, params: &[P<'_>]) -> impl Future<Output = Result<i64>> {
        async move { self.query_one(sql, params).await?.i64(0) }
    }
}

/// SQL text with numbered parameters, built piece by piece.
pub(crate) struct Q<'a> {
    pub(crate) sql: String,
    pub(crate) params: Vec<P<'a>>,
}

impl<'a> Q<'a> {
    pub(crate) fn new(sql: &str) -> Self {
        Q {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }
    /// Appends raw SQL.
    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }
    /// Appends a placeholder bound to `v`.
    pub(crate) fn bind(&mut self, v: impl Into<P<'a>>) -> &mut Self {
        self.params.push(v.into());
        self.sql.push('$');
        self.sql.push_str(&self.params.len().to_string());
        self
    }
    /// Appends `AND <col> >= lo AND <col> < hi` for a subtree scope.
    pub(crate) fn scope(&mut self, col: &str, scope: &crate::Scope) -> &mut Self {
        if let crate::Scope::Subtree(p) = scope {
            self.subtree(col, p);
        }
        self
    }
    /// Appends the range condition for paths inside `path`.
    pub(crate) fn subtree(&mut self, col: &str, path: &OrgPath) -> &mut Self {
        let (lo, hi) = subtree_bounds(path);
        self.push(" AND ").push(col).push(" >= ").bind(lo);
        self.push(" AND ").push(col).push(" < ").bind(hi);
        self
    }
}

/// Paths inside `path` (itself included) are those `>= path` and `< hi`,
/// where `hi` is `path` with its closing `/` replaced by `0`, the next byte.
/// Range conditions use the path index in both backends (PostgreSQL's column
/// uses the "C" collation so that byte order holds).
pub(crate) fn subtree_bounds(path: &OrgPath) -> (String, String) {
    let lo = path.as_str().to_string();
    let mut hi = lo.clone();
    hi.pop();
    hi.push('0');
    (lo, hi)
}

/// Rewrites `$N` placeholders to SQLite's `?N` (borrowing when there are none).
pub(crate) fn to_sqlite_placeholders(sql: &str) -> Cow<'_, str> {
    let bytes = sql.as_bytes();
    let is_placeholder = |i: usize| bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
    let Some(first) = (0..bytes.len()).find(|&i| bytes[i] == b'$' && is_placeholder(i)) else {
        return Cow::Borrowed(sql);
    };
    let mut out = String::with_capacity(sql.len());
    let mut start = 0;
    let mut i = first;
    while i < bytes.len() {
        if bytes[i] == b'$' && is_placeholder(i) {
            // `$` is ASCII, so `start..i` and `i + 1..` are char boundaries.
            out.push_str(&sql[start..i]);
            out.push('?');
            start = i + 1;
        }
        i += 1;
    }
    out.push_str(&sql[start..]);
    Cow::Owned(out)
}

/// Runs a future that never waits (SQLite's) to completion on this thread.
pub(crate) fn run_sync<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    // SQLite futures complete on the first poll; a few more polls cost
    // nothing and keep a surprise from becoming a hang.
    for _ in 0..1000 {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    Err(StoreError::Backend(
        "synchronous database call did not complete".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fanzha_core::NodeId;

    #[test]
    fn placeholders() {
        assert_eq!(
            to_sqlite_placeholders("SELECT a FROM t WHERE x = $1 AND y IN ($2, $10)"),
            "SELECT a FROM t WHERE x = ?1 AND y IN (?2, ?10)"
        );
        assert_eq!(to_sqlite_placeholders("SELECT '$' || a"), "SELECT '$' || a");
    }

    #[test]
    fn bounds() {
        let p = OrgPath::root(NodeId(1)).child(NodeId(5));
        let (lo, hi) = subtree_bounds(&p);
        assert_eq!((lo.as_str(), hi.as_str()), ("/1/5/", "/1/50"));
        for inside in ["/1/5/", "/1/5/23/", "/1/5/9999/1/"] {
            assert!(inside >= lo.as_str() && inside < hi.as_str(), "{inside}");
        }
        for outside in ["/1/", "/1/50/", "/1/55/", "/1/6/", "/1/4/"] {
            assert!(!(outside >= lo.as_str() && outside < hi.as_str()), "{outside}");
        }
    }
}
