//! Escrow deliveries: what the merchant registers for a paid escrow payment.

use super::{LogisRecord, LogisRequest, PaymentStatus, Refusal, RegisteredDelivery, State};
use crate::clock::now_ms;

/// Courier codes the gateway knows; anything else is recorded as `ETC`.
///
/// The gateway's table (developers.portone.io "택배사 코드": HYUNDAI, HANARO, SAGAWA, KGB,
/// YELLOWCAP, DONGBU, EPOST, CJGLS, HANJIN, DAESIN, ETC) plus the codes of
/// `shared/portone-v1.md`.
const COURIERS: &[&str] = &[
    "HANARO",
    "SAGAWA",
    "YELLOWCAP",
    "DONGBU",
    "CJGLS",
    "HANJIN",
    "EPOST",
    "HYUNDAI",
    "KGB",
    "DAESIN",
    "ILYANG",
    "KDEXP",
    "CVSNET",
    "CHUNIL",
    "HDEXP",
    "HONAM",
    "REGISTPOST",
    "ETC",
];

fn missing(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| v.trim().is_empty())
}

impl State {
    /// Register (`update == false`) or change a delivery for a paid escrow payment.
    pub(crate) fn save_logis(
        &mut self,
        imp_uid: &str,
        request: LogisRequest,
        update: bool,
    ) -> Result<LogisRecord, Refusal> {
        let Some(payment) = self.payment(imp_uid) else {
            return Err(Refusal::new(
                404,
                "배송정보를 등록할 거래건이 존재하지 않습니다.",
            ));
        };
        if !payment.escrow {
            return Err(Refusal::new(400, "에스크로 결제건이 아닙니다."));
        }
        if payment.status != PaymentStatus::Paid {
            return Err(Refusal::new(400, "결제완료 상태의 거래건이 아닙니다."));
        }
        let pg = payment.pg_provider.clone();
        match (update, self.logis.contains_key(imp_uid)) {
            (false, true) => {
                return Err(Refusal::new(
                    409,
                    "이미 배송정보가 등록되어 있습니다. 수정은 PUT으로 요청해주세요.",
                ))
            }
            (true, false) => return Err(Refusal::new(409, "등록된 배송정보가 존재하지 않습니다.")),
            _ => {}
        }
        let LogisRequest {
            sender,
            receiver,
            logis,
        } = request;
        let mut required: Vec<(&str, &Option<String>)> = vec![
            ("logis.company", &logis.company),
            ("logis.invoice", &logis.invoice),
        ];
        if pg.contains("inicis") {
            required.extend([
                ("sender.name", &sender.name),
                ("sender.tel", &sender.tel),
                ("sender.addr", &sender.addr),
                ("sender.postcode", &sender.postcode),
                ("receiver.name", &receiver.name),
                ("receiver.tel", &receiver.tel),
                ("receiver.addr", &receiver.addr),
                ("receiver.postcode", &receiver.postcode),
            ]);
        }
        if pg == "daou" {
            required.extend([
                ("sender.relationship", &sender.relationship),
                ("logis.receiving_at", &logis.receiving_at),
                ("logis.address", &logis.address),
            ]);
        }
        if let Some((field, _)) = required.iter().find(|(_, v)| missing(v)) {
            return Err(Refusal::new(
                400,
                format!("{field} 값이 누락되었습니다. ({pg})"),
            ));
        }
        let Some(sent_at) = logis.sent_at.filter(|t| *t > 0) else {
            return Err(Refusal::new(400, "logis.sent_at 값이 누락되었습니다."));
        };
        let company = logis.company.unwrap_or_default().trim().to_uppercase();
        let company = if COURIERS.contains(&company.as_str()) {
            company
        } else {
            "ETC".to_owned()
        };
        let record = LogisRecord {
            company,
            invoice: logis.invoice.unwrap_or_default(),
            sent_at,
            applied_at: now_ms() / 1000,
            receiving_at: logis.receiving_at,
            address: logis.address,
            sender,
            receiver,
        };
        self.logis.insert(imp_uid.to_owned(), record.clone());
        Ok(record)
    }

    pub(crate) fn logis(&self, imp_uid: &str) -> Result<LogisRecord, Refusal> {
        if self.payment(imp_uid).is_none() {
            return Err(Refusal::new(
                404,
                "배송정보를 조회할 거래건이 존재하지 않습니다.",
            ));
        }
        self.logis
            .get(imp_uid)
            .cloned()
            .ok_or_else(|| Refusal::new(409, "등록된 배송정보가 존재하지 않습니다."))
    }

    /// The delivery registered for a payment with the parties the merchant named; `None`
    /// when none is registered.
    pub(crate) fn registered_delivery(&self, imp_uid: &str) -> Option<RegisteredDelivery> {
        self.logis.get(imp_uid).map(|logis| RegisteredDelivery {
            sender: logis.sender.clone(),
            receiver: logis.receiver.clone(),
            logis: logis.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::{LogisInfo, Party};
    use super::super::test_support::paid;
    use super::*;

    #[test]
    fn courier_codes_of_the_gateway_table_are_kept() {
        let mut state = State::default();
        let imp_uid = paid(&mut state, "m-2", 1000);
        let party = Party {
            name: Some("a".into()),
            tel: Some("010".into()),
            addr: Some("addr".into()),
            postcode: Some("06018".into()),
            relationship: None,
        };
        let table = [
            "HYUNDAI",
            "HANARO",
            "SAGAWA",
            "KGB",
            "YELLOWCAP",
            "DONGBU",
            "EPOST",
            "CJGLS",
            "HANJIN",
            "DAESIN",
            "ETC",
        ];
        for (i, company) in table.into_iter().chain(["LOGEN", "nope"]).enumerate() {
            let request = LogisRequest {
                sender: party.clone(),
                receiver: party.clone(),
                logis: LogisInfo {
                    company: Some(company.into()),
                    invoice: Some("1".into()),
                    sent_at: Some(1_700_000_000),
                    ..LogisInfo::default()
                },
            };
            let saved = match state.save_logis(&imp_uid, request, i > 0) {
                Ok(r) => r.company,
                Err(e) => panic!("{company}: {e:?}"),
            };
            let expected = if table.contains(&company) {
                company
            } else {
                "ETC"
            };
            assert_eq!(saved, expected);
        }
    }
}
