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

/** KFTC codes of the banks the service pays to, as the server checks them. */
export const BANKS: readonly { code: string; name: string }[] = [
  { code: '004', name: 'KB국민은행' }, { code: '088', name: '신한은행' }, { code: '020', name: '우리은행' },
  { code: '081', name: '하나은행' }, { code: '011', name: 'NH농협은행' }, { code: '003', name: 'IBK기업은행' },
  { code: '090', name: '카카오뱅크' }, { code: '092', name: '토스뱅크' }, { code: '089', name: '케이뱅크' },
  { code: '002', name: 'KDB산업은행' }, { code: '007', name: '수협은행' }, { code: '012', name: '지역농축협' },
  { code: '023', name: 'SC제일은행' }, { code: '027', name: '한국씨티은행' }, { code: '031', name: 'iM뱅크' },
  { code: '032', name: '부산은행' }, { code: '034', name: '광주은행' }, { code: '035', name: '제주은행' },
  { code: '037', name: '전북은행' }, { code: '039', name: '경남은행' }, { code: '045', name: '새마을금고' },
  { code: '048', name: '신협' }, { code: '050', name: '저축은행' }, { code: '064', name: '산림조합' },
  { code: '071', name: '우체국' },
];

/** An account number shown with all but its last four digits hidden. */
export function maskAccount(number: string): string {
  return number.length <= 4 ? number : `${'•'.repeat(number.length - 4)}${number.slice(-4)}`;
}
