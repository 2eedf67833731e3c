//! The top-N fast path gives exactly the first N of a full group count,
//! on skewed data where it stops early and on ties.

use segdb_engine::{Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

#[test]
fn top_values_equal_the_head_of_a_full_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("tags", FieldKind::Set),
            FieldDef::new("vip", FieldKind::Bool),
        ],
    };
    store.create_table("t", &schema).unwrap();
    let mut csv = String::from("user_id,city,tags,vip\n");
    let mut x: u64 = 7;
    for i in 0..150_000u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Skewed: city k holds about 1/(k+1) of the rows (Zipf-like), with
        // a run of equal counts among the rare ones.
        let u = (x >> 33) % 10_000;
        let city = (10_000 / (u + 1)).min(199);
        let tags = format!("t{}|t{}", x % 7, (x >> 7) % 40);
        csv.push_str(&format!(
            "u{i},c{city:03},{tags},{}\n",
            u8::from((x >> 20).is_multiple_of(3))
        ));
    }
    store
        .import(
            "t",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
    let t = store.table("t").unwrap();
    let exprs = [
        Expr::All,
        Expr::Bool {
            field: "vip".into(),
            value: true,
        },
        Expr::Not(Box::new(Expr::Value {
            field: "tags".into(),
            value: "t3".into(),
        })),
        Expr::Nothing,
    ];
    for e in &exprs {
        for field in ["city", "tags", "vip"] {
            let mut all = t.group_count(e, field).unwrap();
            all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            for n in [0, 1, 5, 10, 17, 40, 1000] {
                let want: Vec<_> = all.iter().take(n).cloned().collect();
                assert_eq!(
                    t.group_count_top(e, field, n).unwrap(),
                    want,
                    "{field} top {n} of {e:?}"
                );
            }
        }
    }
}
