import { describe, expect, it } from 'vitest';
import { BANKS, maskAccount, settlementTotals } from './settlements';
import { flattenReport } from './report';

const items = [
  {
    line_id: 1, payment_id: 1, order_id: 11, kind: 'release', gross_amount: 10000, fee_amount: 300, fee_vat_amount: 30,
    net_amount: 9670, released_at: '2026-01-01T00:00:00Z', available_on: '2026-01-02',
  },
];

describe('settlementTotals', () => {
  it('takes the server totals, VAT on the fee included', () => {
    const balance = { pending: 0, available: 9670, in_payout: 0, paid_out: 0 };
    const list = { items, balance, upcoming: [], total_gross: 10000, total_fee: 300, total_fee_vat: 30, total_net: 9670 };
    expect(settlementTotals(list)).toEqual({ gross: 10000, fee: 300, feeVat: 30, net: 9670 });
  });
});

describe('bank accounts', () => {
  it('hides all but the last four digits', () => {
    expect(maskAccount('110123456789')).toBe('••••••••6789');
    expect(maskAccount('1234')).toBe('1234');
  });
  it('lists each KFTC code once', () => {
    const codes = BANKS.map((b) => b.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.every((c) => /^\d{3}$/.test(c))).toBe(true);
  });
});

describe('flattenReport', () => {
  it('flattens nested objects and marks money', () => {
    const rows = flattenReport({ balanced: true, totals: { paid: 1000, refunded: 0 }, checked: 3, repaired: [1, 2] });
    expect(rows).toEqual([
      { key: 'balanced', value: true, money: false },
      { key: 'totals.paid', value: 1000, money: true },
      { key: 'totals.refunded', value: 0, money: true },
      { key: 'checked', value: 3, money: false },
      { key: 'repaired', value: '2', money: false },
    ]);
    expect(flattenReport(null)).toEqual([]);
  });
});
