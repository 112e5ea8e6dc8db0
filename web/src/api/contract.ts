/**
 * The API's types, by name, for the rest of the UI. Everything the service documents in its
 * /openapi.json comes from the generated `schema.d.ts` (`npm run gen:api` from the committed
 * snapshot `openapi.json`). What is written by hand here is what the document does not
 * describe; `schema-check.ts` compares such hand types with generated schemas as soon as
 * schemas of those names appear, so `npm run build` fails when they drift.
 */
import type { components } from './schema';
import type { HistoryEntry } from '../lib/states';

type S = components['schemas'];

// ---- from the generated schema (members, products) ----
export type Member = S['MemberBody'];
/** The schema types `role` as a plain string; these are the contract's values. */
export type Role = 'buyer' | 'seller' | 'admin';
export type SignupRequest = S['SignupRequest'];
export type LoginRequest = S['LoginRequest'];
export type LoginResponse = S['LoginResponse'];
export type LogoutResponse = S['LogoutResponse'];
export type Product = S['ProductBody'];
export type ProductRequest = S['ProductRequest'];
export type ProductPage = S['ProductPage'];
export type ProductCreated = S['ProductCreated'];

/** A command's answer with nothing more to say: `{success, message}`. */
export type Done = S['Done'];
export type SignupResponse = S['SignupResponse'];

/** Order and payment ids: integers from the API, strings when they come from a URL. */
export type Id = number | string;

// ---- cart, orders, payments, settlements, admin (api.md §4–5): generated too, now that the
// service documents them. Statuses are plain strings in the schema; lib/states.ts has the graphs.
export type CartItem = S['CartLineBody'];
export type Cart = S['CartBody'];
export type Shipping = S['ShippingBody'];
export type OrderItem = S['OrderItemBody'];
export type Shipment = S['ShipmentBody'];
export type OrderPayment = S['OrderPaymentBody'];
/** `history` is not part of an order (it comes with the payment status); kept optional for old servers. */
export type Order = S['OrderBody'] & { history?: HistoryEntry[]; updated_at?: string };
export type CreateOrderRequest = S['CreateOrderRequest'];
export type OrdersCreated = S['OrdersCreated'];
export type OrderPage = S['OrderPage'];
export type Checkout = S['CheckoutBody'];
export type PaymentCreated = S['PaymentCreatedBody'];
export type PaymentStatusBody = S['PaymentStatusBody'];
export type VbankBody = S['VbankBody'];
export type RefundAccountBody = S['RefundAccountBody'];
export type BanksBody = S['BanksBody'];
export type HistoryBody = S['HistoryBody'];
export type ShipmentRequest = S['ShipmentRequest'];
export type RefundResponse = S['RefundResponse'];
/** A refund as the refund command answers it; `Refund` adds its reason and failure (api.md §8). */
export type RefundSummary = S['RefundSummaryBody'];
export type Refund = S['RefundBody'];
export type RefundList = S['RefundsBody'];
export type ResolveRequest = S['ResolveRequest'];
// ---- returns and exchanges (api.md §10) ----
export type ReturnBody = S['ReturnBody'];
export type ReturnRequest = S['ReturnRequest'];
export type ReturnShipmentRequest = S['ReturnShipmentRequest'];
export type PaymentChanged = S['PaymentChanged'];
export type Settlement = S['SettlementBody'];
export type SettlementList = S['SettlementsBody'];
export type SettlementBalance = S['BalanceBody'];
export type BankAccount = S['BankAccountBody'];
export type BankAccountRequest = S['BankAccountRequest'];
export type Payout = S['PayoutBody'];
export type PayoutItem = S['PayoutItemBody'];
export type PayoutList = S['PayoutsBody'];
export type Overdue = S['OverdueBody'];
export type OverdueList = S['OverdueListBody'];
export type Ledger = S['LedgerBody'];
export type Divergence = S['DivergenceBody'];
export type ReconcileReport = S['ReconcileBody'];
// ---- outgoing webhooks (api.md §12) ----
export type WebhookEndpoint = S['WebhookEndpointBody'];
export type WebhookEndpointRequest = S['WebhookEndpointRequest'];
/** The endpoint as created, with its signing secret: the only answer that carries it. */
export type WebhookEndpointCreated = S['WebhookEndpointCreated'];
export type WebhookEndpointList = S['WebhookEndpointList'];
export type WebhookDelivery = S['WebhookDeliveryBody'];
export type WebhookDeliveryPage = S['WebhookDeliveryPage'];

/** What the browser reads from GET /app/config.json. */
export interface WebConfig {
  /** `v1`: IMP.request_pay from iamport_js; `v2`: PortOne.requestPayment from browser_sdk. */
  api_version: 'v1' | 'v2';
  imp_code: string;
  iamport_js: string;
  browser_sdk: string;
  store_id: string;
  channel_key: string;
}
