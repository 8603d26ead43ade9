//! Every class of answer, and what each kind of operation records for it.

use serde_json::json;

use super::*;

/// Every error code as a Pygmy service answers it: its status and JSON body.
fn answered(code: ErrorCode) -> Answer {
    let body = json!({"error": {"code": code, "message": "the message"}}).to_string();
    Answer::of_response(
        StatusCode::from_u16(code.status()).unwrap(),
        body.as_bytes(),
    )
}

/// What the history must make of each code: `R` refused, `N` not applied, `U` unknown.
/// Exhaustive, so that a new code does not compile here until someone decides it.
fn class_of(code: ErrorCode) -> char {
    match code {
        ErrorCode::BadRequest
        | ErrorCode::NotFound
        | ErrorCode::MethodNotAllowed
        | ErrorCode::OutOfStock
        | ErrorCode::Conflict
        | ErrorCode::PayloadTooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::UriTooLong
        | ErrorCode::HeadersTooLarge => 'R',
        ErrorCode::Unauthorized
        | ErrorCode::WrongCluster
        | ErrorCode::BodyTimeout
        | ErrorCode::Overloaded
        | ErrorCode::NoLeader => 'N',
        ErrorCode::OutcomeUnknown | ErrorCode::Timeout | ErrorCode::Internal => 'U',
    }
}

fn book(stock: u64) -> serde_json::Value {
    json!({"id": 3, "title": "T", "topic": "gs", "cost": 300, "stock": stock})
}

fn order(number: u64) -> serde_json::Value {
    json!({"number": number, "item": 3, "title": "T", "quantity": 1, "cost": 300,
           "status": "committed"})
}

fn unknown(reason: &str) -> Outcome {
    Outcome::Unknown {
        reason: reason.into(),
    }
}

#[test]
fn every_error_code_is_sorted_by_whether_a_write_may_have_applied() {
    // Goal: each code, at the status a service answers it with, lands in its class: refusals
    // keep their code, the others their message. Method: the whole table, code by code.
    for code in ErrorCode::ALL {
        match (class_of(code), answered(code)) {
            ('R', Answer::Refused(got)) => assert_eq!(got, code),
            ('N', Answer::NotApplied(message)) | ('U', Answer::Unknown(message)) => {
                assert_eq!(message, "the message", "{code:?}");
            }
            (class, other) => panic!("{code:?} should be {class}, is {other:?}"),
        }
    }
}

#[test]
fn a_success_is_ok_only_with_a_json_body() {
    // Goal: a 2xx is the applied write itself, but one whose body cannot be read may be
    // anything (a proxy's page), so it is unknown, never ok.
    match Answer::of_response(StatusCode::CREATED, book(4).to_string().as_bytes()) {
        Answer::Ok(v) => assert_eq!(v, book(4)),
        other => panic!("{other:?}"),
    }
    for body in [&b"Bought Xen"[..], b"", b"{\"id\": 3"] {
        let answer = Answer::of_response(StatusCode::OK, body);
        assert!(
            matches!(&answer, Answer::Unknown(why) if why.starts_with("undecodable answer")),
            "{answer:?}"
        );
    }
}

#[test]
fn an_error_status_without_a_pygmy_body_may_hide_anything() {
    // Goal: only a Pygmy error body is believed: a proxy's 502 page, a bare 404, a JSON of
    // another shape, or a code newer than this client are all unknown, whatever the status.
    let cases: [(u16, &str); 4] = [
        (502, "<html>Bad Gateway</html>"),
        (404, "not found"),
        (409, r#"{"message": "out of stock"}"#),
        (
            409,
            r#"{"error": {"code": "sold_out_forever", "message": "m"}}"#,
        ),
    ];
    for (status, body) in cases {
        let answer = Answer::of_response(StatusCode::from_u16(status).unwrap(), body.as_bytes());
        assert!(
            matches!(&answer, Answer::Unknown(why) if why.contains("without an error body")),
            "{status} {body}: {answer:?}"
        );
    }
}

/// An outcome in a few words: its kind, and its number or the start of its text.
fn summed(outcome: Outcome) -> String {
    let head = |text: &str| text.split(':').next().unwrap_or_default().to_string();
    match outcome {
        Outcome::ReadStock { stock } => format!("read {stock}"),
        Outcome::Bought { order } => format!("bought {}", order.number),
        Outcome::Refused => "refused".into(),
        Outcome::Restocked { stock_after } => format!("restocked {stock_after}"),
        Outcome::OrderSeen { order } => format!("seen {}", order.number),
        Outcome::OrderMissing => "missing".into(),
        Outcome::Failed { code } => format!("failed: {}", head(&code)),
        Outcome::Unknown { reason } => format!("unknown: {}", head(&reason)),
    }
}

/// What `op` records for each class of answer, in this order: a success with `body`, a
/// success with a body of the wrong shape, a refusal with `code`, not applied, unknown.
fn per_class(op: fn(Answer) -> Outcome, body: serde_json::Value, code: ErrorCode) -> [String; 5] {
    [
        Answer::Ok(body),
        Answer::Ok(json!("garbled")),
        Answer::Refused(code),
        Answer::NotApplied("no leader".into()),
        Answer::Unknown("timed out".into()),
    ]
    .map(|answer| summed(op(answer)))
}

#[test]
fn a_lookup_records_the_stock_or_fails_whatever_went_wrong() {
    // Goal: a read has no effect, so every answer without a stock is a failure (never unknown):
    // the linearizability check then ignores it.
    let got = per_class(lookup, book(4), ErrorCode::NotFound);
    let want = [
        "read 4",
        "failed: bad book",
        "failed: not_found",
        "failed: no leader",
        "failed: timed out",
    ];
    assert_eq!(got, want);
}

#[test]
fn a_search_reads_each_book_it_lists_and_nothing_else() {
    let list = json!({"books": [book(4), {"id": 5, "title": "U", "topic": "ds", "cost": 200,
                                          "stock": 0}]});
    let seen: Vec<(u64, u64)> = search(Answer::Ok(list))
        .iter()
        .map(|b| (b.id, b.stock))
        .collect();
    assert_eq!(seen, [(3, 4), (5, 0)]);
    assert!(search(Answer::Ok(book(4))).is_empty(), "not a list");
    assert!(search(Answer::Refused(ErrorCode::BadRequest)).is_empty());
    assert!(search(Answer::Unknown("timed out".into())).is_empty());
}

#[test]
fn a_restock_is_failed_only_when_nothing_was_applied() {
    // Goal: a restock is sent once (it has no key): an answer that leaves it open, an
    // undecodable success included, is unknown, so the conservation check may count it or not.
    let got = per_class(restock, book(9), ErrorCode::Conflict);
    let want = [
        "restocked 9",
        "unknown: bad book",
        "failed: conflict",
        "failed: no leader",
        "unknown: timed out",
    ];
    assert_eq!(got, want);
}

#[test]
fn an_order_read_tells_a_missing_order_from_a_failure() {
    let got = per_class(read_order, order(12), ErrorCode::NotFound);
    let want = [
        "seen 12",
        "failed: bad order",
        "missing",
        "failed: no leader",
        "failed: timed out",
    ];
    assert_eq!(got, want);
    let refused = read_order(Answer::Refused(ErrorCode::BadRequest));
    assert_eq!(summed(refused), "failed: bad_request");
}

/// What a buy answered `answers` in turn records (`open` while it would be resent yet), and
/// how many attempts that took.
fn buy(answers: Vec<Answer>) -> (String, usize) {
    let mut attempts = BuyAttempts::default();
    let count = answers.len();
    for (sent, answer) in answers.into_iter().enumerate() {
        if let Some(outcome) = attempts.answer(answer) {
            return (summed(outcome), sent + 1);
        }
    }
    ("open".into(), count)
}

#[test]
fn a_buy_is_decided_at_its_first_attempt_unless_it_may_have_applied() {
    // Goal: an acknowledgement, a refusal and "not applied" decide a buy at once; an answer
    // that may hide a sale (unknown, or an acknowledgement that cannot be read) does not
    // fail it. Method: one attempt of each class.
    let first = |answer| buy(vec![answer]);
    assert_eq!(first(Answer::Ok(order(7))), ("bought 7".into(), 1));
    let garbled = first(Answer::Ok(json!("garbled")));
    assert_eq!(garbled, ("unknown: bad order".into(), 1));
    let sold_out = first(Answer::Refused(ErrorCode::OutOfStock));
    assert_eq!(sold_out, ("refused".into(), 1));
    let conflict = first(Answer::Refused(ErrorCode::Conflict));
    assert_eq!(conflict, ("failed: conflict".into(), 1));
    let no_leader = first(Answer::NotApplied("no leader".into()));
    assert_eq!(no_leader, ("failed: no leader".into(), 1));
    let timed_out = first(Answer::Unknown("timed out".into()));
    assert_eq!(timed_out, ("open".into(), 1));
}

#[test]
fn a_buy_left_open_is_resent_and_never_failed_afterwards() {
    // Goal: once an attempt may have applied, the buy is resent with its key until an answer
    // decides it; a later "not applied" speaks only for that attempt, so the buy stays open
    // and ends unknown, with the last reason, when the attempts run out.
    let timed_out = || Answer::Unknown("timed out".into());
    let resolved = buy(vec![timed_out(), Answer::Ok(order(3))]);
    assert_eq!(resolved, ("bought 3".into(), 2));
    let sold_out = buy(vec![timed_out(), Answer::Refused(ErrorCode::OutOfStock)]);
    assert_eq!(sold_out, ("refused".into(), 2));
    let no_leader = buy(vec![timed_out(), Answer::NotApplied("no leader".into())]);
    assert_eq!(no_leader, ("open".into(), 2));
    let mut attempts = BuyAttempts::default();
    assert_eq!(attempts.answer(timed_out()), None);
    assert_eq!(
        attempts.answer(Answer::NotApplied("no leader".into())),
        None
    );
    assert_eq!(attempts.exhausted(), unknown("no leader"));
}
