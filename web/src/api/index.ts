/** Typed calls of the escrow API, one function per endpoint of the contract. */
import { http, tokenStore } from './client';
import { parseProblem, toApiError } from '../lib/problem';
import { listQuery } from '../lib/paging';
import type * as C from './contract';

const enc = encodeURIComponent;

export const auth = {
  signup: (body: C.SignupRequest) => http.post<C.SignupResponse>('/auth/signup', body),
  login: (body: C.LoginRequest) => http.post<C.LoginResponse>('/auth/login', body, false),
  me: () => http.get<C.Member>('/auth/me'),
  logout: () => http.post<C.LogoutResponse>('/auth/logout', {}, false),
};

export const products = {
  list: (q: { limit?: number; cursor?: string | null; seller_id?: number | null; q?: string | null } = {}) =>
    http.get<C.ProductPage>(`/products${listQuery(q)}`),
  get: (id: number | string) => http.get<C.Product>(`/products/${enc(String(id))}`),
  create: (body: C.ProductRequest) => http.post<C.ProductCreated>('/products', body),
  update: (id: number, body: C.ProductRequest) => http.put<C.Done>(`/products/${id}`, body),
  remove: (id: number) => http.del<C.Done>(`/products/${id}`),
};

export const cart = {
  get: () => http.get<C.Cart>('/cart'),
  put: (productId: number, quantity: number) => http.put<C.Cart>(`/cart/items/${productId}`, { quantity }),
  remove: (productId: number) => http.del<C.Cart>(`/cart/items/${productId}`),
};

export const orders = {
  create: (body: C.CreateOrderRequest, key: string) => http.post<C.OrdersCreated>('/orders', body, key),
  list: (role: 'buyer' | 'seller', cursor?: string | null) =>
    http.get<C.OrderPage>(`/orders${listQuery({ role, cursor, limit: 20 })}`),
  get: (id: C.Id) => http.get<C.Order>(`/orders/${enc(String(id))}`),
};

const p = (id: C.Id) => `/payments/${enc(String(id))}`;
export const payments = {
  create: (orderId: C.Id, key: string, payMethod: 'card' | 'vbank' = 'card') =>
    http.post<C.PaymentCreated>('/payments', payMethod === 'card' ? { order_id: orderId } : { order_id: orderId, pay_method: payMethod }, key),
  complete: (id: C.Id, impUid: string, key: string) => http.post<C.PaymentStatusBody>(`${p(id)}/complete`, { imp_uid: impUid }, key),
  status: (id: C.Id) => http.get<C.PaymentStatusBody>(`${p(id)}/status`),
  shipment: (id: C.Id, body: C.ShipmentRequest) => http.post<C.PaymentChanged>(`${p(id)}/shipment`, body),
  delivered: (id: C.Id) => http.post<C.PaymentChanged>(`${p(id)}/delivered`),
  confirm: (id: C.Id) => http.post<C.PaymentChanged>(`${p(id)}/confirm`),
  cancel: (id: C.Id, reason?: string, refundAccount?: C.RefundAccountBody) =>
    http.post<C.PaymentChanged>(`${p(id)}/cancel`, {
      ...(reason ? { reason } : {}),
      ...(refundAccount ? { refund_account: refundAccount } : {}),
    }),
  refund: (id: C.Id, reason: string, amount?: number, refundAccount?: C.RefundAccountBody) =>
    http.post<C.RefundResponse>(`${p(id)}/refund`, {
      reason,
      ...(amount ? { amount } : {}),
      ...(refundAccount ? { refund_account: refundAccount } : {}),
    }),
  refunds: (id: C.Id) => http.get<C.RefundList>(`${p(id)}/refunds`),
  dispute: (id: C.Id, reason: string) => http.post<C.PaymentChanged>(`${p(id)}/dispute`, { reason }),
  resolve: (id: C.Id, body: C.ResolveRequest) => http.post<C.PaymentChanged>(`${p(id)}/resolve`, body),
  requestReturn: (id: C.Id, body: C.ReturnRequest) => http.post<C.PaymentChanged>(`${p(id)}/return`, body),
  returnShipment: (id: C.Id, body: C.ReturnShipmentRequest) => http.post<C.PaymentChanged>(`${p(id)}/return/shipment`, body),
  returnReceived: (id: C.Id) => http.post<C.PaymentChanged>(`${p(id)}/return/received`),
  acceptReturn: (id: C.Id, returnFee: number) =>
    http.post<C.PaymentChanged>(`${p(id)}/return/accept`, returnFee ? { return_fee: returnFee } : {}),
  rejectReturn: (id: C.Id, reason: string) => http.post<C.PaymentChanged>(`${p(id)}/return/reject`, { reason }),
};

export const banks = {
  list: () => http.get<C.BanksBody>('/banks'),
};

export const settlements = {
  list: (cursor?: string | null, limit = 20) => http.get<C.SettlementList>(`/settlements${listQuery({ cursor, limit })}`),
  bankAccount: () => http.get<C.BankAccount>('/sellers/me/bank-account'),
  setBankAccount: (body: C.BankAccountRequest) => http.put<C.BankAccount>('/sellers/me/bank-account', body),
};

/** A text file of the API (the payout transfer file), with the caller's token. */
async function textFile(path: string): Promise<string> {
  const headers: Record<string, string> = {};
  const token = tokenStore.get();
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { method: 'GET', headers });
  } catch (err) {
    throw toApiError(err);
  }
  const text = await res.text();
  if (!res.ok) {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not a problem document */
    }
    throw parseProblem(res.status, body);
  }
  return text;
}

const po = (id: C.Id) => `/admin/payouts/${enc(String(id))}`;
export const payouts = {
  list: () => http.get<C.PayoutList>('/admin/payouts'),
  create: (minAmount?: number) => http.post<C.Payout>('/admin/payouts', minAmount ? { min_amount: minAmount } : {}),
  get: (id: C.Id) => http.get<C.Payout>(po(id)),
  transferFile: (id: C.Id) => textFile(`${po(id)}/transfer.csv`),
  paid: (id: C.Id, sellerId: C.Id) => http.post<C.Payout>(`${po(id)}/items/${enc(String(sellerId))}/paid`),
  failed: (id: C.Id, sellerId: C.Id, reason: string) =>
    http.post<C.Payout>(`${po(id)}/items/${enc(String(sellerId))}/failed`, { reason }),
  overdue: () => http.get<C.OverdueList>('/admin/settlements/overdue'),
  chargeback: (paymentId: C.Id, amount: number, reason: string) =>
    http.post<C.Settlement>(`${p(paymentId)}/chargeback`, { amount, reason }),
};

export const admin = {
  ledger: () => http.get<C.Ledger>('/admin/ledger'),
  reconcile: () => http.post<C.ReconcileReport>('/admin/reconcile'),
  /** Not in the contract yet: the disputed orders awaiting a decision. */
  disputes: () => http.get<C.OrderPage>(`/admin/disputes`),
};

export const webhooks = {
  list: () => http.get<C.WebhookEndpointList>('/admin/webhook-endpoints'),
  create: (body: C.WebhookEndpointRequest) => http.post<C.WebhookEndpointCreated>('/admin/webhook-endpoints', body),
  remove: (endpointId: C.Id) => http.del<C.Done>(`/admin/webhook-endpoints/${encodeURIComponent(String(endpointId))}`),
  deliveries: (endpointId: C.Id, cursor?: string | null) =>
    http.get<C.WebhookDeliveryPage>(`/admin/webhook-endpoints/${encodeURIComponent(String(endpointId))}/deliveries${listQuery({ cursor })}`),
  resend: (endpointId: C.Id, deliveryId: C.Id) =>
    http.post<C.Done>(`/admin/webhook-endpoints/${encodeURIComponent(String(endpointId))}/deliveries/${encodeURIComponent(String(deliveryId))}/resend`),
};

export async function webConfig(): Promise<C.WebConfig> {
  const fallback: C.WebConfig = {
    api_version: 'v1',
    imp_code: 'imp00000000',
    iamport_js: '/sandbox/portone/iamport.js',
    browser_sdk: '/sandbox/portone-v2/browser-sdk.js',
    store_id: '',
    channel_key: '',
  };
  try {
    const res = await fetch('/app/config.json', { headers: { Accept: 'application/json' } });
    if (!res.ok) return fallback;
    const cfg = (await res.json()) as Partial<C.WebConfig>;
    const text = (v: unknown, otherwise: string) => (typeof v === 'string' && v ? v : otherwise);
    return {
      api_version: cfg.api_version === 'v2' ? 'v2' : 'v1',
      imp_code: text(cfg.imp_code, fallback.imp_code),
      iamport_js: text(cfg.iamport_js, fallback.iamport_js),
      browser_sdk: text(cfg.browser_sdk, fallback.browser_sdk),
      store_id: text(cfg.store_id, fallback.store_id),
      channel_key: text(cfg.channel_key, fallback.channel_key),
    };
  } catch {
    return fallback;
  }
}
