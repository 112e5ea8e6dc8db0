/** Money is an integer number of won (KRW); never a float. */

function group(n: number): string {
  return String(Math.abs(Math.trunc(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 150000 → "150,000원" (ko) or "₩150,000" (en). Non-numbers show a dash. */
export function formatWon(amount: number | null | undefined, locale: string = 'ko'): string {
  if (amount === null || amount === undefined || !Number.isFinite(amount)) return '–';
  const sign = amount < 0 ? '-' : '';
  return locale === 'en' ? `${sign}₩${group(amount)}` : `${sign}${group(amount)}원`;
}

/**
 * Reads what a person typed as won: "150,000", "150000원", " ₩1,000 " → integer.
 * Returns null for anything that is not a whole, non-negative number.
 */
export function parseWon(input: string | number | null | undefined): number | null {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : null;
  if (input === null || input === undefined) return null;
  const cleaned = input.trim().replace(/[,\s원₩]/g, '');
  if (!/^\d+$/.test(cleaned)) return null;
  const n = Number(cleaned);
  return Number.isSafeInteger(n) ? n : null;
}
