// Cross-check: PortOne's official V2 server SDK for JavaScript (npm `@portone/server-sdk`)
// against the sandbox's V2 face, unchanged but for its base URL (`baseUrl`).
//
// Environment: V2_SANDBOX_URL (the V2 face served at an origin's root: the SDK builds its
// URLs with `new URL('/payments/...', baseUrl)`, which drops any path), V2_SECRET,
// V2_STORE_ID, V2_WEBHOOK_SECRET. Starts nothing; `tests/clients/run.sh` starts the sandbox.
//
// What the SDK does (0.19.0, fetch): `Authorization: PortOne <secret>`; JSON bodies sent
// WITHOUT a Content-Type (fetch labels a string body text/plain); list filters as
// `requestBody=<JSON>`; any non-2xx answer is parsed as `{type, message}` and thrown as the
// call's error class with `.data.type`. The checks assert those types.

import http from 'node:http';
import { PortOneClient, Webhook } from '@portone/server-sdk';

const BASE = process.env.V2_SANDBOX_URL.replace(/\/+$/, '');
const SECRET = process.env.V2_SECRET;
const STORE = process.env.V2_STORE_ID;
const WEBHOOK_SECRET = process.env.V2_WEBHOOK_SECRET;
const RUN = `js2-${Date.now()}`;

const client = PortOneClient({ secret: SECRET, baseUrl: BASE, storeId: STORE }).payment;
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${err && err.stack ? err.stack.split('\n').slice(0, 3).join('\n     ') : JSON.stringify(err)}`);
  }
}

function eq(actual, expected, what = '') {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** The `type` of the typed error `fn` throws. */
async function errorType(fn) {
  try {
    await fn();
  } catch (err) {
    if (err && err.data && err.data.type) return err.data.type;
    throw err;
  }
  throw new Error('expected a typed error, nothing thrown');
}

async function control(path, body) {
  const r = await fetch(`${BASE}/_sandbox/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

async function pay(suffix, amount, extra = {}) {
  const paymentId = `${RUN}-${suffix}`;
  await control('payments', { payment_id: paymentId, amount, pay_method: 'CARD', ...extra });
  return paymentId;
}

const iso = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();

await check('get a paid payment', async () => {
  const paymentId = await pay('get', 12000);
  const payment = await client.getPayment({ paymentId });
  eq(payment.status, 'PAID', 'status');
  eq(payment.amount.total, 12000, 'amount.total');
  eq(payment.storeId, STORE, 'storeId');
});

await check('partial and full cancel; stale currentCancellableAmount, over-cancel, already cancelled', async () => {
  const paymentId = await pay('cancel', 10000);
  const first = await client.cancelPayment({ paymentId, amount: 3000, reason: 'partial', currentCancellableAmount: 10000 });
  eq(first.cancellation.totalAmount, 3000, 'first');
  eq((await client.getPayment({ paymentId })).status, 'PARTIAL_CANCELLED', 'after partial');
  eq(await errorType(() => client.cancelPayment({ paymentId, amount: 3000, reason: 'stale', currentCancellableAmount: 10000 })),
    'CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN', 'stale');
  eq(await errorType(() => client.cancelPayment({ paymentId, amount: 7001, reason: 'over' })),
    'CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT', 'over');
  await client.cancelPayment({ paymentId, reason: 'rest', currentCancellableAmount: 7000 });
  const payment = await client.getPayment({ paymentId });
  eq([payment.status, payment.cancellations.length], ['CANCELLED', 2], 'after full');
  eq(await errorType(() => client.cancelPayment({ paymentId, reason: 'again' })), 'PAYMENT_ALREADY_CANCELLED', 'again');
});

await check('wrong secret (UNAUTHORIZED), unknown id (PAYMENT_NOT_FOUND)', async () => {
  const paymentId = await pay('auth', 1000);
  const wrong = PortOneClient({ secret: 'not-the-secret', baseUrl: BASE }).payment;
  eq(await errorType(() => wrong.getPayment({ paymentId })), 'UNAUTHORIZED', 'wrong secret');
  eq(await errorType(() => client.getPayment({ paymentId: `${RUN}-nobody` })), 'PAYMENT_NOT_FOUND', 'unknown');
});

await check('escrow logistics register, modify, complete', async () => {
  const paymentId = await pay('escrow', 30000, { is_escrow: true });
  const applied = await client.applyEscrowLogistics({
    paymentId,
    logistics: { company: 'CJ', invoiceNumber: '111', sentAt: iso() },
  });
  eq(applied.invoiceNumber, '111', 'applied');
  const modified = await client.modifyEscrowLogistics({
    paymentId,
    logistics: { company: 'HANJIN', invoiceNumber: '222', sentAt: iso() },
  });
  eq(modified.invoiceNumber, '222', 'modified');
  await client.confirmEscrow({ paymentId, fromStore: true });
  const payment = await client.getPayment({ paymentId });
  eq([payment.escrow.status, payment.escrow.invoiceNumber], ['CONFIRMED', '222'], 'escrow');
});

await check('virtual account: issued, closed once, refunded into the named account', async () => {
  const paymentId = await pay('vbank', 20000, { pay_method: 'VIRTUAL_ACCOUNT' });
  const issued = await client.getPayment({ paymentId });
  eq([issued.status, issued.method.type], ['VIRTUAL_ACCOUNT_ISSUED', 'PaymentMethodVirtualAccount'], 'issued');
  eq(await errorType(() => client.cancelPayment({ paymentId, reason: 'unpaid' })), 'PAYMENT_NOT_PAID', 'unpaid');
  const closed = await client.closeVirtualAccount({ paymentId });
  if (!closed.closedAt) throw new Error('no closedAt');
  eq(await errorType(() => client.closeVirtualAccount({ paymentId })), 'PAYMENT_NOT_WAITING_FOR_DEPOSIT', 'closed twice');
  const paid = await pay('vbank-paid', 20000, { pay_method: 'VIRTUAL_ACCOUNT' });
  await control(`payments/${paid}/deposit`, {});
  const answer = await client.cancelPayment({
    paymentId: paid,
    amount: 5000,
    reason: 'refund',
    refundAccount: { bank: 'KOOKMIN', number: '12345678901234', holderName: '홍길동' },
  });
  eq(answer.cancellation.totalAmount, 5000, 'vbank cancellation');
});

await check('payments by cursor and by filter', async () => {
  const from = iso(-5000);
  const ids = [];
  for (let i = 0; i < 3; i += 1) ids.push(await pay(`cursor-${i}`, 1000));
  const until = iso(5000);
  const seen = [];
  let cursor;
  for (;;) {
    const page = await client.getAllPaymentsByCursor({ from, until, cursor, size: 2 });
    if (page.items.length === 0) break;
    seen.push(...page.items.map((item) => item.payment.id));
    cursor = page.items[page.items.length - 1].cursor;
  }
  for (const id of ids) if (!seen.includes(id)) throw new Error(`${id} not listed`);
  const listed = await client.getPayments({ filter: { timestampType: 'STATUS_CHANGED_AT', from, until } });
  if (listed.page.totalCount < 3) throw new Error(`getPayments found ${listed.page.totalCount}`);
});

await check('a sandbox webhook verifies with Webhook.verify', async () => {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${server.address().port}/hook`;
    const paymentId = await pay('hook', 4000, { notice_urls: [url] });
    for (let i = 0; i < 200 && received.length === 0; i += 1) await new Promise((r) => setTimeout(r, 50));
    const { headers, body } = received[0];
    const event = await Webhook.verify(WEBHOOK_SECRET, body, headers);
    eq([event.type, event.data.paymentId], ['Transaction.Paid', paymentId], 'webhook');
    let refused = false;
    try {
      await Webhook.verify(WEBHOOK_SECRET, `${body} `, headers);
    } catch (err) {
      refused = err instanceof Webhook.WebhookVerificationError;
    }
    if (!refused) throw new Error('a changed body verified');
  } finally {
    server.close();
  }
});

console.log(`node @portone/server-sdk: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
