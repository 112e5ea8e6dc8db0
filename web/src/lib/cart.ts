/** Client-side cart arithmetic (the server's `total_amount` is what is charged). */

export interface CartLine {
  product_id: number;
  name: string;
  price: number;
  quantity: number;
}

export function lineTotal(line: Pick<CartLine, 'price' | 'quantity'>): number {
  return line.price * line.quantity;
}

export function cartTotal(lines: Pick<CartLine, 'price' | 'quantity'>[]): number {
  return lines.reduce((sum, l) => sum + lineTotal(l), 0);
}

export function cartCount(lines: Pick<CartLine, 'quantity'>[]): number {
  return lines.reduce((sum, l) => sum + l.quantity, 0);
}

/** A quantity a person may ask for: a whole number from 1 to the stock (and at most 999). */
export function clampQuantity(wanted: number, stock: number): number {
  const max = Math.max(0, Math.min(999, Math.trunc(stock)));
  if (!Number.isFinite(wanted) || max === 0) return max === 0 ? 0 : 1;
  return Math.min(max, Math.max(1, Math.trunc(wanted)));
}
