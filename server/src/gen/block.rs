//! A block of consecutive users, generated on its own from `(seed, block)`.

use super::distributions::block_rng;
use super::events::EventModel;
use super::text::{user_id, RowBuf};
use super::users::UserModel;
use segdb_engine::date::Day;

/// Users per block. Fixed, so that the output does not depend on the
/// number of threads, and a run with fewer rows is a prefix of a run with
/// more rows and the same seed.
pub(crate) const BLOCK_USERS: u64 = 8192;

/// Every precomputed table of a run, shared read-only by the threads.
pub(crate) struct Models {
    users: UserModel,
    events: EventModel,
}

impl Models {
    /// Builds the tables; the event days end on `last_day` (the standard
    /// data set's if `None`).
    pub(crate) fn new(last_day: Option<Day>) -> Self {
        Models {
            users: UserModel::new(),
            events: EventModel::ending(last_day),
        }
    }
}

/// The text of one block of both files. Reused from block to block, so
/// that its buffers are allocated only while they grow.
#[derive(Default)]
pub(crate) struct BlockBuf {
    /// The block's rows of `users.csv`.
    pub(crate) users: Vec<u8>,
    /// The block's rows of `events.csv`.
    pub(crate) events: Vec<u8>,
    /// Users in the block.
    pub(crate) num_users: u64,
    /// Rows in `events`.
    pub(crate) num_event_rows: u64,
}

impl BlockBuf {
    /// Replaces the contents with block `block` of a data set of
    /// `total_users` users.
    pub(crate) fn fill(&mut self, models: &Models, seed: u64, block: u64, total_users: u64) {
        self.users.clear();
        self.events.clear();
        self.num_event_rows = 0;
        let first = block * BLOCK_USERS;
        let end = total_users.min(first + BLOCK_USERS);
        self.num_users = end.saturating_sub(first);
        let mut rng = block_rng(seed, block);
        let mut row = RowBuf::new();
        for index in first..end {
            let id = user_id(index);
            models
                .users
                .write_user(&mut rng, &id, &mut row, &mut self.users);
            self.num_event_rows +=
                models
                    .events
                    .write_events(&mut rng, &id, &mut row, &mut self.events);
        }
    }
}
