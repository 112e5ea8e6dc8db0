import { describe, expect, it } from 'vitest';
import { accountDigits, clock, needsRefundAccount, remaining } from './vbank';

describe('virtual accounts', () => {
  const due = '2026-12-06T10:00:00Z';
  const at = (iso: string) => new Date(iso).getTime();

  it.each([
    ['2026-12-05T08:58:57Z', { past: false, days: 1, hours: 1, minutes: 1, seconds: 3 }, '1일 01:01:03'],
    ['2026-12-06T09:59:59Z', { past: false, days: 0, hours: 0, minutes: 0, seconds: 1 }, '00:00:01'],
    ['2026-12-06T10:00:00Z', { past: true, days: 0, hours: 0, minutes: 0, seconds: 0 }, '00:00:00'],
    ['2026-12-07T00:00:00Z', { past: true, days: 0, hours: 0, minutes: 0, seconds: 0 }, '00:00:00'],
  ])('at %s', (now, expected, text) => {
    const r = remaining(due, at(now));
    expect(r).toEqual(expected);
    expect(clock(r, '일')).toBe(text);
  });

  it('an unreadable due time is past', () => {
    expect(remaining('soon', 0).past).toBe(true);
  });

  it('copies digits only', () => {
    expect(accountDigits('110-123 456789')).toBe('110123456789');
  });

  it.each([
    ['vbank', true],
    ['card', false],
    [null, false],
  ])('refund account for %s: %s', (method, expected) => {
    expect(needsRefundAccount(method)).toBe(expected);
  });
});
