/**
 * Admin answers (ledger, reconciliation) are shown as key/value rows without hard-coding
 * their exact shape: nested objects become dotted keys, money-looking numbers become won.
 */
export interface ReportRow {
  key: string;
  value: string | number | boolean | null;
  money: boolean;
}

const MONEY = /(amount|total|paid|refunded|held|released|gross|fee|net|balance|won)/i;

export function flattenReport(obj: unknown, prefix = ''): ReportRow[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    if (!prefix) return [];
    const value = Array.isArray(obj) ? `${obj.length}` : (obj as ReportRow['value']);
    return [{ key: prefix, value, money: typeof obj === 'number' && MONEY.test(prefix) && !/count|checked|repaired/i.test(prefix) }];
  }
  return Object.entries(obj as Record<string, unknown>).flatMap(([k, v]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return flattenReport(v, key);
    return flattenReport(v as never, key);
  });
}
