//! The state graphs of orders, payments and escrow, as the contract draws them. Every
//! transition the service makes is checked here first; anything else is `invalid_state`.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! states {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

states! {
    /// Where an order is in its life.
    OrderStatus {
        PendingPayment => "pending_payment",
        Paid => "paid",
        Shipping => "shipping",
        Delivered => "delivered",
        Confirmed => "confirmed",
        Cancelled => "cancelled",
        Refunded => "refunded",
        Disputed => "disputed",
        Expired => "expired",
        ReturnRequested => "return_requested",
        ReturnShipping => "return_shipping",
        ReturnReceived => "return_received",
        Returned => "returned",
    }
}

states! {
    /// Where a payment is at the gateway, as we record it (`awaiting_deposit`: a virtual
    /// account was issued and the buyer's bank transfer has not arrived).
    PaymentStatus {
        Ready => "ready",
        AwaitingDeposit => "awaiting_deposit",
        Paid => "paid",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        Cancelled => "cancelled",
        Failed => "failed",
    }
}

states! {
    /// Where the buyer's money is.
    EscrowStatus {
        Inactive => "inactive",
        Pending => "pending",
        Held => "held",
        Released => "released",
        Returned => "returned",
    }
}

states! {
    /// Where a refund intent is: recorded before the gateway is asked, settled after.
    RefundStatus {
        Requested => "requested",
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

states! {
    /// What a buyer who refuses delivered goods wants: the money back, or another parcel.
    ReturnKind {
        Return => "return",
        Exchange => "exchange",
    }
}

states! {
    /// Why the goods go back; only a buyer who changed their mind may be charged a fee.
    ReturnReason {
        ChangedMind => "changed_mind",
        Defective => "defective",
        WrongItem => "wrong_item",
        NotAsDescribed => "not_as_described",
    }
}

states! {
    /// How a return ended.
    ReturnOutcome {
        Accepted => "accepted",
        Rejected => "rejected",
        Lapsed => "lapsed",
    }
}

states! {
    /// Why a payment we never held money for ended.
    FailureCode {
        AmountMismatch => "amount_mismatch",
        OrderClosed => "order_closed",
        GatewayFailed => "gateway_failed",
    }
}

impl RefundStatus {
    pub fn can_become(self, next: RefundStatus) -> bool {
        use RefundStatus::*;
        matches!(
            (self, next),
            (Requested, Pending | Succeeded | Failed) | (Pending, Succeeded | Failed)
        )
    }

    /// Still reserving its amount: release waits for it.
    pub fn is_open(self) -> bool {
        matches!(self, RefundStatus::Requested | RefundStatus::Pending)
    }
}

impl OrderStatus {
    /// The edges of the order graph.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (PendingPayment, Paid | Cancelled | Expired)
                | (Paid, Shipping | Cancelled | Refunded)
                | (Shipping, Delivered | Confirmed | Disputed | Refunded)
                | (Delivered, Confirmed | Disputed | Refunded | ReturnRequested)
                | (Disputed, Confirmed | Refunded)
                // A seller's or an admin's full refund also ends an open return.
                | (ReturnRequested, ReturnShipping | Delivered | Disputed | Refunded)
                | (ReturnShipping, ReturnReceived | Disputed | Refunded)
                // `Paid`: an exchange awaits its new shipment.
                | (ReturnReceived, Returned | Paid | Disputed | Refunded)
        )
    }

    /// Money has left (or never reached) escrow: nothing more can happen.
    pub fn is_final(self) -> bool {
        use OrderStatus::*;
        matches!(self, Confirmed | Cancelled | Refunded | Expired | Returned)
    }

    /// The buyer refused the goods and the seller has not decided yet: nothing is released.
    pub fn return_open(self) -> bool {
        use OrderStatus::*;
        matches!(self, ReturnRequested | ReturnShipping | ReturnReceived)
    }

    /// Shipped and not yet released: the buyer may confirm receipt or dispute.
    pub fn awaits_confirmation(self) -> bool {
        matches!(self, OrderStatus::Shipping | OrderStatus::Delivered)
    }
}

impl PaymentStatus {
    pub fn can_become(self, next: PaymentStatus) -> bool {
        use PaymentStatus::*;
        matches!(
            (self, next),
            (Ready, AwaitingDeposit | Paid | Cancelled | Failed)
                | (AwaitingDeposit, Paid | Cancelled | Failed)
                | (Paid, PartiallyRefunded | Refunded | Cancelled)
                | (PartiallyRefunded, PartiallyRefunded | Refunded)
        )
    }

    /// Money was captured and not all of it has gone back.
    pub fn holds_money(self) -> bool {
        matches!(self, PaymentStatus::Paid | PaymentStatus::PartiallyRefunded)
    }
}

impl EscrowStatus {
    pub fn can_become(self, next: EscrowStatus) -> bool {
        use EscrowStatus::*;
        matches!((self, next), (Pending, Held) | (Held, Released | Returned))
    }
}

/// The courier codes of the gateway's escrow delivery API.
pub const COURIERS: &[(&str, &str)] = &[
    ("CJGLS", "CJ대한통운"),
    ("HANJIN", "한진택배"),
    ("EPOST", "우체국택배"),
    ("HYUNDAI", "롯데택배"),
    ("KGB", "로젠택배"),
    ("DAESIN", "대신택배"),
    ("ILYANG", "일양로지스"),
    ("KDEXP", "경동택배"),
    ("CVSNET", "편의점택배"),
    ("CHUNIL", "천일택배"),
    ("HDEXP", "합동택배"),
    ("HONAM", "호남택배"),
    ("REGISTPOST", "우편등기"),
    ("ETC", "기타"),
];

/// PortOne V2's `PaymentLogisticsCompany` name of courier `code` (one of [`COURIERS`]);
/// `ETC` for a courier V2 does not name.
pub fn v2_courier(code: &str) -> &'static str {
    match code {
        "CJGLS" => "CJ",
        "HANJIN" => "HANJIN",
        "EPOST" => "POST",
        "HYUNDAI" => "LOTTE",
        "KGB" => "LOGEN",
        "DAESIN" => "DAESIN",
        "ILYANG" => "ILYANG",
        "KDEXP" => "KYUNGDONG",
        "CVSNET" => "GS",
        "CHUNIL" => "CHUNIL",
        "HDEXP" => "HAPDONG",
        "REGISTPOST" => "POST_REGISTERED",
        _ => "ETC",
    }
}

pub fn parse_courier(code: &str) -> Result<&'static str, String> {
    let code = code.trim().to_ascii_uppercase();
    COURIERS
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(known, _)| *known)
        .ok_or_else(|| "must be a courier code such as CJGLS, HANJIN, EPOST or ETC".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_graph() {
        use OrderStatus::*;
        assert!(PendingPayment.can_become(Paid));
        assert!(Paid.can_become(Shipping));
        assert!(Delivered.can_become(Confirmed));
        assert!(Delivered.can_become(Disputed));
        assert!(Disputed.can_become(Refunded));
        assert!(!Shipping.can_become(Cancelled), "no cancel after shipment");
        assert!(!Confirmed.can_become(Refunded), "no refund after release");
        assert!(!Disputed.can_become(Delivered));
        assert!(!Expired.can_become(Paid));
        for state in [Confirmed, Cancelled, Refunded, Expired, Returned] {
            assert!(state.is_final());
        }
        assert!(Delivered.can_become(ReturnRequested));
        assert!(
            !Shipping.can_become(ReturnRequested),
            "a return starts after delivery"
        );
        assert!(ReturnRequested.can_become(Delivered), "a lapse");
        assert!(ReturnReceived.can_become(Paid), "an exchange");
        assert!(
            !ReturnReceived.can_become(Confirmed),
            "no release while a return is open"
        );
        assert!(!Returned.can_become(Paid));
    }

    #[test]
    fn payment_and_escrow_graphs() {
        use PaymentStatus::*;
        assert!(Ready.can_become(Paid));
        assert!(Ready.can_become(AwaitingDeposit));
        assert!(AwaitingDeposit.can_become(Paid));
        assert!(AwaitingDeposit.can_become(Cancelled));
        assert!(!AwaitingDeposit.can_become(Ready));
        assert!(!AwaitingDeposit.holds_money());
        assert!(!Paid.can_become(AwaitingDeposit));
        assert!(PartiallyRefunded.can_become(PartiallyRefunded));
        assert!(!Refunded.can_become(Paid));
        assert!(!Cancelled.can_become(Paid));
        assert!(!Failed.can_become(Paid));
        assert!(EscrowStatus::Held.can_become(EscrowStatus::Released));
        assert!(!EscrowStatus::Released.can_become(EscrowStatus::Returned));
        assert!(!EscrowStatus::Inactive.can_become(EscrowStatus::Held));
    }

    #[test]
    fn couriers_in_v2_names() {
        let rows = [
            ("CJGLS", "CJ"),
            ("EPOST", "POST"),
            ("HYUNDAI", "LOTTE"),
            ("HONAM", "ETC"),
        ];
        for (code, v2) in rows {
            assert_eq!(v2_courier(code), v2, "{code}");
        }
        let named = COURIERS
            .iter()
            .filter(|(c, _)| v2_courier(c) != "ETC")
            .count();
        assert_eq!(
            named,
            COURIERS.len() - 2,
            "all but HONAM and ETC have a V2 name"
        );
    }

    #[test]
    fn refund_graph() {
        use RefundStatus::*;
        assert!(Requested.can_become(Succeeded));
        assert!(Requested.can_become(Pending));
        assert!(Pending.can_become(Failed));
        assert!(!Succeeded.can_become(Failed));
        assert!(!Failed.can_become(Requested));
        assert!(Requested.is_open() && Pending.is_open());
        assert!(!Succeeded.is_open() && !Failed.is_open());
    }

    #[test]
    fn states_round_trip() {
        for s in ["pending_payment", "paid", "disputed", "expired"] {
            assert_eq!(OrderStatus::parse(s).map(|o| o.as_str()), Ok(s));
        }
        assert!(PaymentStatus::parse("lost").is_err());
    }

    #[test]
    fn couriers() {
        assert_eq!(parse_courier("cjgls"), Ok("CJGLS"));
        assert!(parse_courier("FEDEX").is_err());
    }
}
