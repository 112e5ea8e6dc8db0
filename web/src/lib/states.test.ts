import { describe, expect, it } from 'vitest';
import { actionsFor, flowStep, ORDER_STATUSES, PAYMENT_STATUSES, ESCROW_STATUSES, REFUND_STATUSES, sortHistory, statusKey, toneOf } from './states';
import { ko } from '../i18n/ko';
import { en } from '../i18n/en';

describe('status labels', () => {
  it('every state of the contract has a Korean and an English label', () => {
    const keys = [
      ...ORDER_STATUSES.map((s) => statusKey('order', s)),
      ...PAYMENT_STATUSES.map((s) => statusKey('payment', s)),
      ...ESCROW_STATUSES.map((s) => statusKey('escrow', s)),
      ...REFUND_STATUSES.map((s) => statusKey('refund', s)),
    ];
    for (const k of keys) {
      expect(ko[k], k).toBeTruthy();
      expect(en[k], k).toBeTruthy();
    }
    expect(ko['status.order.pending_payment']).toBe('결제 대기');
  });
  it('gives tones, neutral for unknown', () => {
    expect(toneOf('disputed')).toBe('danger');
    expect(toneOf('confirmed')).toBe('success');
    expect(toneOf('held')).toBe('info');
    expect(toneOf('something_new')).toBe('neutral');
    expect(toneOf(null)).toBe('neutral');
  });
  it.each([
    ['requested', 'warning', '환불 요청 중', 'Requested'],
    ['pending', 'progress', '환불 진행 중', 'On its way'],
    ['succeeded', 'success', '환불 완료', 'Refunded'],
    ['failed', 'danger', '환불 실패', 'Failed'],
    ['something_new', 'neutral', undefined, undefined],
  ])('labels and tones a refund %s', (status, tone, koText, enText) => {
    expect(toneOf(status, 'refund')).toBe(tone);
    expect(ko[statusKey('refund', status)]).toBe(koText);
    expect(en[statusKey('refund', status)]).toBe(enText);
  });
  it('tones a status by its graph when told which', () => {
    expect(toneOf('pending', 'escrow')).toBe('warning');
    expect(toneOf('pending', 'refund')).toBe('progress');
    expect(toneOf('failed', 'payment')).toBe('danger');
    expect(toneOf(null, 'refund')).toBe('neutral');
  });
  it('places statuses on the happy path', () => {
    expect(flowStep('pending_payment')).toBe(0);
    expect(flowStep('confirmed')).toBe(4);
    expect(flowStep('cancelled')).toBe(-1);
  });
});

describe('sortHistory', () => {
  it('orders oldest first and keeps server order on ties', () => {
    const h = [
      { at: '2026-01-01T10:00:02Z', from: 'paid', to: 'shipping' },
      { at: '2026-01-01T10:00:00Z', from: null, to: 'pending_payment' },
      { at: '2026-01-01T10:00:01Z', from: 'pending_payment', to: 'paid', actor: 'a' },
      { at: '2026-01-01T10:00:01Z', from: 'pending_payment', to: 'paid', actor: 'b' },
    ];
    const sorted = sortHistory(h);
    expect(sorted.map((e) => e.to)).toEqual(['pending_payment', 'paid', 'paid', 'shipping']);
    expect(sorted.slice(1, 3).map((e) => e.actor)).toEqual(['a', 'b']);
    expect(h[0].to).toBe('shipping'); // not mutated
  });
  it('handles fractional seconds and missing history', () => {
    expect(sortHistory([{ at: '2026-01-01T10:00:00.500Z' }, { at: '2026-01-01T10:00:00.100Z' }]).map((e) => e.at))
      .toEqual(['2026-01-01T10:00:00.100Z', '2026-01-01T10:00:00.500Z']);
    expect(sortHistory(null)).toEqual([]);
    expect(sortHistory(undefined)).toEqual([]);
  });
});

describe('actionsFor', () => {
  it('offers the buyer what the contract allows', () => {
    expect(actionsFor('buyer', 'pending_payment')).toEqual(['pay', 'cancel']);
    expect(actionsFor('buyer', 'pending_payment', false)).toEqual(['pay']); // nothing to cancel at the gateway yet
    expect(actionsFor('buyer', 'paid')).toEqual(['cancel', 'refund_request']);
    expect(actionsFor('buyer', 'shipping')).toEqual(['dispute']);
    expect(actionsFor('buyer', 'delivered')).toEqual(['confirm', 'dispute']);
    expect(actionsFor('buyer', 'confirmed')).toEqual([]);
    expect(actionsFor('buyer', 'disputed')).toEqual([]);
  });
  it('offers the seller shipment, delivery and refunds before release', () => {
    expect(actionsFor('seller', 'paid')).toEqual(['ship', 'cancel', 'refund']);
    expect(actionsFor('seller', 'shipping')).toEqual(['ship', 'delivered', 'refund']);
    expect(actionsFor('seller', 'delivered')).toEqual(['refund']);
    expect(actionsFor('seller', 'confirmed')).toEqual([]);
  });
  it('offers the admin the decision on disputes', () => {
    expect(actionsFor('admin', 'disputed')).toEqual(['resolve', 'refund']);
    expect(actionsFor('admin', 'refunded')).toEqual([]);
  });
});
