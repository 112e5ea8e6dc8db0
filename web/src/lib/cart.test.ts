import { describe, expect, it } from 'vitest';
import { cartCount, cartTotal, clampQuantity, lineTotal } from './cart';

describe('cart arithmetic', () => {
  const lines = [
    { product_id: 1, name: 'a', price: 15000, quantity: 2 },
    { product_id: 2, name: 'b', price: 3000, quantity: 1 },
  ];
  it('sums line totals in whole won', () => {
    expect(lineTotal(lines[0])).toBe(30000);
    expect(cartTotal(lines)).toBe(33000);
    expect(cartTotal([])).toBe(0);
    expect(cartCount(lines)).toBe(3);
  });
  it('clamps quantities to 1..stock', () => {
    expect(clampQuantity(3, 10)).toBe(3);
    expect(clampQuantity(0, 10)).toBe(1);
    expect(clampQuantity(-4, 10)).toBe(1);
    expect(clampQuantity(50, 10)).toBe(10);
    expect(clampQuantity(2.7, 10)).toBe(2);
    expect(clampQuantity(Number.NaN, 10)).toBe(1);
    expect(clampQuantity(5, 0)).toBe(0);
    expect(clampQuantity(5000, 100000)).toBe(999);
  });
});
