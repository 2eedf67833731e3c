//! A campaign's goal over real HTTP (issue 14, item 4): kept in the
//! definition as written (JSON) or canonically (`GOAL` in the statement)
//! and shown by `GET /v1/campaigns/{name}`; a bad goal is a 400 at its
//! place, in the goal's text or in the statement; the goal's event is a
//! field the campaign reads, so a limited key may not name one it may not
//! use.

use serde_json::json;

use super::campaigns::{create, def, nowhere, server, show, status, ANN, LIMITED};
use super::*;

fn query(s: &Server, token: &str, text: &str) -> RawResponse {
    post(&s.client(Some(token)), "/v1/query", "text/plain", text)
}

/// A statement for `city = 'c000'` with a goal clause.
fn statement(name: &str, goal: &str) -> String {
    format!(
        "CREATE CAMPAIGN {name} ON users\n  AUDIENCE WHERE age > 3\n  \
         CHANNEL webhook (url => '{}', max_retries => 0)\n  \
         VARIANT a WEIGHT 1 TEMPLATE 'You are {{age}}'\n  SCHEDULE NOW\n  {goal}",
        nowhere()
    )
}

#[test]
fn goals_are_kept_shown_and_refused_at_their_place() {
    let (_dir, _store, _data, s) = server(200);
    // JSON: kept as written, shown in the definition; none when left out.
    let c = status(
        &create(
            &s,
            ANN,
            &def(
                "goal",
                "age > 3",
                json!({"goal": "did(book, 7 days after send)"}),
            ),
        ),
        201,
    );
    assert_eq!(c["definition"]["goal"], "did(book, 7 days after send)");
    assert_eq!(
        show(&s, "goal")["definition"]["goal"],
        "did(book, 7 days after send)"
    );
    status(&create(&s, ANN, &def("plain", "age > 3", json!({}))), 201);
    assert!(show(&s, "plain")["definition"].get("goal").is_none());

    // A field that is not an EVENT: at `goal`, the caret under the name.
    let e = status(
        &create(
            &s,
            ANN,
            &def(
                "bad",
                "age > 3",
                json!({"goal": "did(city, 7 days after send)"}),
            ),
        ),
        400,
    )["error"]
        .clone();
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("goal: `city` is an ENUM field; a goal counts an EVENT field"),
        "{m}"
    );
    assert!(
        m.contains("1 | did(city, 7 days after send)\n  |     ^^^^"),
        "{m}"
    );
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(1), json!(5)),
        "{e}"
    );
    let e = status(
        &create(
            &s,
            ANN,
            &def(
                "bad",
                "age > 3",
                json!({"goal": "did(bok, 7 days after send)"}),
            ),
        ),
        400,
    )["error"]
        .clone();
    assert_eq!(e["hint"], "did you mean `book`?", "{e}");

    // The statement: the canonical text in the definition.
    status(
        &query(
            &s,
            ANN,
            &statement("viaql", "goal DID ( book , 1 DAY AFTER SEND )"),
        ),
        200,
    );
    assert_eq!(
        show(&s, "viaql")["definition"]["goal"],
        "did(book, 1 day after send)"
    );
    // Its errors in the statement: the window at its number (line 6).
    let e = status(
        &query(
            &s,
            ANN,
            &statement("bad", "GOAL did(book, 400 days after send)"),
        ),
        400,
    )["error"]
        .clone();
    assert_eq!(e["code"], "invalid_campaign", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("a goal's window is 1 to 366 days, found 400"),
        "{e}"
    );
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(6), json!(18)),
        "{e}"
    );
    let e = status(
        &query(
            &s,
            ANN,
            &statement("bad", "GOAL did(book, 7 days before send)"),
        ),
        400,
    )["error"]
        .clone();
    assert_eq!(e["code"], "syntax_error", "{e}");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(6), json!(25)),
        "{e}"
    );

    // A key limited to `age` may not name `book` as the goal, by JSON or
    // by statement; without the goal the same campaign is fine.
    let goal = json!({"goal": "did(book, 7 days after send)",
        "variants": [{"name": "a", "weight": 1, "template": "{age}"}]});
    let e = status(&create(&s, LIMITED, &def("lim", "age > 40", goal)), 403)["error"].clone();
    assert_eq!(e["code"], "forbidden_field", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("field `book`"),
        "{e}"
    );
    let e = status(
        &query(
            &s,
            LIMITED,
            &statement("lim", "GOAL did(book, 7 days after send)"),
        ),
        403,
    )["error"]
        .clone();
    assert_eq!(e["code"], "forbidden_field", "{e}");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(6), json!(12)),
        "{e}"
    );
    status(&query(&s, LIMITED, &statement("lim", "")), 200);

    let names: Vec<String> = s
        .state
        .campaigns
        .store
        .list()
        .iter()
        .map(|c| c.def.name.clone())
        .collect();
    assert_eq!(names, ["goal", "plain", "viaql", "lim"]);
}
