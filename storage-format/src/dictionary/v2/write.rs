//! Writing a version 2 part: its pages front-coded (or fixed-width, see
//! `fixed.rs`), and FIRSTS or the hash index (the layout is in the parent
//! module's documentation).

use std::path::Path;
use std::sync::Arc;

use super::{
    common_prefix, fixed, header_len, key_of, off_at, BLOCK_IDS, COUNTER, FIXED, SORTED, TOP,
};
use crate::block_file::{BlockFileWriter, BlockKey};
use crate::dictionary::counter;
use crate::dictionary::hash_index;
use crate::dictionary::{
    DICT_MAGIC, IDS_PER_PAGE, TAG_COUNTER, TAG_FIRSTS, TAG_IDS, TAG_META, TAG_SLOTS,
};
use crate::error::Result;
use crate::wal::WalFs;

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Front-codes one page of ids (`keyed`: with each block's search key,
/// for parts whose ids increase).
pub(crate) fn encode_page(ids: &[&str], keyed: bool) -> Vec<u8> {
    let nblocks = ids.len().div_ceil(BLOCK_IDS as usize);
    let cp = common_prefix(ids);
    let header = header_len(nblocks, keyed);
    let mut out = Vec::with_capacity(header + ids.len() * 4);
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    out.extend_from_slice(&(nblocks as u32).to_le_bytes());
    out.extend_from_slice(&(cp as u32).to_le_bytes());
    out.resize(header, 0);
    for (b, block) in ids.chunks(BLOCK_IDS as usize).enumerate() {
        let at = out.len() as u32;
        let o = off_at(b, keyed);
        out[o..o + 4].copy_from_slice(&at.to_le_bytes());
        let first = block[0].as_bytes();
        if keyed {
            let key = key_of(first, cp).to_be_bytes();
            out[12 + 12 * b..20 + 12 * b].copy_from_slice(&key);
            if b % TOP == 0 {
                let t = 12 + 12 * nblocks + 8 * (b / TOP);
                out[t..t + 8].copy_from_slice(&key);
            }
        }
        put_varint(&mut out, first.len());
        out.extend_from_slice(first);
        let mut prev = first;
        for id in &block[1..] {
            let id = id.as_bytes();
            let shared = prev.iter().zip(id).take_while(|(a, b)| a == b).count();
            let suffix = id.len() - shared;
            out.push(((shared.min(15) as u8) << 4) | suffix.min(15) as u8);
            if shared >= 15 {
                put_varint(&mut out, shared);
            }
            if suffix >= 15 {
                put_varint(&mut out, suffix);
            }
            out.extend_from_slice(&id[shared..]);
            prev = id;
        }
    }
    out
}

/// Writes a version 2 part (see the module's documentation).
pub(crate) fn write(
    fs: Arc<dyn WalFs>,
    path: &Path,
    first_row: u64,
    ids: &[&str],
    hashes: &[u64],
) -> Result<u64> {
    let n = ids.len();
    if let Some(c) = counter::detect(ids) {
        let mut w = BlockFileWriter::create_with(fs, path, DICT_MAGIC, 2)?;
        let mut meta = Vec::with_capacity(32);
        meta.extend_from_slice(&first_row.to_le_bytes());
        meta.extend_from_slice(&(n as u32).to_le_bytes());
        meta.extend_from_slice(&COUNTER.to_le_bytes());
        meta.extend_from_slice(&[0u8; 16]);
        w.add(BlockKey::new(0, TAG_META, 0, 0), &meta)?;
        w.add(BlockKey::new(0, TAG_COUNTER, 0, 0), &c.encode())?;
        return w.finish(2, first_row);
    }
    let sorted = ids.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes());
    let (num_slots, slot_bytes) = if sorted { (0, 0) } else { hash_index::shape(n) };
    // Fixed-width pages: ids in no order (a lookup reads id `i` in place,
    // which only the hash index needs), all of one length.
    let fixed = !sorted && n > 0 && ids.iter().all(|id| id.len() == ids[0].len());
    let flags = if sorted {
        SORTED
    } else if fixed {
        FIXED
    } else {
        0
    };
    let mut w = BlockFileWriter::create_with(fs, path, DICT_MAGIC, 2)?;
    let mut meta = Vec::with_capacity(32);
    meta.extend_from_slice(&first_row.to_le_bytes());
    meta.extend_from_slice(&(n as u32).to_le_bytes());
    meta.extend_from_slice(&flags.to_le_bytes());
    meta.extend_from_slice(&num_slots.to_le_bytes());
    meta.extend_from_slice(&slot_bytes.to_le_bytes());
    meta.extend_from_slice(&0u32.to_le_bytes());
    w.add(BlockKey::new(0, TAG_META, 0, 0), &meta)?;
    let mut firsts: Vec<&str> = Vec::new();
    for (p, page) in ids.chunks(IDS_PER_PAGE as usize).enumerate() {
        firsts.push(page[0]);
        let mut bytes = encode_page(page, sorted);
        // Fixed-width when that is no larger (it is faster to read).
        if let Some(f) = fixed.then(|| fixed::encode(page)).flatten() {
            if f.len() <= bytes.len() {
                bytes = f;
            }
        }
        w.add(BlockKey::new(0, TAG_IDS, p as u32, 0), &bytes)?;
    }
    if sorted {
        if let Some(last) = ids.last() {
            firsts.push(last);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(firsts.len() as u32).to_le_bytes());
        let mut at = 0u32;
        for id in &firsts {
            out.extend_from_slice(&at.to_le_bytes());
            at += id.len() as u32;
        }
        out.extend_from_slice(&at.to_le_bytes());
        for id in &firsts {
            out.extend_from_slice(id.as_bytes());
        }
        w.add(BlockKey::new(0, TAG_FIRSTS, 0, 0), &out)?;
    } else {
        let table = hash_index::build(&hashes[..n], num_slots, slot_bytes);
        let page = hash_index::SLOTS_PER_PAGE as usize * slot_bytes as usize;
        for (p, chunk) in table.chunks(page).enumerate() {
            w.add(BlockKey::new(0, TAG_SLOTS, p as u32, 0), chunk)?;
        }
    }
    w.finish(2, first_row)
}
