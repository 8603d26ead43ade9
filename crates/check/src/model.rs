//! The register model of the linearizability search: what an operation does to a book's stock
//! ([`Action`]), one operation with its interval ([`SearchOp`]) and how a history ends
//! ([`End`]). Plain data and the step rule, depending on no other module of the crate, so that
//! the search (`wgl`), its walk (`walk`) and its bookkeeping (`placed`) all depend on it and
//! imports between them run one way: `wgl` -> `walk` -> `placed` -> `model`.

/// What one operation does to the stock, as the search sees it.
///
/// Ordered (by variant, then fields) only so that runs of unknown writes have one canonical
/// order (`walk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Action {
    /// A read that saw `stock`: legal only when the stock is exactly that.
    Read { stock: u64 },
    /// An acknowledged buy: legal when enough stock is left; takes `quantity`.
    Take { quantity: u64 },
    /// A refused buy: legal only when less than `quantity` is left; changes nothing.
    Refuse { quantity: u64 },
    /// An applied restock that answered `stock_after`.
    Restock { delta: i64, stock_after: u64 },
    /// A buy with unknown outcome, if linearized: takes `quantity` (if there is that much;
    /// else it was refused, which is the same as not linearizing it).
    MaybeTake { quantity: u64 },
    /// A restock with unknown outcome, if linearized: adds `delta` (if that stays >= 0).
    MaybeRestock { delta: i64 },
}

impl Action {
    /// The stock after this action, or `None` when it is illegal from `stock`.
    pub(crate) fn step(self, stock: u64) -> Option<u64> {
        match self {
            Action::Read { stock: seen } => (stock == seen).then_some(stock),
            Action::Take { quantity } | Action::MaybeTake { quantity } => {
                stock.checked_sub(quantity)
            }
            Action::Refuse { quantity } => (stock < quantity).then_some(stock),
            Action::Restock { delta, stock_after } => stock
                .checked_add_signed(delta)
                .filter(|s| *s == stock_after),
            Action::MaybeRestock { delta } => stock.checked_add_signed(delta),
        }
    }

    /// The change of stock when the action applies.
    pub(crate) fn delta(self) -> i128 {
        match self {
            Action::Read { .. } | Action::Refuse { .. } => 0,
            Action::Take { quantity } | Action::MaybeTake { quantity } => -i128::from(quantity),
            Action::Restock { delta, .. } | Action::MaybeRestock { delta } => i128::from(delta),
        }
    }

    /// True for the writes whose outcome is unknown.
    pub(crate) fn is_unknown(self) -> bool {
        matches!(self, Action::MaybeTake { .. } | Action::MaybeRestock { .. })
    }
}

/// One operation of the register's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SearchOp {
    /// Invocation time.
    pub(crate) invoke: u64,
    /// Completion time; `u64::MAX` (+infinity) for the unknown writes, and only for them.
    pub(crate) complete: u64,
    /// What it does to the stock.
    pub(crate) action: Action,
}

/// How a history ends, when that is known: its last op is a read of `stock` after every other
/// op (nothing applies after it), and by then exactly so many unknown writes of the actions of
/// `exactly` had applied (from the final order log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct End {
    pub(crate) stock: u64,
    pub(crate) exactly: Vec<(Action, u32)>,
}
