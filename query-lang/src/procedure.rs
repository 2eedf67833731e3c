//! Procedures: the signatures that `CALL name(…)` is checked against.
//!
//! The registry itself lives with the code that runs the procedures (the
//! server's `procedures.rs`); the binder sees it through
//! [`Catalog::procedure`](crate::Catalog::procedure). A signature lists the
//! parameters in order, each with a type and, if it may be left out, a
//! default. The binder matches positional arguments in order and named ones
//! (`limit => 10`) by name, checks types (and that a `Table` or `Segment`
//! argument names one that exists), fills in defaults, and hands the
//! executor a [`BoundCall`] with every parameter's value in signature order.
//!
//! A signature also says who may run the procedure (the least
//! [`ProcedureRole`] a caller needs, which the server enforces per CALL) and
//! whether it writes (a procedure that writes needs at least
//! [`ProcedureRole::Write`]).

use std::fmt::{self, Display, Formatter};

use crate::print::{write_name, write_param_name};

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// A string, `'…'`.
    Str,
    /// A 64-bit integer.
    Int,
    /// An integer, 0 or more (a limit, an offset).
    Count,
    /// `true` or `false`.
    Bool,
    /// A string naming a table that exists.
    Table,
    /// A string naming a segment that exists.
    Segment,
    /// A string naming a campaign that exists.
    Campaign,
}

impl ParamType {
    /// How a message names the type: "a segment name", "an integer".
    pub fn describe(self) -> &'static str {
        match self {
            ParamType::Str => "a string",
            ParamType::Int => "an integer",
            ParamType::Count => "an integer, 0 or more",
            ParamType::Bool => "true or false",
            ParamType::Table => "a table name in single quotes",
            ParamType::Segment => "a segment name in single quotes",
            ParamType::Campaign => "a campaign name in single quotes",
        }
    }

    /// The type's name in a signature.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Str => "STRING",
            ParamType::Int => "INT",
            ParamType::Count => "COUNT",
            ParamType::Bool => "BOOL",
            ParamType::Table => "TABLE",
            ParamType::Segment => "SEGMENT",
            ParamType::Campaign => "CAMPAIGN",
        }
    }
}

/// The value of an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// A string (also a table or segment name).
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl Display for ArgValue {
    /// As the language writes it: `'bj'`, `100`, `true`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            ArgValue::Int(n) => write!(f, "{n}"),
            ArgValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One parameter of a procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name (for `name => value`).
    pub name: String,
    /// Its type.
    pub ty: ParamType,
    /// The value it takes when left out; `None` makes it required.
    pub default: Option<ArgValue>,
}

impl Param {
    /// A required parameter.
    pub fn required(name: &str, ty: ParamType) -> Param {
        Param {
            name: name.to_owned(),
            ty,
            default: None,
        }
    }

    /// An optional parameter with its default.
    pub fn optional(name: &str, ty: ParamType, default: ArgValue) -> Param {
        Param {
            name: name.to_owned(),
            ty,
            default: Some(default),
        }
    }
}

/// The least role a caller needs to run a procedure (the server's roles:
/// read < write < admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProcedureRole {
    /// Any caller.
    Read,
    /// Callers who may change data.
    Write,
    /// Administrators only.
    Admin,
}

impl ProcedureRole {
    /// The role's name: `read`, `write`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcedureRole::Read => "read",
            ProcedureRole::Write => "write",
            ProcedureRole::Admin => "admin",
        }
    }
}

/// The signature of a procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The procedure's name.
    pub name: String,
    /// Its parameters in order: required ones first.
    pub params: Vec<Param>,
    /// One line on what it does.
    pub doc: String,
    /// The least role that may run it; at least `Write` when `writes`.
    role: ProcedureRole,
    /// Whether it changes the store.
    writes: bool,
}

impl Signature {
    /// The signature of a procedure that only reads and that any caller
    /// may run; see [`Signature::needs`] and [`Signature::writing`].
    pub fn new(name: &str, params: Vec<Param>, doc: &str) -> Signature {
        Signature {
            name: name.to_owned(),
            params,
            doc: doc.to_owned(),
            role: ProcedureRole::Read,
            writes: false,
        }
    }

    /// The same signature for a procedure that only `role` or above may
    /// run (never below `Write` for one that writes).
    pub fn needs(mut self, role: ProcedureRole) -> Signature {
        self.role = if self.writes {
            role.max(ProcedureRole::Write)
        } else {
            role
        };
        self
    }

    /// The same signature for a procedure that changes the store: it needs
    /// at least the `Write` role.
    pub fn writing(mut self) -> Signature {
        self.writes = true;
        self.role = self.role.max(ProcedureRole::Write);
        self
    }

    /// The least role that may run it.
    pub fn role(&self) -> ProcedureRole {
        self.role
    }

    /// Whether it changes the store.
    pub fn writes(&self) -> bool {
        self.writes
    }
}

impl Display for Signature {
    /// `segment_ids(segment SEGMENT, limit COUNT => 100, offset COUNT => 0)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_name(f, &self.name)?;
        f.write_str("(")?;
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_param_name(f, &p.name)?;
            write!(f, " {}", p.ty.as_str())?;
            if let Some(d) = &p.default {
                write!(f, " => {d}")?;
            }
        }
        f.write_str(")")
    }
}

/// A CALL checked against its signature: every parameter's value, in the
/// signature's order, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundCall {
    /// The procedure.
    pub procedure: String,
    /// `(parameter, value)` for every parameter, in order.
    pub args: Vec<(String, ArgValue)>,
}

impl BoundCall {
    /// The value of parameter `name`.
    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The value of a string parameter (also a table or segment).
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.arg(name)? {
            ArgValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of an integer parameter.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.arg(name)? {
            ArgValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of a boolean parameter.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.arg(name)? {
            ArgValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_procedure_reads_for_anyone_unless_declared_otherwise() {
        let s = Signature::new("p", vec![], "doc");
        assert_eq!((s.role(), s.writes()), (ProcedureRole::Read, false));
        let s = Signature::new("p", vec![], "doc").needs(ProcedureRole::Admin);
        assert_eq!((s.role(), s.writes()), (ProcedureRole::Admin, false));
    }

    #[test]
    fn a_procedure_that_writes_needs_at_least_the_write_role() {
        for (s, want) in [
            (
                Signature::new("p", vec![], "").writing(),
                ProcedureRole::Write,
            ),
            (
                Signature::new("p", vec![], "")
                    .writing()
                    .needs(ProcedureRole::Read),
                ProcedureRole::Write,
            ),
            (
                Signature::new("p", vec![], "")
                    .needs(ProcedureRole::Read)
                    .writing(),
                ProcedureRole::Write,
            ),
            (
                Signature::new("p", vec![], "")
                    .needs(ProcedureRole::Admin)
                    .writing(),
                ProcedureRole::Admin,
            ),
        ] {
            assert!(s.writes());
            assert_eq!(s.role(), want);
        }
    }
}
