import { describe, expect, it } from 'vitest';
import { formatWon, parseWon } from './money';

describe('formatWon', () => {
  it('formats won with thousands separators and 원', () => {
    expect(formatWon(150000)).toBe('150,000원');
    expect(formatWon(0)).toBe('0원');
    expect(formatWon(999)).toBe('999원');
    expect(formatWon(1000)).toBe('1,000원');
    expect(formatWon(1234567890)).toBe('1,234,567,890원');
  });
  it('uses ₩ in English', () => {
    expect(formatWon(150000, 'en')).toBe('₩150,000');
  });
  it('keeps the sign of negative amounts', () => {
    expect(formatWon(-5000)).toBe('-5,000원');
    expect(formatWon(-5000, 'en')).toBe('-₩5,000');
  });
  it('shows a dash for missing or non-finite values', () => {
    expect(formatWon(null)).toBe('–');
    expect(formatWon(undefined)).toBe('–');
    expect(formatWon(Number.NaN)).toBe('–');
  });
});

describe('parseWon', () => {
  it('reads what people type', () => {
    expect(parseWon('150,000')).toBe(150000);
    expect(parseWon(' 150000원 ')).toBe(150000);
    expect(parseWon('₩1,000')).toBe(1000);
    expect(parseWon(42)).toBe(42);
  });
  it('refuses fractions, negatives, words and absurd sizes', () => {
    expect(parseWon('1.5')).toBeNull();
    expect(parseWon('-3')).toBeNull();
    expect(parseWon('abc')).toBeNull();
    expect(parseWon('')).toBeNull();
    expect(parseWon('99999999999999999999')).toBeNull();
    expect(parseWon(1.5)).toBeNull();
  });
});
