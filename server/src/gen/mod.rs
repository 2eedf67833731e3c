//! The data generator.
//!
//! Writes the standard "profiles" data set of `../shared/bench/DATASET.md`
//! (`users.csv`, `events.csv` and `schema.sql`) into a directory,
//! deterministically for a given number of rows and seed, whatever the
//! number of threads.
//!
//! Users are cut into fixed blocks of consecutive users. Each block draws
//! from its own generator, seeded from `(seed, block index)` alone, and
//! formats its rows of both files into byte buffers. A window of blocks is
//! generated in parallel with rayon while a writer thread appends the
//! previous window to the files in block order, so memory stays bounded
//! (a few windows of buffers, reused) whatever the scale. Because blocks
//! depend only on their index, a run with fewer rows is a prefix of a run
//! with more rows and the same seed.
//!
//! Floating-point draws go through the platform's `ln`/`exp`, so bytes are
//! reproducible on a given platform and build; the distributions, not the
//! bytes, are the contract across platforms.
//!
//! ```no_run
//! use segdb_server::gen::{generate, GenOptions, Scale};
//!
//! let opts = GenOptions {
//!     rows: Scale::parse("small").unwrap().rows(),
//!     seed: 42,
//!     out_dir: "data/profiles".into(),
//!     last_day: None,
//! };
//! let report = generate(&opts, &|users| eprintln!("{users} users written")).unwrap();
//! println!("{} event rows", report.event_rows);
//! ```

mod block;
mod distributions;
mod events;
mod text;
mod users;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use rayon::prelude::*;

use block::{BlockBuf, Models, BLOCK_USERS};
use events::EVENTS_HEADER;
use users::USERS_HEADER;

/// The data set's "today", the last day of the event window (day 29).
pub const TODAY: &str = "2026-11-22";

/// The first day of the event window (day 0).
pub const FIRST_DAY: &str = "2026-10-24";

/// The text written to `schema.sql`: the `users` table, one column per
/// column of `users.csv` except `user_id`, then one EVENT column per event.
pub const SCHEMA_SQL: &str = "CREATE TABLE users (
  gender ENUM,
  age INT,
  city ENUM,
  district ENUM,
  education ENUM,
  os ENUM,
  member_level INT,
  product ENUM,
  income INT,
  ltv INT,
  last_login_days INT,
  contract_end_days INT,
  is_owner BOOL,
  is_tenant BOOL,
  flag_0 BOOL,
  flag_1 BOOL,
  flag_2 BOOL,
  flag_3 BOOL,
  flag_4 BOOL,
  flag_5 BOOL,
  flag_6 BOOL,
  flag_7 BOOL,
  flag_8 BOOL,
  flag_9 BOOL,
  interests SET,
  search EVENT,
  view EVENT,
  favorite EVENT,
  book EVENT
);
";

/// The size of a data set, in users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 1,000,000 users.
    Small,
    /// 10,000,000 users.
    Medium,
    /// 100,000,000 users.
    Large,
    /// Any number of users.
    Rows(u64),
}

impl Scale {
    /// Parses `small`, `medium`, `large` (any case) or a number of users:
    /// digits with optional `_` separators and an optional `k` (thousand)
    /// or `m` (million) suffix, e.g. `250000`, `2_000_000`, `250k`, `5m`.
    pub fn parse(s: &str) -> Option<Scale> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "small" => return Some(Scale::Small),
            "medium" => return Some(Scale::Medium),
            "large" => return Some(Scale::Large),
            _ => {}
        }
        let (digits, factor) = match s.as_bytes().last()? {
            b'k' | b'K' => (&s[..s.len() - 1], 1_000),
            b'm' | b'M' => (&s[..s.len() - 1], 1_000_000),
            _ => (s, 1),
        };
        if digits.is_empty()
            || digits.starts_with('_')
            || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        {
            return None;
        }
        let n: u64 = digits.replace('_', "").parse().ok()?;
        n.checked_mul(factor).map(Scale::Rows)
    }

    /// The number of users.
    pub fn rows(&self) -> u64 {
        match self {
            Scale::Small => 1_000_000,
            Scale::Medium => 10_000_000,
            Scale::Large => 100_000_000,
            Scale::Rows(n) => *n,
        }
    }
}

/// What to generate, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Number of users.
    pub rows: u64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Directory receiving `users.csv`, `events.csv` and `schema.sql`;
    /// created if missing.
    pub out_dir: PathBuf,
    /// The last of the 30 event days; `None` is the standard data set's
    /// [`TODAY`] (benchmarks and their expected answers depend on it). The
    /// demo's data ends on the day it is built.
    pub last_day: Option<segdb_engine::date::Day>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenReport {
    /// Rows of `users.csv`, header excluded.
    pub users: u64,
    /// Rows of `events.csv`, header excluded.
    pub event_rows: u64,
    /// Size of `users.csv`, header included.
    pub users_bytes: u64,
    /// Size of `events.csv`, header included.
    pub events_bytes: u64,
}

/// Why [`generate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Creating or writing a file or the output directory failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Capacity of each file's write buffer. A block's text is usually larger
/// and then goes to the file directly, without a copy; the buffer gathers
/// the headers and small blocks.
const WRITE_BUFFER: usize = 64 << 10;

/// Blocks per window and thread: enough for rayon to balance the load.
const WINDOW_BLOCKS_PER_THREAD: usize = 2;

/// The external id of user `index` of the data set (`u000000042`).
pub fn user_id_text(index: u64) -> String {
    String::from_utf8_lossy(text::user_id(index).as_bytes()).into_owned()
}

/// Writes the data set described by `opts` into `opts.out_dir`.
///
/// Generation runs on the current rayon pool (the global one unless called
/// inside [`rayon::ThreadPool::install`]); the output does not depend on its
/// size. `progress` is called from time to time (after every block of
/// 8,192 users, so at least every ~1% from about a million users on, and at
/// the end once the files are flushed) with the users written so far.
pub fn generate(opts: &GenOptions, progress: &(dyn Fn(u64) + Sync)) -> Result<GenReport, GenError> {
    let started = std::time::Instant::now();
    let dir = &opts.out_dir;
    std::fs::create_dir_all(dir).map_err(|source| GenError::Io {
        path: dir.clone(),
        source,
    })?;
    let schema_path = dir.join("schema.sql");
    std::fs::write(&schema_path, SCHEMA_SQL).map_err(|source| GenError::Io {
        path: schema_path,
        source,
    })?;

    let mut users_out = CsvOut::create(dir.join("users.csv"), USERS_HEADER)?;
    let mut events_out = CsvOut::create(dir.join("events.csv"), EVENTS_HEADER)?;
    let models = Models::new(opts.last_day);
    let num_blocks = opts.rows.div_ceil(BLOCK_USERS);
    let window = (rayon::current_num_threads() * WINDOW_BLOCKS_PER_THREAD).max(2);

    // Filled windows go to the writer; emptied ones come back for reuse.
    // At most three windows exist: one being filled, one queued, one being
    // written.
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<BlockBuf>>(1);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<BlockBuf>>();

    let event_rows = std::thread::scope(|scope| -> Result<u64, GenError> {
        let users_out = &mut users_out;
        let events_out = &mut events_out;
        let writer = scope.spawn(move || -> Result<u64, GenError> {
            let mut users_done = 0;
            let mut event_rows = 0;
            for batch in full_rx {
                for block in &batch {
                    users_out.write(&block.users)?;
                    events_out.write(&block.events)?;
                    users_done += block.num_users;
                    event_rows += block.num_event_rows;
                    if users_done < opts.rows {
                        progress(users_done);
                    }
                }
                // The generating side may already be gone.
                let _ = empty_tx.send(batch);
            }
            Ok(event_rows)
        });

        let mut next_block = 0;
        while next_block < num_blocks {
            let count = window.min((num_blocks - next_block) as usize);
            let mut batch = empty_rx.try_recv().unwrap_or_default();
            batch.resize_with(count, BlockBuf::default);
            batch.par_iter_mut().enumerate().for_each(|(i, block)| {
                block.fill(&models, opts.seed, next_block + i as u64, opts.rows);
            });
            if full_tx.send(batch).is_err() {
                // The writer failed; its error is returned below.
                break;
            }
            next_block += count as u64;
        }
        drop(full_tx);
        // A panic there (in `progress`, say) goes on here.
        writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;

    let users_bytes = users_out.finish()?;
    let events_bytes = events_out.finish()?;
    progress(opts.rows);
    let report = GenReport {
        users: opts.rows,
        event_rows,
        users_bytes,
        events_bytes,
    };
    tracing::debug!(
        ?report,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "generated data set"
    );
    Ok(report)
}

/// One output file, counting its bytes.
struct CsvOut {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
}

impl CsvOut {
    /// Creates (or truncates) the file and writes the header.
    fn create(path: PathBuf, header: &str) -> Result<Self, GenError> {
        let file = match File::create(&path) {
            Ok(file) => file,
            Err(source) => return Err(GenError::Io { path, source }),
        };
        let mut csv = CsvOut {
            path,
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            bytes: 0,
        };
        csv.write(header.as_bytes())?;
        Ok(csv)
    }

    /// Appends bytes.
    fn write(&mut self, bytes: &[u8]) -> Result<(), GenError> {
        self.out.write_all(bytes).map_err(|e| self.error(e))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Flushes and returns the file's size.
    fn finish(mut self) -> Result<u64, GenError> {
        self.out.flush().map_err(|e| self.error(e))?;
        Ok(self.bytes)
    }

    fn error(&self, source: std::io::Error) -> GenError {
        GenError::Io {
            path: self.path.clone(),
            source,
        }
    }
}
