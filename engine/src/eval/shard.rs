//! Per-shard resolution of a plan: every bitmap a plan reads is looked up
//! once per shard in the shard's part (checked on first use), so that the
//! chunk evaluator only indexes containers.

use std::collections::HashMap;

use segdb_storage_format::bitmap::RoaringView;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{
    bias_day, unbias_day, IntMeta, Part, EVENT_ACTIVE, TAG_EVENT, TAG_INT_SLICE, TAG_NOT_NULL,
};

use crate::error::Result;
use crate::plan::{Node, Plan};

/// An INT field's bit-sliced index in one part.
#[derive(Debug, Default)]
pub(crate) struct IntCtx<'a> {
    pub meta: Option<IntMeta>,
    pub not_null: Option<RoaringView<'a>>,
    pub slices: Vec<Option<RoaringView<'a>>>,
}

/// One day of an EVENT field in one part: rows with a count, and the
/// count's bit slices.
#[derive(Debug, Default)]
pub(crate) struct EventDay<'a> {
    pub day: i32,
    pub active: Option<RoaringView<'a>>,
    pub slices: Vec<Option<RoaringView<'a>>>,
}

/// What a plan reads from one shard.
#[derive(Debug, Default)]
pub(crate) struct ShardCtx<'a> {
    pub shard: u32,
    pub leaves: Vec<Option<RoaringView<'a>>>,
    /// The shard's rows of each of the plan's snapshot segments.
    pub snapshots: Vec<Option<RoaringView<'a>>>,
    pub ints: HashMap<u32, IntCtx<'a>>,
    pub events: HashMap<(u32, i32, i32), Vec<EventDay<'a>>>,
}

pub(crate) fn int_ctx(part: &Part, field: u32) -> Result<IntCtx<'_>> {
    let meta = part.int_meta(field)?;
    let mut ctx = IntCtx {
        meta,
        not_null: part.bitmap(BlockKey::new(field, TAG_NOT_NULL, 0, 0))?,
        slices: Vec::new(),
    };
    if let Some(m) = meta {
        for j in 0..m.bits {
            ctx.slices
                .push(part.bitmap(BlockKey::new(field, TAG_INT_SLICE, j, 0))?);
        }
    }
    Ok(ctx)
}

pub(crate) fn event_days(
    part: &Part,
    field: u32,
    first: i32,
    last: i32,
) -> Result<Vec<EventDay<'_>>> {
    let f = part;
    let mut i = f.lower_bound(BlockKey::new(field, TAG_EVENT, bias_day(first), 0));
    let mut days: Vec<EventDay<'_>> = Vec::new();
    let mut current: Option<u32> = None;
    while i < f.num_blocks() {
        let k = f.key(i);
        if k.field != field || k.tag != TAG_EVENT || k.key > bias_day(last) {
            break;
        }
        if current != Some(k.key) {
            days.push(EventDay {
                day: unbias_day(k.key),
                ..EventDay::default()
            });
            current = Some(k.key);
        }
        let view = part.bitmap_at(i)?;
        let day = days.last_mut().expect("pushed above");
        if k.aux == EVENT_ACTIVE {
            day.active = Some(view);
        } else {
            let j = usize::from(k.aux);
            if day.slices.len() <= j {
                day.slices.resize(j + 1, None);
            }
            day.slices[j] = Some(view);
        }
        i += 1;
    }
    Ok(days)
}

pub(crate) fn resolve<'a>(
    plan: &'a Plan,
    part: Option<&'a Part>,
    shard: u32,
) -> Result<ShardCtx<'a>> {
    let mut ctx = ShardCtx {
        shard,
        ..ShardCtx::default()
    };
    for s in &plan.snapshots {
        ctx.snapshots.push(s.file().shard(shard)?);
    }
    let Some(part) = part else {
        ctx.leaves = vec![None; plan.leaves.len()];
        return Ok(ctx);
    };
    for key in &plan.leaves {
        ctx.leaves.push(part.bitmap(*key)?);
    }
    walk(&plan.root, part, &mut ctx)?;
    Ok(ctx)
}

fn walk<'a>(n: &Node, part: &'a Part, ctx: &mut ShardCtx<'a>) -> Result<()> {
    match n {
        Node::And(xs) | Node::Or(xs) => {
            for x in xs {
                walk(x, part, ctx)?;
            }
        }
        Node::Not(x) => walk(x, part, ctx)?,
        Node::IntRange { field, .. } => {
            if let std::collections::hash_map::Entry::Vacant(v) = ctx.ints.entry(*field) {
                v.insert(int_ctx(part, *field)?);
            }
        }
        Node::Event {
            field, first, last, ..
        } => {
            let key = (*field, *first, *last);
            if let std::collections::hash_map::Entry::Vacant(v) = ctx.events.entry(key) {
                v.insert(event_days(part, *field, *first, *last)?);
            }
        }
        Node::All
        | Node::Nothing
        | Node::Leaf(_)
        | Node::Rows(_)
        | Node::Set(..)
        | Node::Cached(_)
        | Node::Snapshot(_) => {}
    }
    Ok(())
}
