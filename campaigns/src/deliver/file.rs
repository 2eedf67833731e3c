//! The file channel: per run and variant, one file of JSON lines or CSV
//! (`<campaign>-r<run>-<variant>.jsonl` / `.csv`) in the configured
//! directory. It is written under a temporary name (`….tmp`) and renamed
//! once the variant's delivery is complete (file fsync, rename, directory
//! fsync), so a reader only ever sees complete files.
//!
//! A resumed run never duplicates a line: an unfinished file is not
//! trusted after a crash. [`Sink::start_variant`] starts it afresh and asks
//! for the messages already recorded sent, which are written first, then
//! the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use segdb_storage_format::fsutil;
use segdb_storage_format::wal::{RealFs, WalFile, WalFs};

use super::{Batch, Outcome, Sink, VariantInfo};
use crate::definition::FileFormat;
use crate::error::CampaignError;

/// Messages per batch of the file channel (one write and one log record).
pub const FILE_BATCH: u32 = 10_000;

/// The file channel.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    format: FileFormat,
    fs: Arc<dyn WalFs>,
    open: Option<(PathBuf, Box<dyn WalFile>)>,
    buf: Vec<u8>,
}

impl FileSink {
    /// Files in `dir` (created if need be) in `format`.
    pub fn new(dir: &Path, format: FileFormat) -> FileSink {
        FileSink::with_fs(dir, format, Arc::new(RealFs))
    }

    /// [`FileSink::new`] through `fs` (tests inject faults).
    pub fn with_fs(dir: &Path, format: FileFormat, fs: Arc<dyn WalFs>) -> FileSink {
        FileSink {
            dir: dir.to_owned(),
            format,
            fs,
            open: None,
            buf: Vec::new(),
        }
    }

    /// The final path of a variant's file.
    pub fn path_of(&self, v: &VariantInfo) -> PathBuf {
        let ext = match self.format {
            FileFormat::Jsonl => "jsonl",
            FileFormat::Csv => "csv",
        };
        self.dir
            .join(format!("{}-r{}-{}.{ext}", v.campaign, v.run, v.variant))
    }

    fn write(&mut self, batch: &Batch) -> Result<(), CampaignError> {
        let Some((temp, file)) = self.open.as_mut() else {
            return Err(CampaignError::Unavailable(
                "the file channel got a batch before its variant started".into(),
            ));
        };
        self.buf.clear();
        for m in &batch.messages {
            match self.format {
                FileFormat::Jsonl => jsonl_line(&mut self.buf, batch, m),
                FileFormat::Csv => {
                    csv_field(&mut self.buf, &m.message_id);
                    self.buf.push(b',');
                    csv_field(&mut self.buf, &m.user_id);
                    self.buf.push(b',');
                    csv_field(&mut self.buf, &m.text);
                    self.buf.extend_from_slice(b"\r\n");
                }
            }
        }
        file.write_all(&self.buf)
            .map_err(|e| segdb_storage_format::FormatError::io("write", &*temp, e))?;
        Ok(())
    }
}

/// One JSON line: `{"campaign","message_id","run","text","user_id",
/// "variant"}` (keys sorted, as a `serde_json` map writes them) and `\n`.
/// A borrowed struct, not a `serde_json::Value`: no allocation per message.
pub fn jsonl_line(out: &mut Vec<u8>, batch: &Batch, m: &super::Message) {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        campaign: &'a str,
        message_id: &'a str,
        run: u32,
        text: &'a str,
        user_id: &'a str,
        variant: &'a str,
    }
    let line = Line {
        campaign: &batch.campaign,
        message_id: &m.message_id,
        run: batch.run,
        text: &m.text,
        user_id: &m.user_id,
        variant: &batch.variant,
    };
    serde_json::to_writer(&mut *out, &line).expect("writing JSON into a Vec does not fail");
    out.push(b'\n');
}

/// Appends `s` as one RFC 4180 field: quoted if it holds a comma, a quote,
/// CR or LF (quotes doubled).
pub fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

impl Sink for FileSink {
    fn start_variant(&mut self, v: &VariantInfo) -> Result<bool, CampaignError> {
        let io =
            |what: &'static str, p: &Path, e| segdb_storage_format::FormatError::io(what, p, e);
        self.fs
            .create_dir_all(&self.dir)
            .map_err(|e| io("create", &self.dir, e))?;
        let temp = fsutil::temp_path_for(&self.path_of(v));
        // An unfinished file of an earlier attempt is replaced.
        let mut file = fsutil::create_temp(&*self.fs, &temp)?;
        if self.format == FileFormat::Csv {
            file.write_all(b"message_id,user_id,text\r\n")
                .map_err(|e| io("write", &temp, e))?;
        }
        self.open = Some((temp, file));
        Ok(true)
    }

    fn resend(&mut self, batch: &Batch) -> Result<(), CampaignError> {
        self.write(batch)
    }

    fn send(&mut self, batch: &Batch) -> Outcome {
        match self.write(batch) {
            Ok(()) => Outcome::Sent,
            Err(e) => Outcome::Unavailable(e.to_string()),
        }
    }

    fn finish_variant(&mut self, v: &VariantInfo) -> Result<(), CampaignError> {
        let Some((temp, mut file)) = self.open.take() else {
            return Err(CampaignError::Unavailable(
                "the file channel finished a variant it did not start".into(),
            ));
        };
        file.sync()
            .map_err(|e| segdb_storage_format::FormatError::io("fsync", &temp, e))?;
        drop(file);
        fsutil::rename_durably(&*self.fs, &temp, &self.path_of(v))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::Message;

    /// The line is byte for byte what a `serde_json::json!` map of the
    /// same fields writes, escapes included.
    #[test]
    fn a_jsonl_line_is_the_bytes_of_the_json_map() {
        let batch = Batch {
            campaign: "c\"q\\".into(),
            run: 7,
            variant: "v\u{e9}\n".into(),
            key: "k".into(),
            messages: vec![Message {
                row: 3,
                message_id: "m-1".into(),
                user_id: "u\t\u{1}".into(),
                text: "Hi \"x\" \u{2028} \u{1F600} \\ /".into(),
            }],
        };
        let m = &batch.messages[0];
        let mut got = Vec::new();
        jsonl_line(&mut got, &batch, m);
        let mut want = serde_json::to_vec(&serde_json::json!({
            "campaign": batch.campaign, "run": batch.run, "variant": batch.variant,
            "message_id": m.message_id, "user_id": m.user_id, "text": m.text,
        }))
        .unwrap();
        want.push(b'\n');
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }
}
