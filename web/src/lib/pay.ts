/**
 * The checkout of one order (api.md §5): POST /payments → IMP.request_pay with the server's
 * `checkout` (with PortOne V2: PortOne.requestPayment, api.md §13) → POST
 * /payments/{id}/complete with the imp_uid (V2: the transaction id). The server verifies with the
 * gateway; the browser's word is never taken for the amount.
 */
import { payments, webConfig } from '../api';
import type { Id, PaymentCreated, PaymentStatusBody } from '../api/contract';
import { loadIamport, paySucceeded, requestPay } from './iamport';
import { loadPortOne } from './portone-v2';
import { toApiError } from './problem';
import { uuid } from './uuid';

export type PayOutcome =
  | { ok: true; paymentId: Id; status: PaymentStatusBody }
  | { ok: false; paymentId: Id | null; message: string; code?: string };

export function returnUrl(paymentId: Id): string {
  return new URL(`${import.meta.env.BASE_URL}payments/${encodeURIComponent(String(paymentId))}/return`, window.location.origin).href;
}

/**
 * The payment prepared for each order in this page, so that trying again after a declined
 * card reuses it (same merchant_uid, amount already registered with the gateway) instead of
 * asking the server for another.
 */
const prepared = new Map<string, PaymentCreated>();

export type PayMethod = 'card' | 'vbank';

/**
 * Pays an order by card, or by virtual account (`vbank`): then success is the account
 * issued (`awaiting_deposit`), and the deposit follows by bank transfer.
 */
export async function payOrder(orderId: Id, payMethod: PayMethod = 'card'): Promise<PayOutcome> {
  let paymentId: Id | null = null;
  try {
    const key = `${orderId}:${payMethod}`;
    const created = prepared.get(key) ?? (await payments.create(orderId, uuid(), payMethod));
    prepared.set(key, created);
    paymentId = created.payment_id;
    const cfg = await webConfig();
    if (cfg.api_version === 'v2') {
      // PortOne V2: the gateway's id of the payment is its transaction id (txId).
      const sdk = await loadPortOne(cfg.browser_sdk);
      const c = created.checkout;
      const result = await sdk.requestPayment({
        storeId: cfg.store_id,
        channelKey: cfg.channel_key,
        paymentId: c.merchant_uid,
        orderName: c.name,
        totalAmount: c.amount,
        currency: 'CURRENCY_KRW',
        payMethod: payMethod === 'vbank' ? 'VIRTUAL_ACCOUNT' : 'CARD',
        isEscrow: c.escrow,
        customer: { fullName: c.buyer_name, email: c.buyer_email, phoneNumber: c.buyer_tel || undefined },
        redirectUrl: returnUrl(created.payment_id),
        noticeUrls: [c.notice_url],
      });
      if (!result || result.code || !result.txId) {
        return { ok: false, paymentId, message: result?.message || '', code: result?.code };
      }
      return finish(key, await complete(created.payment_id, result.txId));
    }
    const imp = await loadIamport(cfg.iamport_js);
    const { imp_code, vbank_due, ...checkout } = created.checkout;
    const result = await requestPay(imp, imp_code || cfg.imp_code, {
      ...checkout,
      ...(vbank_due ? { vbank_due } : {}),
      pay_method: checkout.pay_method as never,
      pg: checkout.pg as never,
      m_redirect_url: returnUrl(created.payment_id),
    });
    if (!paySucceeded(result) || !result.imp_uid) {
      return { ok: false, paymentId, message: result.error_msg || '', code: result.error_code };
    }
    return finish(key, await complete(created.payment_id, result.imp_uid));
  } catch (err) {
    const e = toApiError(err);
    return { ok: false, paymentId, message: e.message, code: e.code };
  }
}

/** Paid, or refused by the server's own check: either way this payment is finished. */
function finish(key: string, outcome: PayOutcome): PayOutcome {
  if (outcome.ok || outcome.code === 'failed' || outcome.code === 'amount_mismatch') prepared.delete(key);
  return outcome;
}

export async function complete(paymentId: Id, impUid: string): Promise<PayOutcome> {
  try {
    const status = await payments.complete(paymentId, impUid, uuid());
    if (status.status === 'failed') return { ok: false, paymentId, message: '', code: 'failed' };
    return { ok: true, paymentId, status };
  } catch (err) {
    const e = toApiError(err);
    return { ok: false, paymentId, message: e.message, code: e.code };
  }
}
