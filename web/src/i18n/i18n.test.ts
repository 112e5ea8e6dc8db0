import { describe, expect, it } from 'vitest';
import { interpolate, pickLocale, translate } from './core';
import { ko } from './ko';
import { en } from './en';

const tables = { ko: { hello: '안녕하세요 {name}님', only_ko: '한국어만' }, en: { hello: 'Hello {name}' } };

describe('translate', () => {
  it('uses the current locale', () => {
    expect(translate(tables, 'en', 'hello', { name: 'Kim' })).toBe('Hello Kim');
    expect(translate(tables, 'ko', 'hello', { name: '김' })).toBe('안녕하세요 김님');
  });
  it('falls back to Korean, then to the key', () => {
    expect(translate(tables, 'en', 'only_ko')).toBe('한국어만');
    expect(translate(tables, 'fr', 'hello', { name: 'A' })).toBe('안녕하세요 A님');
    expect(translate(tables, 'en', 'missing.key')).toBe('missing.key');
  });
  it('leaves unknown placeholders alone', () => {
    expect(interpolate('{a} and {b}', { a: 1 })).toBe('1 and {b}');
  });
  it('starts in Korean unless a known locale was saved', () => {
    expect(pickLocale(null, ['ko', 'en'])).toBe('ko');
    expect(pickLocale('en', ['ko', 'en'])).toBe('en');
    expect(pickLocale('de', ['ko', 'en'])).toBe('ko');
  });
});

describe('message tables', () => {
  it('English has no key that Korean lacks (Korean is the complete table)', () => {
    expect(Object.keys(en).filter((k) => !(k in ko))).toEqual([]);
  });
  it.each(['invalid_state', 'refund_exceeds_balance', 'refund_in_progress', 'gateway_error'])(
    'the money movements’ error %s has words in both languages',
    (code) => {
      expect(ko[`problem.${code}`]).toBeTruthy();
      expect(en[`problem.${code}`]).toBeTruthy();
    },
  );
  it('placeholders agree between the languages', () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const k of Object.keys(en)) expect(names(en[k]), k).toEqual(names(ko[k]));
  });
});
