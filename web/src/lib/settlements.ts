import type { SettlementList } from '../api/contract';

export interface SettlementTotals {
  gross: number;
  fee: number;
  net: number;
}

/** The server's totals (`total_gross`, `total_fee`, `total_net`); the sum of the rows if absent. */
export function settlementTotals(
  list: Pick<SettlementList, 'items'> & Partial<Omit<SettlementList, 'items'>>,
): SettlementTotals {
  const sum = (k: 'gross_amount' | 'fee_amount' | 'net_amount') => list.items.reduce((s, i) => s + i[k], 0);
  return {
    gross: list.total_gross ?? sum('gross_amount'),
    fee: list.total_fee ?? sum('fee_amount'),
    net: list.total_net ?? sum('net_amount'),
  };
}
