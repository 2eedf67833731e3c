//! Parameters as tokio-postgres sends them: typed and in binary format
//! (int2, int4, int8, float4, float8, bool, text, varchar, date), each
//! answer equal to the HTTP API's for the literal; a NULL parameter is
//! refused with 22004, the connection usable after.

use std::error::Error;

use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::{store, Pg, READER};

/// A date as Postgres sends it in binary: days since 2000-01-01.
#[derive(Debug)]
struct Day(i32);

impl ToSql for Day {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }

    to_sql_checked!();
}

/// Any answer as text (a binary date as `YYYY-MM-DD`).
struct Shown(String);

impl<'a> FromSql<'a> for Shown {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        if *ty == Type::DATE {
            let days = i32::from_be_bytes(raw.try_into()?);
            let (y, m, d) = segdb_storage_format::date::civil_from_day(days + 10_957);
            return Ok(Shown(format!("{y:04}-{m:02}-{d:02}")));
        }
        Ok(Shown(String::from_utf8(raw.to_vec())?))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

async fn count(
    c: &Client,
    condition: &str,
    ty: Type,
    v: &(dyn ToSql + Sync),
) -> Result<i64, tokio_postgres::Error> {
    let st = c
        .prepare_typed(
            &format!("SELECT COUNT(*) FROM users WHERE {condition}"),
            &[ty],
        )
        .await?;
    Ok(c.query_one(&st, &[v]).await?.get(0))
}

#[test]
fn typed_binary_parameters_and_null() {
    let (_dir, data) = store(3_000);
    let pg = Pg::start(&data, &[]);
    let http = |condition: &str| {
        pg.http()
            .query(&format!("SELECT COUNT(*) FROM users WHERE {condition}"))
            .unwrap()["rows"][0][0]
            .as_i64()
            .unwrap()
    };
    let age = http("age > 40");
    let owners = http("is_owner = TRUE");
    let city = http("city = 'c003'");
    let (rt, c) = pg.connect(READER);
    rt.block_on(async {
        let cases: Vec<(&str, Type, Box<dyn ToSql + Sync>, i64)> = vec![
            ("age > $1", Type::INT2, Box::new(40i16), age),
            ("age > $1", Type::INT4, Box::new(40i32), age),
            ("age > $1", Type::INT8, Box::new(40i64), age),
            ("age > $1", Type::FLOAT4, Box::new(40f32), age),
            ("age > $1", Type::FLOAT8, Box::new(40f64), age),
            ("is_owner = $1", Type::BOOL, Box::new(true), owners),
            ("city = $1", Type::TEXT, Box::new("c003"), city),
            ("city = $1", Type::VARCHAR, Box::new("c003"), city),
        ];
        for (condition, ty, v, want) in &cases {
            let got = count(&c, condition, ty.clone(), v.as_ref()).await;
            assert_eq!(
                got.as_ref().ok(),
                Some(want),
                "{condition} as {ty}: {got:?}"
            );
        }
        // A date: bound as its quoted day, answered back by a SELECT of
        // constants. 2024-02-29 is day 8,825 after 2000-01-01.
        let st = c
            .prepare_typed("SELECT $1 AS d", &[Type::DATE])
            .await
            .unwrap();
        let row = c.query_one(&st, &[&Day(8_825)]).await.unwrap();
        assert_eq!(row.get::<_, Shown>(0).0, "2024-02-29");
        // NULL: refused (segdb's language has no NULL value), never bound
        // as something else; the connection goes on.
        let nulls: Vec<(&str, Type, Box<dyn ToSql + Sync>)> = vec![
            ("age > $1", Type::INT8, Box::new(None::<i64>)),
            ("city = $1", Type::TEXT, Box::new(None::<&str>)),
            ("is_owner = $1", Type::BOOL, Box::new(None::<bool>)),
        ];
        for (condition, ty, v) in &nulls {
            let e = match count(&c, condition, ty.clone(), v.as_ref()).await {
                Err(e) => e,
                Ok(n) => panic!("NULL as {ty} answered {n}"),
            };
            let db = e.as_db_error().unwrap_or_else(|| panic!("{e}"));
            assert_eq!(db.code().code(), "22004", "{db:?}");
            assert!(db.message().contains("NULL"), "{db:?}");
        }
        assert_eq!(
            count(&c, "age > $1", Type::INT8, &40i64).await.unwrap(),
            age
        );
    });
}
