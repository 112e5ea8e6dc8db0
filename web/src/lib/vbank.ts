/**
 * Virtual accounts (api.md §9): how long is left to pay into one, the account number as a
 * bank's app accepts it, and the refund account a paid one's refund needs.
 */

export interface Remaining {
  /** The due time has passed. */
  past: boolean;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

/** What is left between `nowMs` and the due time (`dueIso`, RFC 3339). */
export function remaining(dueIso: string, nowMs: number): Remaining {
  const due = new Date(dueIso).getTime();
  const left = Number.isNaN(due) ? 0 : Math.max(0, Math.floor((due - nowMs) / 1000));
  return {
    past: left === 0,
    days: Math.floor(left / 86_400),
    hours: Math.floor((left % 86_400) / 3600),
    minutes: Math.floor((left % 3600) / 60),
    seconds: left % 60,
  };
}

/** `1일 02:03:04` / `02:03:04`: the remaining time as a clock. */
export function clock(r: Remaining, dayUnit: string): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const hms = `${two(r.hours)}:${two(r.minutes)}:${two(r.seconds)}`;
  return r.days > 0 ? `${r.days}${dayUnit} ${hms}` : hms;
}

/** The digits a bank transfer needs (copying `110-123-456789` pastes `110123456789`). */
export function accountDigits(accountNumber: string): string {
  return accountNumber.replace(/\D/g, '');
}

/** A refund of this payment goes by bank transfer to the buyer's own account. */
export function needsRefundAccount(payMethod: string | null | undefined): boolean {
  return payMethod === 'vbank';
}
