//! Virtual accounts on the wire: the bank list, the account a payment waits on, and the
//! refund account a refund of a paid one names.

use crate::error::ApiError;
use crate::wire::rfc3339;
use axum::Json;
use escrow_core::payments::VbankAccount;
use escrow_domain::banks::{RefundAccount, BANKS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The buyer's own bank account, where a virtual-account payment's refund is sent.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundAccountBody {
    /// KFTC standard 3-digit code (`GET /banks`).
    pub bank_code: String,
    pub account_number: String,
    pub holder: String,
}

impl RefundAccountBody {
    pub fn parse(&self) -> Result<RefundAccount, ApiError> {
        RefundAccount::parse(&self.bank_code, &self.account_number, &self.holder)
            .map_err(|errors| ApiError(errors.into()))
    }
}

/// The refund account of a request body, checked, when one is given.
pub fn refund_account(body: Option<&RefundAccountBody>) -> Result<Option<RefundAccount>, ApiError> {
    body.map(RefundAccountBody::parse).transpose()
}

/// The virtual account a payment waits on.
#[derive(Debug, Serialize, ToSchema)]
pub struct VbankBody {
    /// KFTC standard code.
    pub bank_code: String,
    pub bank_name: String,
    pub account_number: String,
    pub holder: String,
    /// The deposit's due time.
    pub due_at: String,
}

impl From<VbankAccount> for VbankBody {
    fn from(account: VbankAccount) -> Self {
        Self {
            bank_code: account.bank_code,
            bank_name: account.bank_name,
            account_number: account.account_number,
            holder: account.holder,
            due_at: rfc3339(account.due_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BankBody {
    /// KFTC standard 3-digit code.
    pub code: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BanksBody {
    pub items: Vec<BankBody>,
}

/// The banks a refund account may be at, by KFTC standard code.
#[utoipa::path(get, path = "/banks", tag = "payments", responses((status = 200, body = BanksBody)))]
pub async fn list_banks() -> Json<BanksBody> {
    Json(BanksBody {
        items: BANKS
            .iter()
            .map(|(code, name)| BankBody {
                code: (*code).into(),
                name: (*name).into(),
            })
            .collect(),
    })
}
