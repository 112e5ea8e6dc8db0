/**
 * A very small i18n: flat message tables per locale, `{name}` interpolation, and fallback
 * current locale → Korean (the default) → the key itself, so a missing English text shows
 * the Korean one rather than nothing.
 */

export type Messages = Record<string, string>;
export const DEFAULT_LOCALE = 'ko';

export function interpolate(text: string, params?: Record<string, string | number>): string {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

export function translate(
  tables: Record<string, Messages>,
  locale: string,
  key: string,
  params?: Record<string, string | number>,
): string {
  const text = tables[locale]?.[key] ?? tables[DEFAULT_LOCALE]?.[key] ?? key;
  return interpolate(text, params);
}

/** The locale to start with: a saved choice if it is one we have, else Korean. */
export function pickLocale(saved: string | null | undefined, available: string[]): string {
  return saved && available.includes(saved) ? saved : DEFAULT_LOCALE;
}
