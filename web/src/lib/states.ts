/**
 * The escrow state graphs of the contract (api.md §5), as the UI needs them: labels,
 * colours, the happy-path progress, history ordering and which actions to offer.
 * The server checks every transition; this only decides what buttons to show.
 */

export const ORDER_STATUSES = [
  'pending_payment', 'paid', 'shipping', 'delivered', 'confirmed',
  'cancelled', 'refunded', 'disputed', 'expired',
  'return_requested', 'return_shipping', 'return_received', 'returned',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const PAYMENT_STATUSES = ['ready', 'awaiting_deposit', 'paid', 'partially_refunded', 'refunded', 'cancelled', 'failed'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const ESCROW_STATUSES = ['inactive', 'pending', 'held', 'released', 'returned'] as const;
export type EscrowStatus = (typeof ESCROW_STATUSES)[number];

/** A refund's own states (api.md §8): asked of the gateway, on its way, settled either way. */
export const REFUND_STATUSES = ['requested', 'pending', 'succeeded', 'failed'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/** The graphs a status belongs to; a badge says which one it shows. */
export type StatusKind = 'order' | 'payment' | 'escrow' | 'refund' | 'delivery';

/** The happy path, in order; used for the progress bar. */
export const ORDER_FLOW: OrderStatus[] = ['pending_payment', 'paid', 'shipping', 'delivered', 'confirmed'];

export type Tone = 'neutral' | 'info' | 'progress' | 'success' | 'warning' | 'danger';

const TONES: Record<string, Tone> = {
  pending_payment: 'warning', paid: 'info', shipping: 'progress', delivered: 'progress',
  confirmed: 'success', cancelled: 'neutral', refunded: 'neutral', disputed: 'danger', expired: 'neutral',
  return_requested: 'warning', return_shipping: 'progress', return_received: 'progress',
  ready: 'warning', awaiting_deposit: 'warning', partially_refunded: 'info', failed: 'danger',
  inactive: 'neutral', pending: 'warning', held: 'info', released: 'success', returned: 'neutral',
};

/** A refund's (and a webhook delivery's) `pending` is on its way, not an escrow awaiting
 * payment: their own tones. */
const REFUND_TONES: Record<string, Tone> = {
  requested: 'warning', pending: 'progress', succeeded: 'success', failed: 'danger',
};

export function toneOf(status: string | null | undefined, kind?: StatusKind): Tone {
  const tones = kind === 'refund' || kind === 'delivery' ? REFUND_TONES : TONES;
  return (status && tones[status]) || 'neutral';
}

/** i18n key of a status: `status.order.paid`, `status.payment.failed`, `status.refund.pending`. */
export function statusKey(kind: StatusKind, status: string): string {
  return `status.${kind}.${status}`;
}

/** Index of the status on the happy path, or -1 when it left it (cancelled, refunded...). */
export function flowStep(status: string): number {
  return ORDER_FLOW.indexOf(status as OrderStatus);
}

export interface HistoryEntry {
  at: string;
  /** Which graph moved: `order`, `payment` or `escrow`. */
  entity?: string;
  from?: string | null;
  to: string;
  actor?: string | null;
  reason?: string | null;
}

/** Oldest first; entries with the same time keep the server's order. */
export function sortHistory<T extends { at: string }>(history: readonly T[] | null | undefined): T[] {
  return (history ?? [])
    .map((entry, i) => ({ entry, i, t: Date.parse(entry.at) }))
    .sort((a, b) => (Number.isNaN(a.t) || Number.isNaN(b.t) || a.t === b.t ? a.i - b.i : a.t - b.t))
    .map((x) => x.entry);
}

export type Viewer = 'buyer' | 'seller' | 'admin';
export type Action =
  | 'pay' | 'cancel' | 'refund_request' | 'confirm' | 'dispute'
  | 'ship' | 'delivered' | 'refund' | 'resolve';

/** The actions a viewer may try on an order in this state (the server decides for real). */
export function actionsFor(viewer: Viewer, status: string, hasPayment = true): Action[] {
  const s = status as OrderStatus;
  switch (viewer) {
    case 'buyer':
      return [
        ...(s === 'pending_payment' ? (['pay'] as Action[]) : []),
        ...(s === 'pending_payment' && hasPayment ? (['cancel'] as Action[]) : []),
        ...(s === 'paid' && hasPayment ? (['cancel', 'refund_request'] as Action[]) : []),
        ...(s === 'delivered' ? (['confirm'] as Action[]) : []),
        ...(s === 'shipping' || s === 'delivered' ? (['dispute'] as Action[]) : []),
      ];
    case 'seller':
      return [
        ...(s === 'pending_payment' && hasPayment ? (['cancel'] as Action[]) : []),
        ...(s === 'paid' ? (['ship', 'cancel'] as Action[]) : []),
        ...(s === 'shipping' ? (['ship', 'delivered'] as Action[]) : []),
        ...(['paid', 'shipping', 'delivered', 'disputed'].includes(s) ? (['refund'] as Action[]) : []),
      ];
    case 'admin':
      return [
        ...(s === 'disputed' ? (['resolve'] as Action[]) : []),
        ...(s === 'shipping' ? (['delivered'] as Action[]) : []),
        ...(['paid', 'shipping', 'delivered', 'disputed'].includes(s) ? (['refund'] as Action[]) : []),
      ];
  }
}

/** Courier codes of the gateway's escrow delivery API (portone-v1.md). */
export const COURIERS = [
  'CJGLS', 'HANJIN', 'EPOST', 'HYUNDAI', 'KGB', 'DAESIN', 'ILYANG', 'KDEXP',
  'CVSNET', 'CHUNIL', 'HDEXP', 'HONAM', 'REGISTPOST', 'ETC',
] as const;
export type Courier = (typeof COURIERS)[number];
