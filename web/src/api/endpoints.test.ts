import { afterEach, describe, expect, it, vi } from 'vitest';
import * as api from './index';
import snapshot from '../../openapi.json';

/** Every call the client makes must be an operation of the committed /openapi.json snapshot. */
describe('the typed client against openapi.json', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('calls only documented operations', async () => {
    const doc = snapshot as unknown as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`),
      ),
    );
    const calls: string[] = [];
    vi.stubGlobal('fetch', vi.fn(async (path: string, init: RequestInit) => {
      calls.push(`${init.method} ${new URL(path, 'http://x').pathname.replace(/\/\d+(?=\/|$)/g, '/{}')}`);
      return new Response('{}', { status: 200, headers: { 'Content-Type': 'application/json' } });
    }));
    const shipping = { receiver_name: 'a', receiver_phone: '010', address: 'x', postcode: '1' };
    await Promise.all([
      api.auth.signup({ email: 'a@b.c', password: 'password1', name: 'n' }), api.auth.login({ email: 'a@b.c', password: 'p' }), api.auth.me(),
      api.products.list({ q: 'x' }), api.products.get(1), api.products.create({ name: 'n', price: 1, stock: 1 }),
      api.products.update(1, { name: 'n', price: 1, stock: 1 }), api.products.remove(1),
      api.cart.get(), api.cart.put(1, 2), api.cart.remove(1),
      api.orders.create({ from_cart: true, shipping }, 'k'), api.orders.list('seller'), api.orders.get(1),
      api.payments.create(1, 'k'), api.payments.complete(1, 'imp_1', 'k'), api.payments.status(1),
      api.payments.shipment(1, { courier: 'CJGLS', invoice_number: '1' }), api.payments.delivered(1),
      api.payments.confirm(1), api.payments.cancel(1), api.payments.refund(1, 'r', 100), api.payments.refunds(1), api.payments.dispute(1, 'r'),
      api.payments.resolve(1, { outcome: 'release' }),
      api.payments.requestReturn(1, { kind: 'return', reason_code: 'defective', reason: 'r' }),
      api.payments.returnShipment(1, { courier: 'CJGLS', invoice_number: '1' }), api.payments.returnReceived(1),
      api.payments.acceptReturn(1, 3000), api.payments.rejectReturn(1, 'r'), api.settlements.list(), api.admin.ledger(), api.admin.reconcile(),
      api.admin.disputes(),
      api.webhooks.list(), api.webhooks.create({ url: 'https://example.com/hook' }), api.webhooks.remove(1),
      api.webhooks.deliveries(1, 'c'), api.webhooks.resend(1, 2),
      api.settlements.bankAccount(),
      api.settlements.setBankAccount({ bank_code: '004', account_number: '123456789012', holder: '김' }),
      api.payouts.list(), api.payouts.create(), api.payouts.get(1), api.payouts.paid(1, 2), api.payouts.failed(1, 2, 'r'),
      api.payouts.overdue(), api.payouts.chargeback(1, 100, 'r'), api.payouts.transferFile(1),
    ]);
    expect(calls).toHaveLength(49);
    expect(calls.filter((c) => !documented.has(c))).toEqual([]);
  });
});
