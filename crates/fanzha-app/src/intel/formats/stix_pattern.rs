//! The STIX 2.1 patterning language (STIX 2.1 §9): a recursive-descent
//! parser for the whole grammar, and [`disjuncts`], which takes from a parsed
//! pattern the plain `object:path = 'value'` comparisons an indicator base can
//! hold.
//!
//! Grammar, loosest binding first (keywords are upper case):
//!
//! ```text
//! pattern      = obs_seq EOF
//! obs_seq      = obs_or ("FOLLOWEDBY" obs_or)*
//! obs_or       = obs_and ("OR" obs_and)*
//! obs_and      = obs_qual ("AND" obs_qual)*
//! obs_qual     = obs ( "WITHIN" number "SECONDS" | "REPEATS" int "TIMES"
//!                    | "START" t'…' "STOP" t'…' )*
//! obs          = "[" cmp_or "]" | "(" obs_seq ")"
//! cmp_or       = cmp_and ("OR" cmp_and)*
//! cmp_and      = cmp ("AND" cmp)*
//! cmp          = "(" cmp_or ")" | "EXISTS" path
//!              | path ["NOT"] op literal
//! op           = "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//!              | "IN" | "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET"
//! path         = type ":" step ("." step | "[" (int | "*") "]")*
//! step         = identifier | 'string'
//! literal      = 'string' | number | true | false | t'…' | h'…' | b'…'
//!              | "(" literal ("," literal)* ")"
//! ```
//!
//! Strings are single-quoted; inside them only `\'` and `\\` are escapes.

use std::fmt;

/// Longest pattern parsed, in bytes.
pub const MAX_PATTERN_BYTES: usize = 16 * 1024;
/// Deepest nesting of brackets and parentheses.
pub const MAX_DEPTH: usize = 48;

#[derive(Clone, Debug, PartialEq)]
pub enum ObsExpr {
    Observation(CmpExpr),
    And(Vec<ObsExpr>),
    Or(Vec<ObsExpr>),
    FollowedBy(Vec<ObsExpr>),
    Qualified(Box<ObsExpr>, Qualifier),
}

#[derive(Clone, Debug, PartialEq)]
pub enum CmpExpr {
    And(Vec<CmpExpr>),
    Or(Vec<CmpExpr>),
    Exists(ObjectPath),
    Test(Comparison),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Qualifier {
    Within(f64),
    Repeats(u64),
    StartStop(String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub path: ObjectPath,
    pub negated: bool,
    pub op: Op,
    pub value: Literal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::Like => "LIKE",
            Op::Matches => "MATCHES",
            Op::IsSubset => "ISSUBSET",
            Op::IsSuperset => "ISSUPERSET",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObjectPath {
    pub object_type: String,
    pub steps: Vec<PathStep>,
}

impl ObjectPath {
    /// `type:a.b` for simple paths (used to match supported targets).
    pub fn dotted(&self) -> String {
        let mut s = format!("{}:", self.object_type);
        for (i, st) in self.steps.iter().enumerate() {
            match st {
                PathStep::Key(k) => {
                    if i > 0 {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                PathStep::Index(Some(n)) => s.push_str(&format!("[{n}]")),
                PathStep::Index(None) => s.push_str("[*]"),
            }
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PathStep {
    Key(String),
    /// `[n]`, or `[*]` as `None`.
    Index(Option<i64>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Timestamp(String),
    Hex(String),
    Binary(String),
    Set(Vec<Literal>),
}

/// A syntax error and the byte offset where it was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct PatternError {
    pub at: usize,
    pub what: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    Star,
    Op(Op),
    Word(String),
    Str(String),
    Typed(char, String),
    Num(String),
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn err(&self, what: &'static str) -> PatternError {
        PatternError { at: self.pos, what }
    }

    fn peek_char(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn quoted(&mut self) -> Result<String, PatternError> {
        // The opening quote has been consumed.
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err("unterminated string")),
                Some('\'') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c @ ('\'' | '\\')) => out.push(c),
                    _ => return Err(self.err("invalid escape in string (only \\' and \\\\)")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn next(&mut self) -> Result<Option<(usize, Tok)>, PatternError> {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else { return Ok(None) };
        let two = |l: &mut Self, next: char| {
            if l.peek_char() == Some(next) {
                l.bump();
                true
            } else {
                false
            }
        };
        let tok = match c {
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            ':' => Tok::Colon,
            '.' => Tok::Dot,
            '*' => Tok::Star,
            '=' => {
                two(self, '=');
                Tok::Op(Op::Eq)
            }
            '!' => {
                if !two(self, '=') {
                    return Err(self.err("expected != "));
                }
                Tok::Op(Op::Ne)
            }
            '<' => {
                if two(self, '=') {
                    Tok::Op(Op::Le)
                } else if two(self, '>') {
                    Tok::Op(Op::Ne)
                } else {
                    Tok::Op(Op::Lt)
                }
            }
            '>' => {
                if two(self, '=') {
                    Tok::Op(Op::Ge)
                } else {
                    Tok::Op(Op::Gt)
                }
            }
            '\'' => Tok::Str(self.quoted()?),
            c @ ('t' | 'h' | 'b') if self.peek_char() == Some('\'') => {
                self.bump();
                Tok::Typed(c, self.quoted()?)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut n = String::from(c);
                while let Some(d) = self.peek_char().filter(|d| d.is_ascii_digit() || *d == '.') {
                    n.push(d);
                    self.bump();
                }
                if n == "-" || n == "+" {
                    return Err(PatternError {
                        at: start,
                        what: "a sign without a number",
                    });
                }
                Tok::Num(n)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut w = String::from(c);
                while let Some(d) = self
                    .peek_char()
                    .filter(|d| d.is_ascii_alphanumeric() || matches!(d, '_' | '-'))
                {
                    w.push(d);
                    self.bump();
                }
                Tok::Word(w)
            }
            _ => {
                return Err(PatternError {
                    at: start,
                    what: "unexpected character",
                });
            }
        };
        Ok(Some((start, tok)))
    }
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn at(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.0)
    }
    fn err(&self, what: &'static str) -> PatternError {
        PatternError { at: self.at(), what }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.1.clone());
        if t.is_some() {
            self.i += 1;
        }
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: Tok, what: &'static str) -> Result<(), PatternError> {
        if self.peek() == Some(&t) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }
    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.err("nested too deeply"))
        } else {
            Ok(())
        }
    }

    fn obs_seq(&mut self) -> Result<ObsExpr, PatternError> {
        let mut v = vec![self.obs_or()?];
        while self.eat_word("FOLLOWEDBY") {
            v.push(self.obs_or()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            ObsExpr::FollowedBy(v)
        })
    }

    fn obs_or(&mut self) -> Result<ObsExpr, PatternError> {
        let mut v = vec![self.obs_and()?];
        while self.eat_word("OR") {
            v.push(self.obs_and()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { ObsExpr::Or(v) })
    }

    fn obs_and(&mut self) -> Result<ObsExpr, PatternError> {
        let mut v = vec![self.obs_qual()?];
        while self.eat_word("AND") {
            v.push(self.obs_qual()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            ObsExpr::And(v)
        })
    }

    fn obs_qual(&mut self) -> Result<ObsExpr, PatternError> {
        let mut e = self.obs()?;
        loop {
            let q = if self.eat_word("WITHIN") {
                let n = match self.next() {
                    Some(Tok::Num(n)) => n.parse::<f64>().ok().filter(|f| f.is_finite() && *f > 0.0),
                    _ => None,
                };
                let n = n.ok_or_else(|| self.err("WITHIN needs a positive number"))?;
                if !self.eat_word("SECONDS") {
                    return Err(self.err("expected SECONDS"));
                }
                Qualifier::Within(n)
            } else if self.eat_word("REPEATS") {
                let n = match self.next() {
                    Some(Tok::Num(n)) => n.parse::<u64>().ok().filter(|n| *n > 0),
                    _ => None,
                };
                let n = n.ok_or_else(|| self.err("REPEATS needs a positive integer"))?;
                if !self.eat_word("TIMES") {
                    return Err(self.err("expected TIMES"));
                }
                Qualifier::Repeats(n)
            } else if self.eat_word("START") {
                let Some(Tok::Typed('t', a)) = self.next() else {
                    return Err(self.err("START needs a t'…' timestamp"));
                };
                if !self.eat_word("STOP") {
                    return Err(self.err("expected STOP"));
                }
                let Some(Tok::Typed('t', b)) = self.next() else {
                    return Err(self.err("STOP needs a t'…' timestamp"));
                };
                Qualifier::StartStop(a, b)
            } else {
                return Ok(e);
            };
            e = ObsExpr::Qualified(Box::new(e), q);
        }
    }

    fn obs(&mut self) -> Result<ObsExpr, PatternError> {
        self.enter()?;
        let r = match self.next() {
            Some(Tok::LBracket) => {
                let c = self.cmp_or()?;
                self.expect(Tok::RBracket, "expected ]")?;
                ObsExpr::Observation(c)
            }
            Some(Tok::LParen) => {
                let o = self.obs_seq()?;
                self.expect(Tok::RParen, "expected )")?;
                o
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                return Err(self.err("expected [ or ("));
            }
        };
        self.depth -= 1;
        Ok(r)
    }

    fn cmp_or(&mut self) -> Result<CmpExpr, PatternError> {
        let mut v = vec![self.cmp_and()?];
        while self.eat_word("OR") {
            v.push(self.cmp_and()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { CmpExpr::Or(v) })
    }

    fn cmp_and(&mut self) -> Result<CmpExpr, PatternError> {
        let mut v = vec![self.cmp()?];
        while self.eat_word("AND") {
            v.push(self.cmp()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            CmpExpr::And(v)
        })
    }

    fn cmp(&mut self) -> Result<CmpExpr, PatternError> {
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            self.enter()?;
            let c = self.cmp_or()?;
            self.expect(Tok::RParen, "expected )")?;
            self.depth -= 1;
            return Ok(c);
        }
        if self.eat_word("EXISTS") {
            return Ok(CmpExpr::Exists(self.path()?));
        }
        let path = self.path()?;
        let negated = self.eat_word("NOT");
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            Some(Tok::Word(w)) => match w.as_str() {
                "IN" => Op::In,
                "LIKE" => Op::Like,
                "MATCHES" => Op::Matches,
                "ISSUBSET" => Op::IsSubset,
                "ISSUPERSET" => Op::IsSuperset,
                _ => {
                    self.i -= 1;
                    return Err(self.err("expected a comparison operator"));
                }
            },
            _ => {
                self.i = self.i.saturating_sub(1);
                return Err(self.err("expected a comparison operator"));
            }
        };
        let value = self.literal(true)?;
        if matches!(value, Literal::Set(_)) != (op == Op::In) {
            return Err(self.err("IN takes a set; other operators take a single value"));
        }
        Ok(CmpExpr::Test(Comparison {
            path,
            negated,
            op,
            value,
        }))
    }

    fn path(&mut self) -> Result<ObjectPath, PatternError> {
        let object_type = match self.next() {
            Some(Tok::Word(w)) => w,
            _ => {
                self.i = self.i.saturating_sub(1);
                return Err(self.err("expected an object type"));
            }
        };
        self.expect(Tok::Colon, "expected : after the object type")?;
        let mut steps = vec![self.step()?];
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.i += 1;
                    steps.push(self.step()?);
                }
                Some(Tok::LBracket) => {
                    self.i += 1;
                    let ix = match self.next() {
                        Some(Tok::Star) => None,
                        Some(Tok::Num(n)) => Some(n.parse::<i64>().map_err(|_| self.err("bad list index"))?),
                        _ => return Err(self.err("expected a list index or *")),
                    };
                    self.expect(Tok::RBracket, "expected ]")?;
                    steps.push(PathStep::Index(ix));
                }
                _ => return Ok(ObjectPath { object_type, steps }),
            }
        }
    }

    fn step(&mut self) -> Result<PathStep, PatternError> {
        match self.next() {
            Some(Tok::Word(w)) if !w.contains('-') => Ok(PathStep::Key(w)),
            Some(Tok::Str(s)) => Ok(PathStep::Key(s)),
            _ => {
                self.i = self.i.saturating_sub(1);
                Err(self.err("expected a property name"))
            }
        }
    }

    fn literal(&mut self, set_ok: bool) -> Result<Literal, PatternError> {
        Ok(match self.next() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Typed('t', s)) => Literal::Timestamp(s),
            Some(Tok::Typed('h', s)) => Literal::Hex(s),
            Some(Tok::Typed(_, s)) => Literal::Binary(s),
            Some(Tok::Num(n)) => {
                if let Ok(i) = n.parse::<i64>() {
                    Literal::Int(i)
                } else {
                    let f = n.parse::<f64>().ok().filter(|f| f.is_finite());
                    Literal::Float(f.ok_or_else(|| self.err("bad number"))?)
                }
            }
            Some(Tok::Word(w)) if w == "true" || w == "false" => Literal::Bool(w == "true"),
            Some(Tok::LParen) if set_ok => {
                let mut v = vec![self.literal(false)?];
                while self.peek() == Some(&Tok::Comma) {
                    self.i += 1;
                    v.push(self.literal(false)?);
                }
                self.expect(Tok::RParen, "expected ) after the set")?;
                Literal::Set(v)
            }
            _ => {
                self.i = self.i.saturating_sub(1);
                return Err(self.err("expected a value"));
            }
        })
    }
}

/// Parses a whole pattern.
pub fn parse_pattern(s: &str) -> Result<ObsExpr, PatternError> {
    if s.len() > MAX_PATTERN_BYTES {
        return Err(PatternError {
            at: 0,
            what: "pattern too long",
        });
    }
    let mut lx = Lexer { s, pos: 0 };
    let mut toks = Vec::new();
    while let Some(t) = lx.next()? {
        toks.push(t);
    }
    let mut p = Parser {
        toks,
        i: 0,
        end: s.len(),
        depth: 0,
    };
    let e = p.obs_seq()?;
    if p.i < p.toks.len() {
        return Err(p.err("unexpected text after the pattern"));
    }
    Ok(e)
}

/// What an indicator value can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    DomainName,
    Url,
    Ipv4,
    Ipv6,
    /// `file:hashes.'SHA-256'`: an APK.
    FileSha256,
    /// `x509-certificate:hashes.'SHA-256'`: a signing certificate.
    CertSha256,
}

/// Why (part of) a pattern cannot be an indicator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// `AND` between comparisons or observations.
    And,
    /// `FOLLOWEDBY`.
    FollowedBy,
    /// `WITHIN`, `REPEATS`, `START … STOP`.
    Qualifier,
    /// `EXISTS`.
    Exists,
    /// `NOT`.
    Negation,
    /// An operator other than `=`.
    Operator(&'static str),
    /// A path this base has no kind for (the `type:path` text).
    Path(String),
    /// A value that is not a string.
    NotString,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::And => f.write_str("AND"),
            Unsupported::FollowedBy => f.write_str("FOLLOWEDBY"),
            Unsupported::Qualifier => f.write_str("qualifier"),
            Unsupported::Exists => f.write_str("EXISTS"),
            Unsupported::Negation => f.write_str("NOT"),
            Unsupported::Operator(o) => f.write_str(o),
            Unsupported::Path(p) => f.write_str(p),
            Unsupported::NotString => f.write_str("non-string value"),
        }
    }
}

fn target(path: &ObjectPath) -> Option<Target> {
    let key = |i: usize| match path.steps.get(i) {
        Some(PathStep::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    let sha256 =
        || path.steps.len() == 2 && key(0) == Some("hashes") && matches!(key(1), Some("SHA-256" | "SHA256"));
    match path.object_type.as_str() {
        "domain-name" if path.steps.len() == 1 && key(0) == Some("value") => Some(Target::DomainName),
        "url" if path.steps.len() == 1 && key(0) == Some("value") => Some(Target::Url),
        "ipv4-addr" if path.steps.len() == 1 && key(0) == Some("value") => Some(Target::Ipv4),
        "ipv6-addr" if path.steps.len() == 1 && key(0) == Some("value") => Some(Target::Ipv6),
        "file" if sha256() => Some(Target::FileSha256),
        "x509-certificate" if sha256() => Some(Target::CertSha256),
        _ => None,
    }
}

/// One alternative of a pattern: a target and its value, or why it cannot
/// be taken.
pub type Alternative = Result<(Target, String), Unsupported>;

/// The alternatives of a pattern that is a disjunction (`OR` of comparisons
/// inside one observation, or of observations) of `=` comparisons: each is
/// a target and a value, or why it cannot be taken. A pattern with `AND`,
/// `FOLLOWEDBY` or a qualifier anywhere cannot be split into alternatives and
/// is refused whole.
pub fn disjuncts(e: &ObsExpr) -> Result<Vec<Alternative>, Unsupported> {
    let mut out = Vec::new();
    obs_disjuncts(e, &mut out)?;
    Ok(out)
}

fn obs_disjuncts(e: &ObsExpr, out: &mut Vec<Alternative>) -> Result<(), Unsupported> {
    match e {
        ObsExpr::Observation(c) => cmp_disjuncts(c, out),
        ObsExpr::Or(v) => v.iter().try_for_each(|x| obs_disjuncts(x, out)),
        ObsExpr::And(_) => Err(Unsupported::And),
        ObsExpr::FollowedBy(_) => Err(Unsupported::FollowedBy),
        ObsExpr::Qualified(..) => Err(Unsupported::Qualifier),
    }
}

fn cmp_disjuncts(c: &CmpExpr, out: &mut Vec<Alternative>) -> Result<(), Unsupported> {
    match c {
        CmpExpr::Or(v) => v.iter().try_for_each(|x| cmp_disjuncts(x, out)),
        CmpExpr::And(_) => Err(Unsupported::And),
        CmpExpr::Exists(_) => {
            out.push(Err(Unsupported::Exists));
            Ok(())
        }
        CmpExpr::Test(t) => {
            out.push(if t.negated {
                Err(Unsupported::Negation)
            } else if t.op != Op::Eq {
                Err(Unsupported::Operator(t.op.as_str()))
            } else {
                match (target(&t.path), &t.value) {
                    (None, _) => Err(Unsupported::Path(t.path.dotted())),
                    (Some(tg), Literal::Str(s)) => Ok((tg, s.clone())),
                    (Some(_), _) => Err(Unsupported::NotString),
                }
            });
            Ok(())
        }
    }
}

/// Quotes a string as a pattern literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: &str) -> Vec<Alternative> {
        disjuncts(&parse_pattern(p).unwrap()).unwrap()
    }

    #[test]
    fn simple_and_or() {
        assert_eq!(
            values("[domain-name:value = 'evil.com']"),
            vec![Ok((Target::DomainName, "evil.com".into()))]
        );
        let v = values(
            "[url:value = 'http://a.com/x\\'y' OR ipv4-addr:value = '1.2.3.0/24'] OR [ipv6-addr:value = '::1']",
        );
        assert_eq!(
            v,
            vec![
                Ok((Target::Url, "http://a.com/x'y".into())),
                Ok((Target::Ipv4, "1.2.3.0/24".into())),
                Ok((Target::Ipv6, "::1".into()))
            ]
        );
        let v = values(
            "[file:hashes.'SHA-256' = 'aa' OR file:hashes.MD5 = 'bb' OR domain-name:value != 'x.com']",
        );
        assert_eq!(v[0], Ok((Target::FileSha256, "aa".into())));
        assert_eq!(v[1], Err(Unsupported::Path("file:hashes.MD5".into())));
        assert_eq!(v[2], Err(Unsupported::Operator("!=")));
    }

    #[test]
    fn refused_whole() {
        for (p, why) in [
            (
                "[domain-name:value = 'a.com' AND domain-name:value = 'b.com']",
                Unsupported::And,
            ),
            (
                "[domain-name:value = 'a.com'] AND [url:value = 'http://b.com/']",
                Unsupported::And,
            ),
            (
                "[domain-name:value = 'a.com'] FOLLOWEDBY [url:value = 'http://b.com/']",
                Unsupported::FollowedBy,
            ),
            (
                "[domain-name:value = 'a.com'] WITHIN 300 SECONDS",
                Unsupported::Qualifier,
            ),
            (
                "[domain-name:value = 'a.com'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
                Unsupported::Qualifier,
            ),
        ] {
            assert_eq!(disjuncts(&parse_pattern(p).unwrap()), Err(why), "{p}");
        }
    }

    #[test]
    fn full_grammar_parses() {
        for p in [
            "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']",
            "[file:name MATCHES '^Final Report.+\\\\.exe$']",
            "[windows-registry-key:key LIKE 'HKEY_LOCAL_MACHINE\\\\%']",
            "[network-traffic:dst_port IN (80, 443, 8080)]",
            "[email-message:from_ref.value NOT = 'a@b.c']",
            "([file:size > 1024] OR [file:size <= 10.5]) REPEATS 5 TIMES WITHIN 1800 SECONDS",
            "[process:extensions.'windows-process-ext'.aslr_enabled = true]",
            "[file:extensions.'archive-ext'.contains_refs[*].hashes.MD5 = h'ff']",
            "[artifact:payload_bin = b'aGVsbG8=']",
            "[a:b = 1] OR [a:c = -2.5] OR [a:d = t'2020-01-01T00:00:00Z'] OR [EXISTS a:e]",
        ] {
            assert!(parse_pattern(p).is_ok(), "{p}");
        }
        for bad in [
            "",
            "[",
            "[domain-name:value = 'a.com'",
            "[domain-name:value = 'a\\x']",
            "[domain-name:value 'a']",
            "[domain-name = 'a']",
            "domain-name:value = 'a'",
            "[domain-name:value = 'a'] OR",
            "[a:b IN 'x']",
            "[a:b = ('x')]",
            "[a:b = 'x'] and [c:d = 'y']",
            "[x509-certificate:hashes.'SHA-256' = 'ab'] AND NOT_A_KEYWORD",
            "EXISTS",
        ] {
            assert!(parse_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let p = format!("{}[a:b = 'c']{}", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(parse_pattern(&p).map_err(|e| e.what), Err("nested too deeply"));
    }

    #[test]
    fn quote_round_trips() {
        let s = "it's a \\ test";
        let p = format!("[url:value = {}]", quote(s));
        assert_eq!(values(&p), vec![Ok((Target::Url, s.into()))]);
    }
}
