//! Bytes on disk of a table's parts against the same bitmaps serialized by
//! the roaring crate (with and without its run optimization).
//!
//! `cargo run --release -p segdb-benches --bin disk_size -- STORE [TABLE]`

use std::process::ExitCode;

use segdb_engine::Store;
use segdb_storage_format::part::{TAG_INT_META, TAG_TEXT};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), table) = (args.next(), args.next().unwrap_or_else(|| "users".into())) else {
        eprintln!("usage: disk_size STORE [TABLE]");
        return ExitCode::FAILURE;
    };
    let store = match Store::open(std::path::Path::new(&dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let t = match store.table(&table) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut part_bytes, mut bitmap_bytes, mut other_blocks) = (0u64, 0u64, 0u64);
    let (mut roaring_plain, mut roaring_optimized, mut bitmaps) = (0u64, 0u64, 0u64);
    for s in 0..t.num_shards() {
        let Some(part) = t.part(s) else { continue };
        let f = part;
        part_bytes += f.len_bytes();
        for i in 0..f.num_blocks() {
            let key = f.key(i);
            let bytes = match f.block(i) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if key.tag == TAG_INT_META || key.tag == TAG_TEXT {
                other_blocks += bytes.len() as u64;
                continue;
            }
            bitmaps += 1;
            bitmap_bytes += bytes.len() as u64;
            let Ok(mut rb) = roaring::RoaringBitmap::deserialize_from(bytes) else {
                eprintln!(
                    "error: block {key:?} of {} is not a portable bitmap",
                    f.path().display()
                );
                return ExitCode::FAILURE;
            };
            rb.remove_run_compression();
            roaring_plain += rb.serialized_size() as u64;
            rb.optimize();
            roaring_optimized += rb.serialized_size() as u64;
        }
    }
    println!(
        "table {table}: {} rows, {} shards, {bitmaps} bitmaps",
        t.num_rows(),
        t.num_shards()
    );
    println!("part files:                      {part_bytes:>14} bytes");
    println!("  bitmap blocks:                 {bitmap_bytes:>14} bytes");
    println!("  other blocks (INT meta, TEXT): {other_blocks:>14} bytes");
    println!(
        "  directories, footers, padding: {:>14} bytes",
        part_bytes - bitmap_bytes - other_blocks
    );
    println!("roaring crate, no runs:          {roaring_plain:>14} bytes");
    println!("roaring crate, optimize():       {roaring_optimized:>14} bytes");
    println!(
        "parts / roaring optimized:       {:>14.3}x   (parts / roaring no runs: {:.3}x)",
        part_bytes as f64 / roaring_optimized.max(1) as f64,
        part_bytes as f64 / roaring_plain.max(1) as f64
    );
    println!(
        "dictionary and parts on disk:    {:>14} bytes",
        t.bytes_on_disk()
    );
    ExitCode::SUCCESS
}
