/**
 * The ledger's named accounts (api.md §8) as the admin page shows them: a label for each
 * name and one fixed order, money's path from the gateway to its ends.
 */

/** Accounts by kind; `seller:<id>` and `in_payout:<id>` are one per seller. */
export const ACCOUNT_KINDS = ['gateway', 'escrow', 'seller', 'in_payout', 'platform_fee', 'fee_vat', 'refunds', 'chargebacks', 'payouts'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export interface AccountName {
  /** A kind of the contract, or null for a name the UI does not know (shown as sent). */
  kind: AccountKind | null;
  /** The seller's id of a `seller:<id>` account. */
  sellerId: string | null;
}

export function parseAccount(name: string): AccountName {
  const seller = /^(seller|in_payout):(\d+)$/.exec(name);
  if (seller) return { kind: seller[1] as AccountKind, sellerId: seller[2] };
  const perSeller = name === 'seller' || name === 'in_payout';
  const kind = (ACCOUNT_KINDS as readonly string[]).includes(name) && !perSeller ? (name as AccountKind) : null;
  return { kind, sellerId: null };
}

/** The i18n key and parameters of an account's label, or null when it has none. */
export function accountLabelKey(name: string): { key: string; params: Record<string, string> } | null {
  const { kind, sellerId } = parseAccount(name);
  if (!kind) return null;
  return { key: `account.${kind}`, params: sellerId ? { id: sellerId } : {} };
}

export interface AccountRow {
  name: string;
  balance: number;
}

/** Known kinds in ACCOUNT_KINDS order, sellers by id, unknown names last by name. */
export function accountRows(accounts: Record<string, number> | null | undefined): AccountRow[] {
  const rank = (name: string) => {
    const kind = parseAccount(name).kind;
    return kind ? ACCOUNT_KINDS.indexOf(kind) : ACCOUNT_KINDS.length;
  };
  const sellerId = (name: string) => Number(parseAccount(name).sellerId ?? 0);
  return Object.entries(accounts ?? {})
    .map(([name, balance]) => ({ name, balance }))
    .sort((a, b) => rank(a.name) - rank(b.name) || sellerId(a.name) - sellerId(b.name) || a.name.localeCompare(b.name));
}
