/**
 * Returns and exchanges (api.md §10) as the UI needs them: which return actions a viewer may
 * try in which order state, the seller's fee as typed, and the return's steps with their
 * deadlines for its timeline. The server checks everything; this only decides what to show.
 */
import { parseWon } from './money';
import type { Viewer } from './states';

export const RETURN_KINDS = ['return', 'exchange'] as const;
export type ReturnKind = (typeof RETURN_KINDS)[number];
export const RETURN_REASONS = ['changed_mind', 'defective', 'wrong_item', 'not_as_described'] as const;
export type ReturnReason = (typeof RETURN_REASONS)[number];

/** The default most a seller may keep (`ESCROW_MAX_RETURN_FEE`); the server has the final word. */
export const MAX_RETURN_FEE = 6000;

export type ReturnAction = 'return_request' | 'return_ship' | 'return_received' | 'return_accept' | 'return_reject';

/** What the return timeline needs of a return (the API's `return`). */
export interface ReturnView {
  kind: string;
  reason_code: string;
  requested_at: string;
  ship_by: string;
  shipped_at?: string | null;
  received_at?: string | null;
  inspect_by?: string | null;
  outcome?: string | null;
  closed_at?: string | null;
  return_fee: number;
}

export function returnActionsFor(viewer: Viewer, orderStatus: string): ReturnAction[] {
  if (viewer === 'buyer') {
    if (orderStatus === 'delivered') return ['return_request'];
    if (orderStatus === 'return_requested' || orderStatus === 'return_shipping') return ['return_ship'];
    return [];
  }
  if (viewer === 'seller') {
    if (orderStatus === 'return_requested') return ['return_reject'];
    if (orderStatus === 'return_shipping') return ['return_received', 'return_reject'];
    if (orderStatus === 'return_received') return ['return_accept', 'return_reject'];
  }
  return [];
}

/** Only a return the buyer changed their mind about may keep a fee. */
export function feeAllowed(ret: Pick<ReturnView, 'kind' | 'reason_code'> | null | undefined): boolean {
  return ret?.kind === 'return' && ret.reason_code === 'changed_mind';
}

/** The fee as the seller typed it: empty is none; otherwise whole won up to the limit and
 * to what is left of the payment. */
export function parseFee(text: string, left: number, max = MAX_RETURN_FEE): { fee: number } | { error: 'feeInvalid' | 'feeTooLarge' } {
  if (!text.trim()) return { fee: 0 };
  const fee = parseWon(text);
  if (fee === null) return { error: 'feeInvalid' };
  if (fee > Math.min(max, left)) return { error: 'feeTooLarge' };
  return { fee };
}

/** One step of a return: done at a time, or due by a deadline. */
export interface ReturnStep {
  step: 'requested' | 'shipped' | 'received' | 'accepted' | 'rejected' | 'lapsed' | 'decision' | 'confirmation';
  at?: string;
  due?: string;
}

/** The steps so far and the next deadline, in order. `autoConfirmAt` is where automatic
 * confirmation resumes after a lapse. */
export function returnSteps(ret: ReturnView, autoConfirmAt?: string | null): ReturnStep[] {
  const steps: ReturnStep[] = [{ step: 'requested', at: ret.requested_at }];
  const open = !ret.closed_at;
  if (ret.shipped_at) steps.push({ step: 'shipped', at: ret.shipped_at });
  else if (open) steps.push({ step: 'shipped', due: ret.ship_by });
  if (ret.received_at) steps.push({ step: 'received', at: ret.received_at });
  if (open && ret.received_at && ret.inspect_by) steps.push({ step: 'decision', due: ret.inspect_by });
  if (!open && ret.outcome && ['accepted', 'rejected', 'lapsed'].includes(ret.outcome)) {
    steps.push({ step: ret.outcome as ReturnStep['step'], at: ret.closed_at ?? undefined });
    if (ret.outcome === 'lapsed' && autoConfirmAt) steps.push({ step: 'confirmation', due: autoConfirmAt });
  }
  return steps;
}
