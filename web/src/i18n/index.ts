import { ref } from 'vue';
import { translate, pickLocale } from './core';
import { ko } from './ko';
import { en } from './en';
import { formatWon } from '../lib/money';

const tables = { ko, en };
const STORAGE_KEY = 'escrow.locale';

function saved(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export const locale = ref(pickLocale(saved(), Object.keys(tables)));

export function setLocale(next: string): void {
  locale.value = pickLocale(next, Object.keys(tables));
  try {
    localStorage.setItem(STORAGE_KEY, locale.value);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  document.documentElement.lang = locale.value;
}

export function t(key: string, params?: Record<string, string | number>): string {
  return translate(tables, locale.value, key, params);
}

export function won(amount: number | null | undefined): string {
  return formatWon(amount, locale.value);
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(locale.value === 'en' ? 'en-GB' : 'ko-KR', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  });
}

/** A status of any of the three graphs (history entries may mix them). */
export function statusLabel(status: string): string {
  for (const kind of ['order', 'payment', 'escrow']) {
    const key = `status.${kind}.${status}`;
    const text = t(key);
    if (text !== key) return text;
  }
  return status;
}
