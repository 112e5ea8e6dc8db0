import { describe, expect, it } from 'vitest';
import { feeAllowed, parseFee, returnActionsFor, returnSteps, RETURN_KINDS, RETURN_REASONS, type ReturnView } from './returns';
import { ORDER_STATUSES, statusKey } from './states';
import { ko } from '../i18n/ko';
import { en } from '../i18n/en';

const asked: ReturnView = {
  kind: 'return', reason_code: 'changed_mind', requested_at: '2026-01-01T00:00:00Z', ship_by: '2026-01-08T00:00:00Z', return_fee: 0,
};

describe('return actions', () => {
  it.each([
    ['buyer', 'delivered', ['return_request']],
    ['buyer', 'shipping', []],
    ['buyer', 'return_requested', ['return_ship']],
    ['buyer', 'return_shipping', ['return_ship']],
    ['buyer', 'return_received', []],
    ['seller', 'delivered', []],
    ['seller', 'return_requested', ['return_reject']],
    ['seller', 'return_shipping', ['return_received', 'return_reject']],
    ['seller', 'return_received', ['return_accept', 'return_reject']],
    ['seller', 'returned', []],
    ['admin', 'return_received', []],
  ] as const)('%s on a %s order: %j', (viewer, status, expected) => {
    expect(returnActionsFor(viewer, status)).toEqual(expected);
  });
});

describe('the return fee', () => {
  it('only a changed-mind return keeps one', () => {
    expect(feeAllowed(asked)).toBe(true);
    expect(feeAllowed({ kind: 'return', reason_code: 'defective' })).toBe(false);
    expect(feeAllowed({ kind: 'exchange', reason_code: 'changed_mind' })).toBe(false);
    expect(feeAllowed(null)).toBe(false);
  });
  it.each([
    ['', 10000, { fee: 0 }],
    ['3,000', 10000, { fee: 3000 }],
    ['6000원', 10000, { fee: 6000 }],
    ['6001', 10000, { error: 'feeTooLarge' }],
    ['5000', 4000, { error: 'feeTooLarge' }],
    ['-1', 10000, { error: 'feeInvalid' }],
    ['1.5', 10000, { error: 'feeInvalid' }],
  ])('%j of %d left', (text, left, expected) => {
    expect(parseFee(text, left)).toEqual(expected);
  });
});

describe('the return timeline', () => {
  it('shows the deadline of the next step', () => {
    expect(returnSteps(asked)).toEqual([
      { step: 'requested', at: asked.requested_at },
      { step: 'shipped', due: asked.ship_by },
    ]);
    const received = { ...asked, shipped_at: '2026-01-02T00:00:00Z', received_at: '2026-01-03T00:00:00Z', inspect_by: '2026-01-06T00:00:00Z' };
    expect(returnSteps(received).map((s) => [s.step, s.at ?? s.due])).toEqual([
      ['requested', asked.requested_at], ['shipped', received.shipped_at], ['received', received.received_at], ['decision', received.inspect_by],
    ]);
    const accepted = { ...received, outcome: 'accepted', closed_at: '2026-01-04T00:00:00Z' };
    expect(returnSteps(accepted).at(-1)).toEqual({ step: 'accepted', at: accepted.closed_at });
  });
  it('after a lapse, says when automatic confirmation resumes', () => {
    const lapsed = { ...asked, outcome: 'lapsed', closed_at: '2026-01-08T00:00:00Z' };
    expect(returnSteps(lapsed, '2026-01-12T00:00:00Z')).toEqual([
      { step: 'requested', at: asked.requested_at },
      { step: 'lapsed', at: lapsed.closed_at },
      { step: 'confirmation', due: '2026-01-12T00:00:00Z' },
    ]);
  });
  it('every kind, reason, step and new order state has words in both languages', () => {
    const keys = [
      ...RETURN_KINDS.map((k) => `return.kind.${k}`),
      ...RETURN_REASONS.map((r) => `return.reason.${r}`),
      ...['requested', 'shipped', 'received', 'accepted', 'rejected', 'lapsed', 'decision', 'confirmation'].map((s) => `return.step.${s}`),
      ...ORDER_STATUSES.map((s) => statusKey('order', s)),
      ...['return_request', 'return_ship', 'return_received', 'return_accept', 'return_reject'].flatMap((a) => [`action.${a}`, `action.${a}.help`, `action.${a}.done`]),
    ];
    for (const k of keys) {
      expect(ko[k], k).toBeTruthy();
      expect(en[k], k).toBeTruthy();
    }
  });
});
