//! Test helpers: an in-process HTTP server on 127.0.0.1:0 and sample wire values.

use api::{Book, Order, OrderStatus};
use tokio::sync::oneshot;

/// An axum router served on 127.0.0.1:0 until dropped (a oneshot is its shutdown signal).
pub(crate) struct FakeServer {
    base_url: String,
    _stop: oneshot::Sender<()>,
}

impl FakeServer {
    /// Binds 127.0.0.1:0 and serves `router` in a background task.
    pub(crate) async fn start(router: axum::Router) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        FakeServer {
            base_url: format!("http://{addr}"),
            _stop: stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// Book `id` with made-up fields.
pub(crate) fn book(id: u64) -> Book {
    Book {
        id,
        title: format!("Book {id}"),
        topic: "ds".into(),
        cost: 100 * id,
        stock: 5,
    }
}

/// Order `number` of one copy of `item`.
pub(crate) fn order(number: u64, item: u64) -> Order {
    Order {
        number,
        item,
        title: format!("Book {item}"),
        quantity: 1,
        cost: 100 * item,
        status: OrderStatus::Committed,
    }
}
