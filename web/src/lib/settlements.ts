import type { SettlementList } from '../api/contract';

export interface SettlementTotals {
  gross: number;
  fee: number;
  feeVat: number;
  net: number;
}

/** The server's totals of a seller's settlements. */
export function settlementTotals(list: SettlementList): SettlementTotals {
  return { gross: list.total_gross, fee: list.total_fee, feeVat: list.total_fee_vat, net: list.total_net };
}
