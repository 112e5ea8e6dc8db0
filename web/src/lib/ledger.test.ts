import { describe, expect, it } from 'vitest';
import { ACCOUNT_KINDS, accountLabelKey, accountRows, parseAccount } from './ledger';
import { ko } from '../i18n/ko';
import { en } from '../i18n/en';
import { translate } from '../i18n/core';

describe('parseAccount', () => {
  it.each([
    ['gateway', { kind: 'gateway', sellerId: null }],
    ['escrow', { kind: 'escrow', sellerId: null }],
    ['seller:42', { kind: 'seller', sellerId: '42' }],
    ['platform_fee', { kind: 'platform_fee', sellerId: null }],
    ['fee_vat', { kind: 'fee_vat', sellerId: null }],
    ['refunds', { kind: 'refunds', sellerId: null }],
    ['payouts', { kind: 'payouts', sellerId: null }],
    ['in_payout:42', { kind: 'in_payout', sellerId: '42' }],
    ['chargebacks', { kind: 'chargebacks', sellerId: null }],
    // A bare `seller`, a seller without a numeric id and names the UI does not know have no kind.
    ['seller', { kind: null, sellerId: null }],
    ['seller:', { kind: null, sellerId: null }],
    ['seller:abc', { kind: null, sellerId: null }],
    ['in_payout', { kind: null, sellerId: null }],
    ['bonus', { kind: null, sellerId: null }],
  ])('%s', (name, parsed) => {
    expect(parseAccount(name)).toEqual(parsed);
  });
});

describe('account labels', () => {
  it('every kind has a Korean and an English label', () => {
    for (const kind of ACCOUNT_KINDS) {
      expect(ko[`account.${kind}`], kind).toBeTruthy();
      expect(en[`account.${kind}`], kind).toBeTruthy();
    }
  });
  it.each([
    ['escrow', 'ko', '에스크로 보관금'],
    ['escrow', 'en', 'Held in escrow'],
    ['seller:7', 'ko', '판매자 #7 정산 예정금'],
    ['seller:7', 'en', 'Owed to seller #7'],
    ['in_payout:7', 'ko', '판매자 #7 지급 처리 중'],
  ])('%s in %s', (name, locale, text) => {
    const label = accountLabelKey(name);
    expect(label).not.toBeNull();
    expect(translate({ ko, en }, locale, label!.key, label!.params)).toBe(text);
  });
  it('has none for a name it does not know', () => {
    expect(accountLabelKey('bonus')).toBeNull();
  });
});

describe('accountRows', () => {
  it('lists the contract’s order, sellers by id, unknown names last', () => {
    const rows = accountRows({
      payouts: 0, 'seller:10': 970, zeta: 1, refunds: 4000, 'seller:9': -50, escrow: 6000,
      gateway: -10000, fee_vat: 3, platform_fee: 27, alpha: 2, 'in_payout:9': 10, chargebacks: 5,
    });
    expect(rows.map((r) => r.name)).toEqual([
      'gateway', 'escrow', 'seller:9', 'seller:10', 'in_payout:9', 'platform_fee', 'fee_vat', 'refunds', 'chargebacks',
      'payouts', 'alpha', 'zeta',
    ]);
    expect(rows.find((r) => r.name === 'seller:9')?.balance).toBe(-50);
  });
  it('is empty without accounts', () => {
    expect(accountRows({})).toEqual([]);
    expect(accountRows(undefined)).toEqual([]);
  });
});
