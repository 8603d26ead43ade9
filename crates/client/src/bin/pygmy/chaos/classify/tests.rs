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

const ALL_CODES: [ErrorCode; 17] = [
    ErrorCode::BadRequest,
    ErrorCode::Unauthorized,
    ErrorCode::NotFound,
    ErrorCode::WrongCluster,
    ErrorCode::MethodNotAllowed,
    ErrorCode::BodyTimeout,
    ErrorCode::OutOfStock,
    ErrorCode::Conflict,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::UriTooLong,
    ErrorCode::HeadersTooLarge,
    ErrorCode::Overloaded,
    ErrorCode::NoLeader,
    ErrorCode::OutcomeUnknown,
    ErrorCode::Timeout,
    ErrorCode::Internal,
];

fn book(stock: u64) -> serde_json::Value {
    json!({"id": 3, "title": "T", "topic": "gs", "cost": 300, "stock": stock})
}

fn order(number: u64) -> serde_json::Value {
    json!({"number": number, "item": 3, "title": "T", "quantity": 1, "cost": 300,
           "status": "committed"})
}

fn failed(code: &str) -> Outcome {
    Outcome::Failed { code: code.into() }
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
    for code in ALL_CODES {
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

#[test]
fn a_lookup_records_the_stock_or_fails_whatever_went_wrong() {
    // Goal: a read has no effect, so every answer without a stock is a failure (never unknown):
    // the linearizability check then ignores it.
    assert_eq!(lookup(Answer::Ok(book(4))), Outcome::ReadStock { stock: 4 });
    assert!(matches!(
        lookup(Answer::Ok(json!({"books": []}))),
        Outcome::Failed { code } if code.starts_with("bad book")
    ));
    assert_eq!(
        lookup(Answer::Refused(ErrorCode::NotFound)),
        failed("not_found")
    );
    assert_eq!(
        lookup(Answer::NotApplied("no leader".into())),
        failed("no leader")
    );
    assert_eq!(
        lookup(Answer::Unknown("timed out".into())),
        failed("timed out")
    );
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
    assert_eq!(
        restock(Answer::Ok(book(9))),
        Outcome::Restocked { stock_after: 9 }
    );
    assert!(matches!(
        restock(Answer::Ok(json!("done"))),
        Outcome::Unknown { reason } if reason.starts_with("bad book")
    ));
    assert_eq!(
        restock(Answer::Refused(ErrorCode::Conflict)),
        failed("conflict")
    );
    assert_eq!(
        restock(Answer::NotApplied("no leader".into())),
        failed("no leader")
    );
    assert_eq!(
        restock(Answer::Unknown("cut off".into())),
        unknown("cut off")
    );
}

#[test]
fn an_order_read_tells_a_missing_order_from_a_failure() {
    let seen = read_order(Answer::Ok(order(12)));
    assert!(matches!(seen, Outcome::OrderSeen { order } if order.number == 12));
    assert_eq!(
        read_order(Answer::Refused(ErrorCode::NotFound)),
        Outcome::OrderMissing
    );
    assert_eq!(
        read_order(Answer::Refused(ErrorCode::BadRequest)),
        failed("bad_request")
    );
    assert!(matches!(
        read_order(Answer::Ok(book(1))),
        Outcome::Failed { code } if code.starts_with("bad order")
    ));
    assert_eq!(
        read_order(Answer::Unknown("timed out".into())),
        failed("timed out")
    );
}

/// The outcome of a buy answered `answers` in turn, and how many attempts it took; `None`
/// while it would still be resent.
fn buy(answers: Vec<Answer>) -> (Option<Outcome>, usize) {
    let mut attempts = BuyAttempts::default();
    for (sent, answer) in answers.into_iter().enumerate() {
        if let Some(outcome) = attempts.answer(answer) {
            return (Some(outcome), sent + 1);
        }
    }
    (None, usize::MAX)
}

#[test]
fn a_buy_decided_at_its_first_attempt() {
    let (bought, sent) = buy(vec![Answer::Ok(order(7))]);
    assert!(matches!(bought, Some(Outcome::Bought { order }) if order.number == 7));
    assert_eq!(sent, 1);
    let refused = buy(vec![Answer::Refused(ErrorCode::OutOfStock)]);
    assert_eq!(refused, (Some(Outcome::Refused), 1));
    let conflict = buy(vec![Answer::Refused(ErrorCode::Conflict)]);
    assert_eq!(conflict, (Some(failed("conflict")), 1));
    let no_leader = buy(vec![Answer::NotApplied("no leader".into())]);
    assert_eq!(no_leader, (Some(failed("no leader")), 1));
    // An acknowledgement that cannot be read may still be a sale.
    let (garbled, _) = buy(vec![Answer::Ok(json!({"number": "twelve"}))]);
    assert!(
        matches!(garbled, Some(Outcome::Unknown { reason }) if reason.starts_with("bad order"))
    );
}

#[test]
fn a_buy_left_open_is_resent_and_never_failed_afterwards() {
    // Goal: once an attempt may have applied, the buy is resent with its key until an answer
    // decides it; a later "not applied" speaks only for that attempt, so the buy stays open
    // and ends unknown, with the last reason, when the attempts run out.
    let (resolved, sent) = buy(vec![
        Answer::Unknown("timed out".into()),
        Answer::Ok(order(3)),
    ]);
    assert!(matches!(resolved, Some(Outcome::Bought { .. })));
    assert_eq!(sent, 2);
    let (sold_out, _) = buy(vec![
        Answer::Unknown("timed out".into()),
        Answer::Refused(ErrorCode::OutOfStock),
    ]);
    assert_eq!(sold_out, Some(Outcome::Refused));
    let mut attempts = BuyAttempts::default();
    assert_eq!(attempts.answer(Answer::Unknown("timed out".into())), None);
    assert_eq!(
        attempts.answer(Answer::NotApplied("no leader".into())),
        None
    );
    assert_eq!(attempts.exhausted(), unknown("no leader"));
}
