//! The operations, batches, their generator and the model they build.

use super::*;

#[derive(Debug, Clone)]
pub(crate) enum TOp {
    Set {
        id: String,
        city: Option<String>,
        age: Option<i64>,
        vip: Option<bool>,
    },
    Add {
        id: String,
        values: Vec<String>,
    },
    Remove {
        id: String,
        values: Vec<String>,
    },
    Clear {
        id: String,
        fields: Vec<&'static str>,
    },
    Event {
        id: String,
        day: String,
        count: Option<u64>,
    },
    Delete {
        id: String,
    },
}

impl TOp {
    pub(crate) fn id(&self) -> &str {
        match self {
            TOp::Set { id, .. }
            | TOp::Add { id, .. }
            | TOp::Remove { id, .. }
            | TOp::Clear { id, .. }
            | TOp::Event { id, .. }
            | TOp::Delete { id } => id,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            TOp::Set { id, city, age, vip } => {
                let mut set = serde_json::Map::new();
                if let Some(c) = city {
                    set.insert("city".into(), json!(c));
                }
                if let Some(a) = age {
                    set.insert("age".into(), json!(a));
                }
                if let Some(v) = vip {
                    set.insert("vip".into(), json!(v));
                }
                json!({"id": id, "set": set})
            }
            TOp::Add { id, values } => json!({"id": id, "add": {"interests": values}}),
            TOp::Remove { id, values } => json!({"id": id, "remove": {"interests": values}}),
            TOp::Clear { id, fields } => json!({"id": id, "clear": fields}),
            TOp::Event { id, day, count } => match count {
                Some(c) => json!({"id": id, "event": "search", "day": day, "count": c}),
                None => json!({"id": id, "event": "search", "day": day}),
            },
            TOp::Delete { id } => json!({"id": id, "delete": true}),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) key: String,
    pub(crate) ops: Vec<TOp>,
    pub(crate) body: String,
}

/// One row of the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    pub(crate) city: Option<String>,
    pub(crate) interests: Option<BTreeSet<String>>,
    pub(crate) age: Option<i64>,
    pub(crate) vip: Option<bool>,
    pub(crate) search: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) rows: HashMap<String, Row>,
}

impl Model {
    pub(crate) fn apply(&mut self, op: &TOp) {
        // Any operation creates the row.
        let row = self.rows.entry(op.id().to_owned()).or_default();
        match op {
            TOp::Set { city, age, vip, .. } => {
                if let Some(c) = city {
                    row.city = Some(c.clone());
                }
                if let Some(a) = age {
                    row.age = Some(*a);
                }
                if let Some(v) = vip {
                    row.vip = Some(*v);
                }
            }
            TOp::Add { values, .. } => {
                let s = row.interests.get_or_insert_with(BTreeSet::new);
                s.extend(values.iter().cloned());
            }
            TOp::Remove { values, .. } => {
                if let Some(s) = &mut row.interests {
                    for v in values {
                        s.remove(v);
                    }
                    if s.is_empty() {
                        row.interests = None;
                    }
                }
            }
            TOp::Clear { fields, .. } => {
                for f in fields {
                    match *f {
                        "city" => row.city = None,
                        "interests" => row.interests = None,
                        "age" => row.age = None,
                        "vip" => row.vip = None,
                        "search" => row.search.clear(),
                        _ => unreachable!(),
                    }
                }
            }
            TOp::Event { day, count, .. } => {
                *row.search.entry(day.clone()).or_default() += count.unwrap_or(1);
            }
            TOp::Delete { .. } => *row = Row::default(),
        }
    }

    pub(crate) fn count(&self, f: impl Fn(&Row) -> bool) -> u64 {
        self.rows.values().filter(|r| f(r)).count() as u64
    }
}

pub(crate) fn events_in(r: &Row, first: &str, last: &str) -> u64 {
    r.search
        .range(first.to_owned()..=last.to_owned())
        .map(|(_, c)| c)
        .sum()
}

/// Random batches over a few hundred ids and some fresh ones.
pub(crate) struct Gen {
    pub(crate) rng: Pcg64,
    pub(crate) thread: usize,
    pub(crate) n: u64,
    pub(crate) run: u64,
    pub(crate) fresh: Arc<AtomicU64>,
    pub(crate) days: Vec<String>,
}

impl Gen {
    pub(crate) fn id(&mut self) -> String {
        if self.rng.gen_bool(0.01) {
            format!("n{:05}", self.fresh.fetch_add(1, Ordering::Relaxed))
        } else {
            format!("u{:04}", self.rng.gen_range(0..BASE_IDS))
        }
    }

    pub(crate) fn interests(&mut self) -> Vec<String> {
        let k = self.rng.gen_range(1..=3);
        (0..k)
            .map(|_| format!("i{:02}", self.rng.gen_range(0..INTERESTS)))
            .collect()
    }

    pub(crate) fn op(&mut self) -> TOp {
        let id = self.id();
        match self.rng.gen_range(0..100) {
            0..=39 => TOp::Event {
                id,
                day: self.days[self.rng.gen_range(0..self.days.len())].clone(),
                count: if self.rng.gen_bool(0.2) {
                    None
                } else {
                    Some(self.rng.gen_range(1..=5))
                },
            },
            40..=64 => {
                let mut city = None;
                let mut age = None;
                let mut vip = None;
                while city.is_none() && age.is_none() && vip.is_none() {
                    if self.rng.gen_bool(0.5) {
                        city = Some(format!("c{:03}", self.rng.gen_range(0..CITIES)));
                    }
                    if self.rng.gen_bool(0.5) {
                        age = Some(self.rng.gen_range(0..100));
                    }
                    if self.rng.gen_bool(0.4) {
                        vip = Some(self.rng.gen_bool(0.5));
                    }
                }
                TOp::Set { id, city, age, vip }
            }
            65..=79 => TOp::Add {
                id,
                values: self.interests(),
            },
            80..=91 => TOp::Remove {
                id,
                values: self.interests(),
            },
            92..=97 => {
                let all = ["city", "interests", "age", "vip", "search"];
                let k = self.rng.gen_range(1..=2);
                let fields = (0..k)
                    .map(|_| all[self.rng.gen_range(0..all.len())])
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                TOp::Clear { id, fields }
            }
            _ => TOp::Delete { id },
        }
    }

    pub(crate) fn batch(&mut self) -> Batch {
        let len = if self.rng.gen_bool(0.1) {
            self.rng.gen_range(50..=200)
        } else {
            self.rng.gen_range(1..=30)
        };
        let ops: Vec<TOp> = (0..len).map(|_| self.op()).collect();
        let mut body = String::new();
        for op in &ops {
            body.push_str(&op.to_json().to_string());
            body.push('\n');
        }
        self.n += 1;
        Batch {
            key: format!("crash-{}-{}-{}", self.run, self.thread, self.n),
            ops,
            body,
        }
    }
}

// ------------------------------------------------------------------ clients
