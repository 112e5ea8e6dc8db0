import { describe, expect, it } from 'vitest';
import { settlementTotals } from './settlements';
import { flattenReport } from './report';

const items = [
  { payment_id: 1, order_id: 11, gross_amount: 10000, fee_amount: 300, fee_vat_amount: 30, net_amount: 9670, released_at: '2026-01-01T00:00:00Z' },
];

describe('settlementTotals', () => {
  it('takes the server totals, VAT on the fee included', () => {
    const list = { items, total_gross: 10000, total_fee: 300, total_fee_vat: 30, total_net: 9670 };
    expect(settlementTotals(list)).toEqual({ gross: 10000, fee: 300, feeVat: 30, net: 9670 });
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
