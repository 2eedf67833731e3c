//! The id dictionary's size and speed, version 2 (written now) against
//! version 1 (old stores): bytes per id for 10M standard ids
//! (`u000000000`… in row order: a counter), the same ids shuffled (the
//! hash index), increasing ids that are not a counter (`u0000000000`,
//! `u0000000003`…: the keyed pages), and random UUIDs (the hash index);
//! then 100,000 `row_of` lookups (half present, half absent, random order),
//! the same lookups in one `rows_of_hashed` batch (an IN list's way), and
//! `for_each_id` over 58,000 increasing rows spread over the part (W8's
//! read), in ns per id, the median of 7 runs after one warm-up run.
//! Beside them, the same ids in an FST (the `fst` crate's `Map`, id ->
//! row, built in memory from the sorted ids): bytes per id and `get` over
//! the same lookups. An FST answers only that direction; row -> id would
//! still need pages.
//! With `--store DIR` it also times the lookups through a table (`Table`
//! row lookups and `for_each_external_id`) on a real store.
//!
//! `cargo run --release -p segdb-benches --bin dict_lookup -- [--n 10000000] [--tmp DIR] [--no-fst] [--store DIR [--table users]]`
//! (`--no-fst`: without the FST, whose build takes minutes for UUIDs;
//! `DICT_ONLY=uuid` and the like: one kind of ids only)

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use segdb_storage_format::dictionary::{
    hash_id, v1::write_v1_part, write_dictionary_part, DictionaryPart,
};

const LOOKUPS: usize = 100_000;
const SCAN_ROWS: u64 = 58_000;
const RUNS: usize = 7;

/// xorshift64: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Ids packed in one string.
struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    fn new(n: usize, mut id: impl FnMut(usize, &mut String)) -> Ids {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            id(i, &mut text);
            ends.push(text.len());
        }
        Ids { text, ends }
    }
    fn slices(&self) -> Vec<&str> {
        let mut s = 0;
        self.ends
            .iter()
            .map(|&e| {
                let id = &self.text[s..e];
                s = e;
                id
            })
            .collect()
    }
}

fn uuid(seed: u64, out: &mut String) {
    let hex = format!(
        "{:016x}{:016x}",
        hash_id(&seed.to_le_bytes()),
        hash_id(&(!seed).to_le_bytes())
    );
    out.push_str(&format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ns per item of `f` over `RUNS` runs after a warm-up.
fn time(items: usize, mut f: impl FnMut() -> u64) -> f64 {
    black_box(f());
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                t.elapsed().as_nanos() as f64 / items as f64
            })
            .collect(),
    )
}

/// Half present ids, half absent (`absent(k)`), shuffled.
fn queries(ids: &[&str], rng: &mut Rng, mut absent: impl FnMut(u64) -> String) -> Vec<String> {
    let mut q: Vec<String> = (0..LOOKUPS)
        .map(|k| {
            if k % 2 == 0 {
                ids[rng.below(ids.len() as u64) as usize].to_owned()
            } else {
                absent(rng.next())
            }
        })
        .collect();
    for i in (1..q.len()).rev() {
        q.swap(i, rng.below(i as u64 + 1) as usize);
    }
    // Copied in their new order, so that each query's bytes follow the
    // previous one's in memory, as a parsed IN list's do (shuffled, every
    // lookup would first wait for its own query's bytes).
    q.iter().map(|s| s.as_str().to_owned()).collect()
}

fn measure(
    dir: &Path,
    name: &str,
    ids: &[&str],
    queries: &[String],
    fst: bool,
) -> Result<(), String> {
    let n = ids.len() as u64;
    let step = (n / SCAN_ROWS).max(1);
    let rows: Vec<u64> = (0..n)
        .step_by(step as usize)
        .take(SCAN_ROWS as usize)
        .collect();
    let hashes: Vec<u64> = queries.iter().map(|q| hash_id(q.as_bytes())).collect();
    for version in [1, 2] {
        let path = dir.join(format!("ids-{name}-v{version}.seg"));
        let t = Instant::now();
        let len = if version == 1 {
            write_v1_part(&path, 0, ids)
        } else {
            write_dictionary_part(&path, 0, ids)
        }
        .map_err(|e| e.to_string())?;
        let write_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let d = DictionaryPart::open_mapped(&path).map_err(|e| e.to_string())?;
        let open_us = t.elapsed().as_secs_f64() * 1e6;
        let mut found = 0;
        let lookup = time(queries.len(), || {
            found = 0;
            for (q, &h) in queries.iter().zip(&hashes) {
                if d.row_of_hashed(q, h).expect("lookup").is_some() {
                    found += 1;
                }
            }
            found
        });
        let qs: Vec<&str> = queries.iter().map(String::as_str).collect();
        let mut out = vec![None; qs.len()];
        let batched = time(qs.len(), || {
            out.iter_mut().for_each(|o| *o = None);
            d.rows_of_hashed(&qs, &hashes, &mut out).expect("lookups");
            out.iter().filter(|o| o.is_some()).count() as u64
        });
        assert_eq!(out.iter().filter(|o| o.is_some()).count(), found as usize);
        let scan = time(rows.len(), || {
            let mut acc = 0u64;
            d.for_each_id(&rows, |_, b| {
                acc += b.len() as u64;
                true
            })
            .expect("for_each_id");
            acc
        });
        println!(
            "{name:<18} v{version}  {:>6.2} bytes/id  {:>12} bytes  open {open_us:>7.1} us  write {write_s:>5.1} s  row_of {lookup:>6.0} ns ({found} found)  rows_of {batched:>6.0} ns  for_each_id {scan:>5.0} ns/id",
            len as f64 / n as f64,
            len,
        );
        drop(d);
        std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    }
    if fst {
        measure_fst(name, ids, queries)?;
    }
    Ok(())
}

/// The ids in an FST map (id -> row): its bytes per id, build time and
/// lookups.
fn measure_fst(name: &str, ids: &[&str], queries: &[String]) -> Result<(), String> {
    let mut pairs: Vec<(&str, u64)> = ids
        .iter()
        .enumerate()
        .map(|(r, id)| (*id, r as u64))
        .collect();
    pairs.sort_unstable();
    let t = Instant::now();
    let map = fst::Map::from_iter(pairs.iter().map(|(k, v)| (k.as_bytes(), *v)))
        .map_err(|e| e.to_string())?;
    let build_s = t.elapsed().as_secs_f64();
    drop(pairs);
    let len = map.as_fst().as_bytes().len();
    let mut found = 0;
    let lookup = time(queries.len(), || {
        found = 0;
        for q in queries {
            if map.get(q.as_bytes()).is_some() {
                found += 1;
            }
        }
        found
    });
    println!(
        "{name:<18} fst {:>6.2} bytes/id  {len:>12} bytes  build {build_s:>5.1} s (sorted, in memory)  get {lookup:>6.0} ns ({found} found)  (id -> row only)",
        len as f64 / ids.len() as f64,
    );
    Ok(())
}

/// Lookups through the engine on a real store.
fn measure_store(dir: &Path, table: &str) -> Result<(), String> {
    let store = segdb_engine::Store::open(dir).map_err(|e| e.to_string())?;
    let t = store.table(table).map_err(|e| e.to_string())?;
    let n = t.num_rows();
    if n == 0 {
        return Err(format!("table {table} has no rows"));
    }
    let mut rng = Rng(0x5eed);
    let mut q = Vec::with_capacity(LOOKUPS);
    for k in 0..LOOKUPS {
        if k % 2 == 0 {
            let r = rng.below(n) as u32;
            q.push(t.id_of(r).map_err(|e| e.to_string())?.unwrap_or_default());
        } else {
            q.push(format!("absent-{}", rng.next()));
        }
    }
    let hashes: Vec<u64> = q.iter().map(|x| hash_id(x.as_bytes())).collect();
    let versions: Vec<String> = walk_ids(&dir.join(table));
    let lookup = time(q.len(), || {
        let mut found = 0;
        for (x, &h) in q.iter().zip(&hashes) {
            if t.row_of_hashed(x, h).expect("lookup").is_some() {
                found += 1;
            }
        }
        found
    });
    let qs: Vec<&str> = q.iter().map(String::as_str).collect();
    let batched = time(qs.len(), || {
        t.rows_of(&qs)
            .expect("lookups")
            .iter()
            .filter(|r| r.is_some())
            .count() as u64
    });
    let step = (n / SCAN_ROWS).max(1);
    let rows: Vec<u32> = (0..n)
        .step_by(step as usize)
        .take(SCAN_ROWS as usize)
        .map(|r| r as u32)
        .collect();
    let scan = time(rows.len(), || {
        let mut acc = 0u64;
        t.for_each_external_id(&rows, |_, b| {
            acc += b.len() as u64;
            true
        })
        .expect("for_each_external_id");
        acc
    });
    println!(
        "store {} table {table}: {n} rows, dictionary [{}]: row_of {lookup:.0} ns, rows_of {batched:.0} ns, for_each_external_id {scan:.0} ns/id",
        dir.display(),
        versions.join(", "),
    );
    Ok(())
}

/// The dictionary part files of a table directory and their versions.
fn walk_ids(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ids-"))
        .filter_map(|e| {
            let d = DictionaryPart::open_mapped(&e.path()).ok()?;
            Some(format!(
                "{} v{} {} ids {} bytes",
                e.file_name().to_string_lossy(),
                d.version(),
                d.num_ids(),
                d.len_bytes()
            ))
        })
        .collect();
    out.sort();
    out
}

fn main() -> ExitCode {
    let mut n = 10_000_000usize;
    let mut tmp: Option<PathBuf> = None;
    let mut store: Option<PathBuf> = None;
    let mut table = "users".to_owned();
    let mut fst = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--no-fst" {
            fst = false;
            continue;
        }
        let v = args.next();
        match (a.as_str(), v) {
            ("--n", Some(v)) if v.parse::<usize>().is_ok() => n = v.parse().unwrap_or(n),
            ("--tmp", Some(v)) => tmp = Some(v.into()),
            ("--store", Some(v)) => store = Some(v.into()),
            ("--table", Some(v)) => table = v,
            _ => {
                eprintln!(
                    "usage: dict_lookup [--n N] [--tmp DIR] [--no-fst] [--store DIR [--table T]]"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(dir) = store {
        if let Err(e) = measure_store(&dir, &table) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let dir = tmp
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("segdb-dict-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let result = run(&dir, n, fst);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path, n: usize, fst: bool) -> Result<(), String> {
    use std::fmt::Write;
    println!("{n} ids per part; {LOOKUPS} row_of lookups (half absent); for_each_id over {SCAN_ROWS} rows; median of {RUNS} runs");
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let only = std::env::var("DICT_ONLY").ok();
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if want("standard") || want("shuffled standard") {
        let standard = Ids::new(n, |i, s| {
            let _ = write!(s, "u{i:09}");
        });
        let ids = standard.slices();
        let q = queries(&ids, &mut rng, |x| {
            format!("u{:09}", n as u64 + x % (1_000_000_000 - n as u64))
        });
        if want("standard") {
            measure(dir, "standard", &ids, &q, fst)?;
        }
        let mut shuffled = ids.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        if want("shuffled standard") {
            measure(dir, "shuffled standard", &shuffled, &q, fst)?;
        }
    }
    if want("increasing") {
        // Increasing, not a counter: every third standard number.
        let spaced = Ids::new(n, |i, s| {
            let _ = write!(s, "u{:010}", 3 * i);
        });
        let ids = spaced.slices();
        let q = queries(&ids, &mut rng, |x| {
            format!("u{:010}", 3 * (x % n as u64) + 1)
        });
        measure(dir, "increasing", &ids, &q, fst)?;
    }
    if !want("uuid") {
        return Ok(());
    }
    let uuids = Ids::new(n, |i, s| uuid(i as u64, s));
    let ids = uuids.slices();
    let q = queries(&ids, &mut rng, |x| {
        let mut s = String::new();
        uuid(x | (1 << 63), &mut s);
        s
    });
    measure(dir, "uuid", &ids, &q, fst)?;
    Ok(())
}
