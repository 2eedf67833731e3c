use super::*;

fn split(record: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    split_record(record, &mut Vec::new(), &mut out)?;
    Ok(out.into_iter().map(|c| c.into_owned()).collect())
}

fn records(text: &str) -> Vec<(u64, &str)> {
    Records::new(text, 1).collect()
}

/// Ids a writer must quote or keep whole.
const AWKWARD: &[&str] = &[
    "with,comma",
    "with \"quote\"",
    "two\nlines",
    "crlf\r\ninside",
    "bare\rcr",
    " lead",
    "trail ",
    "\t",
    "\"",
    ",",
    "ünïcødé ✓",
    "plain",
    "",
];

#[test]
fn fields_split() {
    assert_eq!(split("a,b,,c").unwrap(), ["a", "b", "", "c"]);
    assert_eq!(split("\"a,b\",\"x\"\"y\"").unwrap(), ["a,b", "x\"y"]);
    assert_eq!(split("").unwrap(), [""]);
    assert_eq!(split("a,").unwrap(), ["a", ""]);
    assert_eq!(split("\"\"").unwrap(), [""]);
    assert_eq!(split(" a , b ").unwrap(), [" a ", " b "]);
    assert_eq!(split("\"a\nb\",c").unwrap(), ["a\nb", "c"]);
    assert!(split("\"open")
        .unwrap_err()
        .starts_with("unterminated quote"));
    assert!(split("a\"b").is_err());
    assert!(split("\"a\"b").is_err());
}

#[test]
fn records_keep_quoted_line_breaks_and_count_lines() {
    let text = "h1,h2\r\n\"a\nb\",1\n\nplain,2\r\n\"x\"\"\r\ny\",3\nlast";
    assert_eq!(
        records(text),
        [
            (1, "h1,h2"),
            (2, "\"a\nb\",1"),
            (4, ""),
            (5, "plain,2"),
            (6, "\"x\"\"\r\ny\",3"),
            (8, "last"),
        ]
    );
    // An unterminated quote runs to the end, as one record.
    assert_eq!(records("a\n\"b\nc\n"), [(1, "a"), (2, "\"b\nc\n")]);
    assert!(records("").is_empty());
}

#[test]
fn the_scanner_finds_the_same_ends_fed_in_any_pieces() {
    let text = b"a,\"b\n\"\"c\"\n\"\"\nd\"e\nf,\"g\"x\n,\"\n\"\n";
    let whole: Vec<usize> = {
        let mut s = RecordScanner::default();
        let mut ends = Vec::new();
        let mut at = 0;
        while let Some(p) = s.find_end(&text[at..]) {
            ends.push(at + p);
            at += p + 1;
        }
        ends
    };
    assert_eq!(whole, [9, 12, 16, 23, 28]);
    for piece in 1..text.len() {
        let mut s = RecordScanner::default();
        let mut ends = Vec::new();
        for (k, chunk) in text.chunks(piece).enumerate() {
            let mut at = 0;
            while let Some(p) = s.find_end(&chunk[at..]) {
                ends.push(k * piece + at + p);
                at += p + 1;
            }
        }
        assert_eq!(ends, whole, "pieces of {piece}");
    }
}

#[test]
fn what_field_writes_splits_back() {
    let line: Vec<String> = AWKWARD.iter().map(|s| field(s).into_owned()).collect();
    let record = line.join(",");
    assert_eq!(split(&record).unwrap(), AWKWARD);
    // One field per record, as the id export writes them.
    let text: String = AWKWARD[..AWKWARD.len() - 1]
        .iter()
        .map(|s| format!("{}\n", field(s)))
        .collect();
    let back: Vec<String> = records(&text)
        .into_iter()
        .map(|(_, r)| split(r).unwrap().remove(0))
        .collect();
    assert_eq!(back, AWKWARD[..AWKWARD.len() - 1]);
    assert_eq!(field(" lead"), "\" lead\"");
    assert_eq!(field("a\"b"), "\"a\"\"b\"");
    assert_eq!(field("plain"), "plain");
    // `push_field` (the streamed export's) writes what `field` does.
    for s in AWKWARD.iter().chain(&["", "a", "é,", "x\t"]) {
        let mut out = b"<".to_vec();
        push_field(&mut out, s);
        assert_eq!(out, format!("<{}", field(s)).into_bytes(), "{s:?}");
    }
}

#[test]
fn streamed_records_and_the_bom() {
    let input = "\u{feff}user_id\r\n\"a\r\nb\"\n\nc".as_bytes();
    let mut r = std::io::BufReader::with_capacity(4, without_bom(input).unwrap());
    let mut buf = Vec::new();
    let mut got = Vec::new();
    loop {
        let n = read_record(&mut r, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.push((n, String::from_utf8(buf.clone()).unwrap()));
    }
    assert_eq!(
        got,
        [
            (9, "user_id".to_string()),
            (7, "\"a\r\nb\"".to_string()),
            (1, String::new()),
            (1, "c".to_string()),
        ]
    );
    // Short inputs, and a BOM alone.
    for (input, want) in [("", ""), ("ab", "ab"), ("\u{feff}", ""), ("\u{feff}x", "x")] {
        let mut out = String::new();
        without_bom(input.as_bytes())
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, want, "{input:?}");
    }
}
