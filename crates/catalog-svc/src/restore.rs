//! A restore's repair of the catalog (`pygmy restore`): a backup takes the order group first
//! and the catalog after it, so the catalog's image may hold stock for buys the order image
//! never saw (begun or finished in between). Their stock goes back to the books, as if those
//! buys had never happened, which they had not as far as the restored orders know.

use api::{Reservation, ReservationState};
use storage::scratch::ScratchState;
use storage::snapshot::StateImage;

use crate::command::{load_book, load_reservation, store_book, store_reservation};
use crate::machine::CatalogMachine;

/// `image` with the stock of each of `reservations` given back to its book and the
/// reservation marked released (one transaction each). A reservation that no longer holds
/// stock, or whose book is gone, is left as it is.
///
/// # Panics
/// If the image is not a catalog state (sled fails on its temporary Db otherwise).
pub fn give_back(image: &StateImage, reservations: &[Reservation]) -> StateImage {
    let state = ScratchState::<CatalogMachine>::from_image(image);
    for r in reservations {
        state.transact(|txn| {
            let Some(mut stored) = load_reservation(txn, &r.key)? else {
                return Ok(());
            };
            let Some(mut book) = load_book(txn, stored.item)? else {
                return Ok(());
            };
            if !matches!(
                stored.state,
                ReservationState::Held | ReservationState::Confirmed
            ) {
                return Ok(());
            }
            book.stock = book
                .stock
                .checked_add(stored.quantity)
                .expect("given-back stock fits in u64");
            stored.state = ReservationState::Released;
            store_book(txn, &book)?;
            store_reservation(txn, &stored)
        });
    }
    state.image()
}

#[cfg(test)]
mod tests {
    use api::Book;

    use super::*;
    use crate::command::{CatalogCommand, Confirm, Release, Reserve, Seed, RESERVATIONS};

    fn book(id: u64, stock: u64) -> Book {
        Book {
            id,
            title: format!("book {id}"),
            topic: "t".into(),
            cost: 10,
            stock,
        }
    }

    fn reserve(key: &str, item: u64, quantity: u64) -> CatalogCommand {
        CatalogCommand::Reserve(Reserve {
            key: key.into(),
            item,
            quantity,
        })
    }

    #[test]
    fn stock_of_unaccounted_buys_goes_back() {
        // Goal: a held and a confirmed reservation given back return their copies to their
        // book and read released; one not named is left as it is, and a released one named
        // gives nothing back twice. Method: a seeded scratch catalog, four reservations (one
        // confirmed, one released), the image given back, read again.
        let state = ScratchState::<CatalogMachine>::new();
        state.apply(&CatalogCommand::Seed(Seed {
            books: vec![book(1, 10), book(2, 10)],
        }));
        for (key, item, q) in [
            ("held", 1, 2),
            ("sold", 1, 3),
            ("kept", 2, 4),
            ("gone", 2, 1),
        ] {
            state.apply(&reserve(key, item, q));
        }
        state.apply(&CatalogCommand::Confirm(Confirm { key: "sold".into() }));
        state.apply(&CatalogCommand::Release(Release {
            key: "gone".into(),
            item: 2,
            quantity: 1,
        }));
        let reservations = crate::inspect::reservations(&state.image());
        let named: Vec<Reservation> = reservations
            .iter()
            .filter(|r| ["held", "sold", "gone"].contains(&r.key.as_str()))
            .cloned()
            .collect();
        let repaired =
            ScratchState::<CatalogMachine>::from_image(&give_back(&state.image(), &named));
        let view = repaired.view();
        let stock = |id: u64| {
            view.get::<Book>(crate::command::BOOKS, &storage::keys::u64_key(id))
                .unwrap()
                .stock
        };
        assert_eq!(stock(1), 10, "2 held and 3 sold copies came back");
        assert_eq!(
            stock(2),
            6,
            "the kept reservation still holds 4; the released one gave back once"
        );
        let state_of = |key: &str| {
            view.get::<Reservation>(RESERVATIONS, key.as_bytes())
                .unwrap()
                .state
        };
        assert_eq!(state_of("held"), ReservationState::Released);
        assert_eq!(state_of("sold"), ReservationState::Released);
        assert_eq!(state_of("kept"), ReservationState::Held);
        assert_eq!(state_of("gone"), ReservationState::Released);
    }
}
