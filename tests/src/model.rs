//! A naive model of a table: a `Vec` of rows scanned one by one. The engine
//! must give the same answers as this model for every expression.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use proptest::prelude::*;
use segdb_engine::{CmpOp, DayRange, Expr, FieldDef, FieldKind, IntStats, Schema};

/// A field's value in one row.
#[derive(Debug, Clone, PartialEq)]
pub enum MValue {
    /// No value.
    Null,
    /// ENUM value.
    Enum(String),
    /// SET values (never empty: an empty set is `Null`).
    Set(BTreeSet<String>),
    /// BOOL value.
    Bool(bool),
    /// INT value.
    Int(i64),
    /// TEXT value.
    Text(String),
}

/// A table as plain rows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// The schema.
    pub schema: Schema,
    /// External ids by row id.
    pub ids: Vec<String>,
    /// Values by row id, then field index.
    pub rows: Vec<Vec<MValue>>,
    /// Event counts: (row, field) -> day -> count.
    pub events: BTreeMap<(u32, usize), BTreeMap<i32, u64>>,
    /// Row ids by external id.
    pub index: std::collections::HashMap<String, u32>,
}

impl Model {
    /// The profile of `row` as the engine gives it: every field in schema
    /// order (SET values sorted), EVENT counts over
    /// `window`.
    pub fn profile(&self, row: u32, window: DayRange) -> segdb_engine::Profile {
        use segdb_engine::ProfileValue as P;
        let fields = self
            .schema
            .fields
            .iter()
            .enumerate()
            .map(|(fi, f)| {
                let v = match (&self.rows[row as usize][fi], f.kind) {
                    (_, FieldKind::Event) => P::Events(
                        self.events
                            .get(&(row, fi))
                            .map(|days| {
                                days.range(window.first..=window.last)
                                    .filter(|(_, &c)| c > 0)
                                    .map(|(&d, &c)| (d, c))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    (MValue::Null, FieldKind::Set) => P::Set(Vec::new()),
                    (MValue::Null, _) => P::Null,
                    (MValue::Enum(v), _) => P::Enum(v.clone()),
                    (MValue::Set(s), _) => P::Set(s.iter().cloned().collect()),
                    (MValue::Bool(b), _) => P::Bool(*b),
                    (MValue::Int(i), _) => P::Int(*i),
                    (MValue::Text(t), _) => P::Text(t.clone()),
                };
                (f.name.clone(), v)
            })
            .collect();
        segdb_engine::Profile {
            row,
            external_id: self.ids[row as usize].clone(),
            fields,
        }
    }

    /// An empty model of a schema.
    pub fn new(schema: Schema) -> Model {
        Model {
            schema,
            ..Model::default()
        }
    }

    /// The row of an external id, created if new.
    pub fn row(&mut self, id: &str) -> u32 {
        if let Some(&r) = self.index.get(id) {
            return r;
        }
        self.index.insert(id.to_owned(), self.ids.len() as u32);
        self.ids.push(id.to_owned());
        self.rows.push(vec![MValue::Null; self.schema.fields.len()]);
        (self.ids.len() - 1) as u32
    }

    /// Whether `row` matches `e`.
    pub fn matches(&self, e: &Expr, row: u32) -> bool {
        let r = &self.rows[row as usize];
        let val = |field: &str| &r[self.schema.field_index(field).expect("known field")];
        match e {
            Expr::All => true,
            Expr::Nothing => false,
            Expr::And(xs) => xs.iter().all(|x| self.matches(x, row)),
            Expr::Or(xs) => xs.iter().any(|x| self.matches(x, row)),
            Expr::Not(x) => !self.matches(x, row),
            Expr::Value { field, value } => match val(field) {
                MValue::Enum(v) => v == value,
                MValue::Set(s) => s.contains(value),
                _ => false,
            },
            Expr::AnyValue { field, values } => match val(field) {
                MValue::Enum(v) => values.contains(v),
                MValue::Set(s) => values.iter().any(|v| s.contains(v)),
                _ => false,
            },
            Expr::AllValues { field, values } => match val(field) {
                MValue::Enum(v) => values.iter().all(|x| x == v),
                MValue::Set(s) => values.iter().all(|v| s.contains(v)),
                _ => false,
            },
            Expr::NoneOfValues { field, values } => match val(field) {
                MValue::Enum(v) => !values.contains(v),
                MValue::Set(s) => !values.iter().any(|v| s.contains(v)),
                _ => false,
            },
            Expr::NotNull { field } => !matches!(val(field), MValue::Null),
            Expr::Bool { field, value } => matches!(val(field), MValue::Bool(b) if b == value),
            Expr::IntCmp { field, op, value } => {
                matches!(val(field), MValue::Int(x) if op.holds(*x, *value))
            }
            Expr::IntBetween { field, lo, hi } => {
                matches!(val(field), MValue::Int(x) if lo <= x && x <= hi)
            }
            Expr::EventCount { field, days, op, n } => {
                let f = self.schema.field_index(field).expect("known field");
                let total: u64 = self
                    .events
                    .get(&(row, f))
                    .map(|m| m.range(days.first..=days.last).map(|(_, c)| *c).sum())
                    .unwrap_or(0);
                op.holds(i128::from(total), i128::from(*n))
            }
            Expr::EventBetween {
                field,
                days,
                lo,
                hi,
            } => {
                let f = self.schema.field_index(field).expect("known field");
                let total: u64 = self
                    .events
                    .get(&(row, f))
                    .map(|m| m.range(days.first..=days.last).map(|(_, c)| *c).sum())
                    .unwrap_or(0);
                i128::from(*lo) <= i128::from(total) && i128::from(total) <= i128::from(*hi)
            }
            Expr::Rows(rows) => rows.contains(&row),
            Expr::RowSet(set) => set.rows().contains(&row),
            Expr::Evaluated(e) => e.contains(row),
            Expr::Cached(inner) => self.matches(inner, row),
            // Naive: the snapshot's whole file, read for every row.
            Expr::Snapshot(s) => s
                .to_vec()
                .is_ok_and(|rows| rows.binary_search(&row).is_ok()),
        }
    }

    /// The rows matching `e`, in order.
    pub fn rows_matching(&self, e: &Expr) -> Vec<u32> {
        (0..self.rows.len() as u32)
            .filter(|&r| self.matches(e, r))
            .collect()
    }

    /// SUM/MIN/MAX/COUNT of an INT field over the rows matching `e`.
    pub fn int_stats(&self, e: &Expr, field: &str) -> IntStats {
        let f = self.schema.field_index(field).expect("known field");
        let vals: Vec<i64> = self
            .rows_matching(e)
            .into_iter()
            .filter_map(|r| match self.rows[r as usize][f] {
                MValue::Int(x) => Some(x),
                _ => None,
            })
            .collect();
        IntStats {
            count: vals.len() as u64,
            sum: vals.iter().map(|&x| i128::from(x)).sum(),
            min: vals.iter().copied().min(),
            max: vals.iter().copied().max(),
        }
    }

    /// Group counts of an ENUM, SET or BOOL field, by value text.
    pub fn group_count(&self, e: &Expr, field: &str) -> BTreeMap<String, u64> {
        let f = self.schema.field_index(field).expect("known field");
        let mut out = BTreeMap::new();
        for r in self.rows_matching(e) {
            match &self.rows[r as usize][f] {
                MValue::Enum(v) => *out.entry(v.clone()).or_insert(0) += 1,
                MValue::Set(s) => {
                    for v in s {
                        *out.entry(v.clone()).or_insert(0) += 1;
                    }
                }
                MValue::Bool(b) => *out.entry(b.to_string()).or_insert(0) += 1,
                _ => {}
            }
        }
        out
    }

    /// Applies a CSV line's cells (the model of an import): every column
    /// named in `cols` is overwritten.
    pub fn set(&mut self, id: &str, cols: &[(usize, MValue)]) {
        let r = self.row(id) as usize;
        for (f, v) in cols {
            self.rows[r][*f] = v.clone();
        }
    }

    /// Adds an event count.
    pub fn add_event(&mut self, id: &str, field: usize, day: i32, count: u64) {
        let r = self.row(id);
        *self
            .events
            .entry((r, field))
            .or_default()
            .entry(day)
            .or_insert(0) += count;
    }
}

/// Formats a cell as the CSV import reads it.
pub fn csv_cell(v: &MValue) -> String {
    match v {
        MValue::Null => String::new(),
        MValue::Enum(s) | MValue::Text(s) => s.clone(),
        MValue::Set(s) => s.iter().cloned().collect::<Vec<_>>().join("|"),
        MValue::Bool(b) => u8::from(*b).to_string(),
        MValue::Int(x) => x.to_string(),
    }
}

/// A CSV text of `rows` (id, cells for `fields`), with a header.
pub fn to_csv(schema: &Schema, fields: &[usize], rows: &[(String, Vec<MValue>)]) -> String {
    let mut out = String::from("user_id");
    for &f in fields {
        out.push(',');
        out.push_str(&schema.fields[f].name);
    }
    out.push('\n');
    for (id, cells) in rows {
        out.push_str(id);
        for c in cells {
            out.push(',');
            out.push_str(&csv_cell(c));
        }
        out.push('\n');
    }
    out
}

/// An events CSV text.
pub fn events_csv(schema: &Schema, events: &[(String, usize, i32, u64)]) -> String {
    let mut out = String::from("user_id,event,day,count\n");
    for (id, f, day, count) in events {
        let _ = writeln!(
            out,
            "{id},{},{},{count}",
            schema.fields[*f].name,
            segdb_engine::date::format_iso_day(*day)
        );
    }
    out
}

/// The value pool of ENUM and SET fields (`v0`..`v5`; `zz` is never stored).
pub const VALUES: [&str; 6] = ["v0", "v1", "v2", "v3", "v4", "v5"];
/// The first day events are generated on.
pub const DAY0: i32 = 20_750;

/// A random schema: a few fields of every kind.
pub fn arb_schema() -> impl Strategy<Value = Schema> {
    (1..3usize, 1..3usize, 1..3usize, 1..3usize, 1..3usize).prop_map(|(e, s, b, i, v)| {
        let mut fields = Vec::new();
        for (n, kind, prefix) in [
            (e, FieldKind::Enum, "e"),
            (s, FieldKind::Set, "s"),
            (b, FieldKind::Bool, "b"),
            (i, FieldKind::Int, "i"),
            (v, FieldKind::Event, "ev"),
        ] {
            for k in 0..n {
                fields.push(FieldDef::new(format!("{prefix}{k}"), kind));
            }
        }
        fields.push(FieldDef::new("t0", FieldKind::Text));
        Schema { fields }
    })
}

/// Values of INT fields: small, around zero, and at the extremes.
pub fn arb_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -5i64..20,
        2 => -1000i64..1000,
        1 => any::<i64>(),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
    ]
}

/// A random value of a field kind (null included).
pub fn arb_value(kind: FieldKind) -> BoxedStrategy<MValue> {
    let null = Just(MValue::Null);
    match kind {
        FieldKind::Enum => prop_oneof![1 => null, 4 => prop::sample::select(&VALUES[..]).prop_map(|v| MValue::Enum(v.into()))].boxed(),
        FieldKind::Set => prop::collection::btree_set(prop::sample::select(&VALUES[..]).prop_map(String::from), 0..4)
            .prop_map(|s| if s.is_empty() { MValue::Null } else { MValue::Set(s) })
            .boxed(),
        FieldKind::Bool => prop_oneof![1 => null, 3 => any::<bool>().prop_map(MValue::Bool)].boxed(),
        FieldKind::Int => prop_oneof![1 => null, 4 => arb_int().prop_map(MValue::Int)].boxed(),
        FieldKind::Text => prop_oneof![1 => null, 1 => "[a-z]{1,6}".prop_map(MValue::Text)].boxed(),
        FieldKind::Event => Just(MValue::Null).boxed(),
    }
}

fn pick_field(schema: &Schema, kind: FieldKind) -> impl Strategy<Value = String> {
    let names: Vec<String> = schema
        .fields
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| f.name.clone())
        .collect();
    prop::sample::select(names)
}

fn arb_values() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![10 => prop::sample::select(&VALUES[..]).prop_map(String::from), 1 => Just("zz".to_string())],
        0..4,
    )
}

fn arb_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

/// A random predicate over `schema` (which has every kind but TEXT at least once).
pub fn arb_leaf(schema: &Schema, num_rows: u32) -> BoxedStrategy<Expr> {
    let value_field = prop_oneof![
        pick_field(schema, FieldKind::Enum),
        pick_field(schema, FieldKind::Set)
    ];
    let vf = || value_field.clone();
    let days = (0i32..12, 0i32..12).prop_map(|(a, b)| DayRange {
        first: DAY0 + a.min(b),
        last: DAY0 + a.max(b),
    });
    prop_oneof![
        1 => (vf(), prop::sample::select(&VALUES[..])).prop_map(|(field, v)| Expr::Value { field, value: v.into() }),
        1 => (vf(), arb_values()).prop_map(|(field, values)| Expr::AnyValue { field, values }),
        1 => (pick_field(schema, FieldKind::Set), arb_values()).prop_map(|(field, values)| Expr::AllValues { field, values }),
        1 => (vf(), arb_values()).prop_map(|(field, values)| Expr::NoneOfValues { field, values }),
        1 => prop_oneof![vf(), pick_field(schema, FieldKind::Bool), pick_field(schema, FieldKind::Int)]
            .prop_map(|field| Expr::NotNull { field }),
        1 => (pick_field(schema, FieldKind::Bool), any::<bool>()).prop_map(|(field, value)| Expr::Bool { field, value }),
        3 => (pick_field(schema, FieldKind::Int), arb_op(), arb_int()).prop_map(|(field, op, value)| Expr::IntCmp { field, op, value }),
        2 => (pick_field(schema, FieldKind::Int), arb_int(), arb_int()).prop_map(|(field, lo, hi)| Expr::IntBetween { field, lo, hi }),
        3 => (pick_field(schema, FieldKind::Event), days.clone(), arb_op(), -1i64..40).prop_map(|(field, days, op, n)| Expr::EventCount { field, days, op, n }),
        2 => (pick_field(schema, FieldKind::Event), days, -2i64..40, -2i64..40).prop_map(|(field, days, lo, hi)| Expr::EventBetween { field, days, lo, hi }),
        1 => prop::collection::vec(0..num_rows.max(1) + 3, 0..6).prop_map(Expr::Rows),
        // A campaign group's rows, as the language binds it (table `t`).
        1 => prop::collection::vec(0..num_rows.max(1) + 3, 0..40)
            .prop_map(|rows| Expr::RowSet(segdb_engine::RowSet::new("in_campaign(c) run 1", "t", rows))),
        1 => Just(Expr::All),
        1 => Just(Expr::Nothing),
    ]
    .boxed()
}

/// A random nested expression.
pub fn arb_expr(schema: &Schema, num_rows: u32) -> BoxedStrategy<Expr> {
    arb_leaf(schema, num_rows)
        .prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::And),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::Or),
                inner.prop_map(|x| Expr::Not(Box::new(x))),
            ]
        })
        .boxed()
}

/// The model's insight: the same figures as `Table::insight`, by scanning;
/// `Err` where the engine must refuse (a histogram past `MAX_BUCKETS`).
pub fn model_insight(
    model: &Model,
    e: &Expr,
    opts: &segdb_engine::insight::InsightOptions,
) -> Result<segdb_engine::insight::Insight, String> {
    use segdb_engine::insight::*;
    let seg = model.rows_matching(e);
    let all: Vec<u32> = (0..model.rows.len() as u32).collect();
    let fields: Vec<usize> = if opts.fields.is_empty() {
        (0..model.schema.fields.len())
            .filter(|&i| model.schema.fields[i].kind != FieldKind::Text)
            .collect()
    } else {
        opts.fields
            .iter()
            .map(|f| model.schema.field_index(f).unwrap())
            .collect()
    };
    let reports = fields
        .into_iter()
        .map(|fi| {
            let f = &model.schema.fields[fi];
            let val = |r: u32| &model.rows[r as usize][fi];
            let insight = match f.kind {
                FieldKind::Enum | FieldKind::Set | FieldKind::Bool => {
                    let tally = |rows: &[u32]| {
                        let mut m: BTreeMap<String, u64> = BTreeMap::new();
                        for &r in rows {
                            match val(r) {
                                MValue::Enum(v) => *m.entry(v.clone()).or_default() += 1,
                                MValue::Set(s) => {
                                    for v in s {
                                        *m.entry(v.clone()).or_default() += 1;
                                    }
                                }
                                MValue::Bool(b) => *m.entry(b.to_string()).or_default() += 1,
                                _ => {}
                            }
                        }
                        m
                    };
                    let (in_seg, in_table) = (tally(&seg), tally(&all));
                    let covered = |rows: &[u32]| {
                        rows.iter().filter(|&&r| *val(r) != MValue::Null).count() as u64
                    };
                    let mut values: Vec<ValueCount> = in_seg
                        .iter()
                        .map(|(v, &count)| ValueCount {
                            value: v.clone(),
                            count,
                            table_count: in_table[v],
                        })
                        .collect();
                    values
                        .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                    let other = match opts.top {
                        Some(k) if values.len() > k => {
                            let rest = values.split_off(k);
                            Some(ValueCount {
                                value: "other".into(),
                                count: rest.iter().map(|v| v.count).sum(),
                                table_count: rest.iter().map(|v| v.table_count).sum(),
                            })
                        }
                        _ => None,
                    };
                    FieldInsight::Values {
                        covered: covered(&seg),
                        table_covered: covered(&all),
                        values,
                        other,
                    }
                }
                FieldKind::Int => {
                    let ints = |rows: &[u32]| -> Vec<i64> {
                        let mut v: Vec<i64> = rows
                            .iter()
                            .filter_map(|&r| match val(r) {
                                MValue::Int(i) => Some(*i),
                                _ => None,
                            })
                            .collect();
                        v.sort_unstable();
                        v
                    };
                    let (vs, ts) = (ints(&seg), ints(&all));
                    let stats = model.int_stats(e, &f.name);
                    let (quantiles, buckets) = match (vs.first(), vs.last()) {
                        (Some(&min), Some(&max)) => {
                            let n = vs.len() as f64;
                            let quantiles = opts
                                .quantiles
                                .iter()
                                .map(|&q| {
                                    let rank = ((q * n).ceil() as usize).clamp(1, vs.len());
                                    (q, vs[rank - 1])
                                })
                                .collect();
                            let (first, w, nb) = histogram_layout(min, max, opts.width_of(&f.name))
                                .map_err(|nb| format!("{nb} buckets of {}", f.name))?;
                            let count_in = |v: &[i64], lo: i128, hi: i128| {
                                v.iter()
                                    .filter(|&&x| i128::from(x) >= lo && i128::from(x) < hi)
                                    .count() as u64
                            };
                            let buckets = (0..nb)
                                .map(|i| {
                                    let lo = i128::from(first) + i128::from(w) * i as i128;
                                    let hi = lo + i128::from(w);
                                    Bucket {
                                        lo: lo as i64,
                                        hi: hi.min(i128::from(i64::MAX)) as i64,
                                        count: count_in(&vs, lo, hi),
                                        table_count: count_in(&ts, lo, hi),
                                    }
                                })
                                .collect();
                            (quantiles, buckets)
                        }
                        _ => (Vec::new(), Vec::new()),
                    };
                    FieldInsight::Int {
                        stats,
                        quantiles,
                        buckets,
                    }
                }
                FieldKind::Event => {
                    let mut days: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
                    let mut active = 0;
                    for &r in &seg {
                        let mut any = false;
                        if let Some(d) = model.events.get(&(r, fi)) {
                            for (&day, &c) in d.range(opts.window.first..=opts.window.last) {
                                if c > 0 {
                                    any = true;
                                    let e = days.entry(day).or_default();
                                    e.0 += 1;
                                    e.1 += c;
                                }
                            }
                        }
                        active += u64::from(any);
                    }
                    let days: Vec<EventDayTotal> = days
                        .into_iter()
                        .map(|(day, (rows, total))| EventDayTotal { day, rows, total })
                        .collect();
                    FieldInsight::Event {
                        active_rows: active,
                        total: days.iter().map(|d| d.total).sum(),
                        days,
                    }
                }
                FieldKind::Text => unreachable!("TEXT fields are left out"),
            };
            Ok(FieldReport {
                field: f.name.clone(),
                kind: f.kind,
                insight,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Insight {
        segment_rows: seg.len() as u64,
        table_rows: model.rows.len() as u64,
        fields: reports,
    })
}
