import { describe, expect, it } from 'vitest';
import { settlementTotals } from './settlements';
import { flattenReport } from './report';

const items = [
  { payment_id: 1, order_id: 11, gross_amount: 10000, fee_amount: 300, net_amount: 9700, released_at: '2026-01-01T00:00:00Z' },
  { payment_id: 2, order_id: 12, gross_amount: 5000, fee_amount: 150, net_amount: 4850, released_at: '2026-01-02T00:00:00Z' },
];

describe('settlementTotals', () => {
  it('sums the rows when the server sends no totals', () => {
    expect(settlementTotals({ items })).toEqual({ gross: 15000, fee: 450, net: 14550 });
  });
  it('prefers the server totals', () => {
    expect(settlementTotals({ items, total_gross: 1, total_fee: 2, total_net: 3 })).toEqual({ gross: 1, fee: 2, net: 3 });
    expect(settlementTotals({ items: [], total_gross: 7, total_fee: 0, total_net: 7 })).toEqual({ gross: 7, fee: 0, net: 7 });
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
