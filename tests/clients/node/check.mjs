// Cross-check: the gateway's own Node client (npm `iamport-rest-client-nodejs`) against the
// sandbox, unchanged but for its base URL (the constructor's `baseUrl` option).
//
// Environment: SANDBOX_URL (e.g. http://127.0.0.1:8080, the sandbox served at its root),
// SANDBOX_KEY, SANDBOX_SECRET. Starts nothing; `tests/clients/run.sh` starts the sandbox.
//
// What the client does on the wire (dist/, 0.9.12, axios 0.19): JSON bodies; one token
// from `POST /users/getToken`, cached until 30 s before its `expired_at`; sent as
// `Authorization: Bearer <token>`. A call resolves to the axios response whose `data` is
// `{code, message, response}` (timestamps turned into `Date`, 0 kept as 0). It rejects
// with the axios error (`err.response.status` and `.data`) for any non-2xx status, and
// with a bare `{response: {data}}` (no status) for HTTP 200 with `code != 0`. The checks
// assert which of the two the gateway's answers produce.

import pkg from 'iamport-rest-client-nodejs';

const { Iamport, Request, Enum } = pkg;
const { Authenticate, Payments, Prepare, Escrows, Vbanks } = Request;

const BASE = process.env.SANDBOX_URL.replace(/\/+$/, '');
const KEY = process.env.SANDBOX_KEY;
const SECRET = process.env.SANDBOX_SECRET;
const RUN = `js${Date.now()}`;

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
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

/** Run a request object; require it to reject; return the rejection. */
async function rejects(request, client) {
  let result;
  try {
    result = await request.request(client);
  } catch (err) {
    if (!err || !err.response) throw new Error(`rejected without a response: ${err}`);
    return err;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(result.data)}`);
}

/** A refusal the gateway answers with HTTP 200 and `code != 0` (the library's non-axios shape). */
function refusedWith200(err, what) {
  assert(
    err.response.status === undefined && err.response.data && err.response.data.code !== 0,
    `${what}: expected HTTP 200 with code != 0, got HTTP ${err.response.status} ${JSON.stringify(err.response.data)}`,
  );
  return err.response.data;
}

/** A refusal with an HTTP error status (axios error). */
function httpError(err, status, what) {
  assert(
    err.response.status === status,
    `${what}: expected HTTP ${status}, got HTTP ${err.response.status} ${JSON.stringify(err.response.data)}`,
  );
  assert(err.response.data && err.response.data.code !== 0, `${what}: envelope code != 0`);
  return err.response.data;
}

async function control(path, body = {}) {
  const r = await fetch(BASE + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return r.json();
}

const pay = (merchant_uid, amount, extra = {}) =>
  control('/_sandbox/payments', { merchant_uid, amount, ...extra });

const iamport = new Iamport({ apiKey: KEY, apiSecret: SECRET, baseUrl: BASE });

// ---- token --------------------------------------------------------------------------

await check('token: Authenticate.getToken, expiry as Date, same token while valid', async () => {
  const res = await Authenticate.getToken({ imp_key: KEY, imp_secret: SECRET }).request(iamport);
  eq(res.status, 200, 'HTTP status');
  eq(res.data.code, 0, 'code');
  const { access_token, expired_at, now } = res.data.response;
  assert(typeof access_token === 'string' && access_token.length >= 20, `token ${access_token}`);
  assert(expired_at instanceof Date && now instanceof Date, 'timestamps become Dates');
  const ttl = (expired_at - now) / 1000;
  assert(ttl > 60 && ttl <= 1800, `lifetime ${ttl}s`);
  const again = await iamport.getToken();
  eq(again.data.response.access_token, access_token, 'same token');
});

await check('token: wrong secret -> HTTP 401 on getToken and on calls', async () => {
  const bad = new Iamport({ apiKey: KEY, apiSecret: `${SECRET}-wrong`, baseUrl: BASE });
  const err = await rejects(Authenticate.getToken({ imp_key: KEY, imp_secret: `${SECRET}-wrong` }), bad);
  httpError(err, 401, 'getToken');
  const call = await rejects(Payments.getByImpUid({ imp_uid: 'imp_000000000000' }), bad);
  httpError(call, 401, 'call with bad credentials');
});

// ---- prepare ------------------------------------------------------------------------

const MID = `${RUN}-order`;

await check('prepare: postAmount / getAmount', async () => {
  const posted = await Prepare.postAmount({ merchant_uid: MID, amount: 15000 }).request(iamport);
  eq(posted.data.response, { merchant_uid: MID, amount: 15000 }, 'postAmount');
  const got = await Prepare.getAmount({ merchant_uid: MID }).request(iamport);
  eq(got.data.response, { merchant_uid: MID, amount: 15000 }, 'getAmount');
});

await check('prepare: same merchant_uid twice refused', async () => {
  const err = await rejects(Prepare.postAmount({ merchant_uid: MID, amount: 15000 }), iamport);
  assert(err.response.data.code !== 0 && err.response.data.message, JSON.stringify(err.response.data));
});

await check('prepare: getAmount of unknown merchant_uid -> HTTP 404', async () => {
  const err = await rejects(Prepare.getAmount({ merchant_uid: `${RUN}-never` }), iamport);
  httpError(err, 404, 'getAmount unknown');
});

// ---- find ---------------------------------------------------------------------------

let impUid;

await check('find: getByImpUid / getByMerchantUid', async () => {
  const created = await pay(MID, 15000, { name: '의자', buyer_name: '홍길동', escrow: true });
  eq(created.status, 'paid', 'control pay');
  impUid = created.imp_uid;
  const res = await Payments.getByImpUid({ imp_uid: impUid }).request(iamport);
  const p = res.data.response;
  eq([p.imp_uid, p.merchant_uid, p.amount, p.cancel_amount, p.status, p.currency, p.escrow],
    [impUid, MID, 15000, 0, 'paid', 'KRW', true], 'payment');
  eq([p.name, p.buyer_name, p.pay_method], ['의자', '홍길동', 'card'], 'details');
  assert(p.paid_at instanceof Date && p.started_at instanceof Date, 'paid_at/started_at are Dates');
  eq([p.cancelled_at, p.failed_at], [0, 0], 'unset timestamps stay 0');
  eq(p.cancel_history, [], 'cancel_history');
  const byMid = await Payments.getByMerchantUid({ merchant_uid: MID, status: 'paid', sorting: '-started' })
    .request(iamport);
  eq(byMid.data.response.imp_uid, impUid, 'by merchant_uid, paid');
});

await check('find: unknown imp_uid / merchant_uid / status -> HTTP 404', async () => {
  let err = await rejects(Payments.getByImpUid({ imp_uid: 'imp_000000000000' }), iamport);
  eq(httpError(err, 404, 'imp_uid').message, '존재하지 않는 결제정보입니다.', 'message');
  err = await rejects(Payments.getByMerchantUid({ merchant_uid: `${RUN}-nobody`, status: 'paid' }), iamport);
  httpError(err, 404, 'merchant_uid');
  err = await rejects(Payments.getByMerchantUid({ merchant_uid: MID, status: 'cancelled' }), iamport);
  httpError(err, 404, 'merchant_uid in another status');
});

// ---- cancel -------------------------------------------------------------------------

await check('cancel: partial with checksum stays paid', async () => {
  const res = await Payments.cancel({ imp_uid: impUid, amount: 4000, checksum: 15000, reason: 'partial' })
    .request(iamport);
  const p = res.data.response;
  eq([p.status, p.cancel_amount], ['paid', 4000], 'after partial');
  eq(p.cancel_history.map((h) => [h.amount, h.reason]), [[4000, 'partial']], 'history');
  assert(p.cancelled_at instanceof Date, 'cancelled_at is a Date');
});

await check('cancel: over-cancel / stale checksum -> HTTP 200 code != 0, nothing done', async () => {
  let err = await rejects(Payments.cancel({ imp_uid: impUid, amount: 11001, reason: 'too much' }), iamport);
  refusedWith200(err, 'over-cancel');
  err = await rejects(Payments.cancel({ imp_uid: impUid, amount: 1000, checksum: 15000, reason: 'stale' }), iamport);
  refusedWith200(err, 'stale checksum');
  const p = (await Payments.getByImpUid({ imp_uid: impUid }).request(iamport)).data.response;
  eq(p.cancel_amount, 4000, 'nothing done');
});

await check('cancel: the rest by merchant_uid (amount 0, tax_free 0, checksum) -> cancelled', async () => {
  const res = await Payments.cancel({ merchant_uid: MID, amount: 0, tax_free: 0, checksum: 11000, reason: 'rest' })
    .request(iamport);
  const p = res.data.response;
  eq([p.status, p.cancel_amount], ['cancelled', 15000], 'after full');
  eq(p.cancel_history.map((h) => h.amount), [4000, 11000], 'history');
  const byMid = await Payments.getByMerchantUid({ merchant_uid: MID, status: 'cancelled' }).request(iamport);
  eq(byMid.data.response.imp_uid, impUid, 'found as cancelled');
});

await check('cancel: already cancelled -> HTTP 200 code 1', async () => {
  const err = await rejects(Payments.cancel({ imp_uid: impUid, reason: 'again' }), iamport);
  const data = refusedWith200(err, 'again');
  eq([data.code, data.message], [1, '이미 전액취소된 주문입니다.'], 'refusal');
});

await check('cancel: unknown imp_uid / merchant_uid -> HTTP 200 code 1', async () => {
  for (const data of [{ imp_uid: 'nothing', reason: 'x' }, { merchant_uid: `${RUN}-any`, reason: 'x', amount: 100 }]) {
    const err = await rejects(Payments.cancel(data), iamport);
    const body = refusedWith200(err, JSON.stringify(data));
    eq([body.code, body.message], [1, '취소할 결제건이 존재하지 않습니다.'], 'refusal');
  }
});

// ---- escrow deliveries --------------------------------------------------------------

const party = { name: '시옷', tel: '1670-5176', addr: '신사동 661-16', postcode: '06018' };
const SENT_AT = 1567468800;
let escrowUid;

await check('escrow: postEscrow registers, answer as Dates', async () => {
  escrowUid = (await pay(`${RUN}-escrow`, 20000, { escrow: true })).imp_uid;
  const res = await Escrows.postEscrow({
    imp_uid: escrowUid,
    logis: { company: 'EPOST', invoice: '1110301285808', sent_at: SENT_AT },
    sender: party,
    receiver: party,
  }).request(iamport);
  const r = res.data.response;
  eq([r.company, r.invoice], ['EPOST', '1110301285808'], 'record');
  assert(r.sent_at instanceof Date && r.sent_at.getTime() === SENT_AT * 1000, `sent_at ${r.sent_at}`);
  assert(r.applied_at instanceof Date, 'applied_at is a Date');
});

await check('escrow: postEscrow twice -> HTTP 409', async () => {
  const err = await rejects(Escrows.postEscrow({
    imp_uid: escrowUid,
    logis: { company: 'EPOST', invoice: '1110301285808', sent_at: SENT_AT },
    sender: party,
    receiver: party,
  }), iamport);
  httpError(err, 409, 'twice');
});

await check('escrow: putEscrow keeps every courier code of the gateway table', async () => {
  // The gateway's courier table (developers.portone.io, "택배사 코드"), all in the client's
  // LogisCodeEnum; "a value not in the table is handled as ETC".
  for (const company of ['HYUNDAI', 'HANARO', 'SAGAWA', 'KGB', 'YELLOWCAP', 'DONGBU', 'EPOST', 'CJGLS', 'HANJIN', 'ETC']) {
    const res = await Escrows.putEscrow({
      imp_uid: escrowUid,
      logis: { company, invoice: `inv-${company}`, sent_at: SENT_AT },
      sender: party,
      receiver: party,
    }).request(iamport);
    eq([res.data.response.company, res.data.response.invoice], [company, `inv-${company}`], company);
  }
  const res = await Escrows.putEscrow({
    imp_uid: escrowUid,
    logis: { company: 'NO-SUCH-COURIER', invoice: 'x', sent_at: SENT_AT },
    sender: party,
    receiver: party,
  }).request(iamport);
  eq(res.data.response.company, 'ETC', 'unknown code');
});

await check('escrow: refused for missing KG Inicis fields (400), non-escrow (400), unknown (404)', async () => {
  const other = (await pay(`${RUN}-escrow2`, 1000, { escrow: true })).imp_uid;
  let err = await rejects(Escrows.postEscrow({
    imp_uid: other,
    logis: { company: 'CJGLS', invoice: '1', sent_at: SENT_AT },
  }), iamport);
  httpError(err, 400, 'no sender/receiver for html5_inicis');
  const plain = (await pay(`${RUN}-plain`, 1000, { escrow: false })).imp_uid;
  err = await rejects(Escrows.postEscrow({
    imp_uid: plain, logis: { company: 'CJGLS', invoice: '1', sent_at: SENT_AT }, sender: party, receiver: party,
  }), iamport);
  httpError(err, 400, 'not escrow');
  err = await rejects(Escrows.postEscrow({
    imp_uid: 'imp_000000000001', logis: { company: 'CJGLS', invoice: '1', sent_at: SENT_AT }, sender: party, receiver: party,
  }), iamport);
  httpError(err, 404, 'unknown imp_uid');
});

// ---- many payments: by status within a time window, and by imp_uid ------------------

const nowSeconds = () => Math.floor(Date.now() / 1000);
// A window 40 days back that only these checks' backdated payments fall in.
const WINDOW_FROM = nowSeconds() - 40 * 86400;
const listed = [];

await check('list: getByStatus pages a window, oldest first, as {total, previous, next, list}', async () => {
  for (let i = 0; i < 3; i += 1) {
    const created = await pay(`${RUN}-listed-${i}`, 1000 + i, { at: WINDOW_FROM + i * 60 });
    eq(created.status, 'paid', 'control pay');
    listed.push(created.imp_uid);
  }
  const query = { status: 'paid', limit: 2, from: WINDOW_FROM, to: WINDOW_FROM + 3600, sorting: 'started' };
  const first = await Payments.getByStatus({ ...query, page: 1 }).request(iamport);
  const p1 = first.data.response;
  eq([p1.total, p1.previous, p1.next], [3, 0, 2], 'page 1');
  eq(p1.list.map((p) => p.imp_uid), listed.slice(0, 2), 'page 1 list');
  assert(p1.list[0].paid_at instanceof Date && p1.list[0].paid_at.getTime() === WINDOW_FROM * 1000, 'paid_at');
  const second = await Payments.getByStatus({ ...query, page: 2 }).request(iamport);
  const p2 = second.data.response;
  eq([p2.total, p2.previous, p2.next], [3, 1, 0], 'page 2');
  eq(p2.list.map((p) => p.imp_uid), listed.slice(2), 'page 2 list');
});

await check('list: a full cancel is found by its cancel time, not by its payment time', async () => {
  const since = nowSeconds();
  await Payments.cancel({ imp_uid: listed[0], reason: `[refund:${RUN}] all` }).request(iamport);
  const cancelled = await Payments.getByStatus({ status: 'cancelled', page: 1, limit: 1000, from: since, sorting: '-updated' })
    .request(iamport);
  const list = cancelled.data.response.list;
  assert(list.some((p) => p.imp_uid === listed[0]), `${listed[0]} listed as cancelled since ${since}`);
  assert(list.every((p) => p.status === 'cancelled'), 'only cancelled payments');
  const mine = list.find((p) => p.imp_uid === listed[0]);
  eq(mine.cancel_history.map((h) => h.reason), [`[refund:${RUN}] all`], 'reason kept verbatim');
  const paidNow = await Payments.getByStatus({ status: 'paid', page: 1, limit: 1000, from: since }).request(iamport);
  assert(!paidNow.data.response.list.some((p) => listed.includes(p.imp_uid)), 'none of them paid since then');
});

await check('list: bad status / limit / window -> HTTP 400', async () => {
  for (const params of [
    { status: 'done', page: 1 },
    { status: 'paid', page: 1, limit: 1001 },
    { status: 'paid', page: 1, from: WINDOW_FROM, to: WINDOW_FROM + 91 * 86400 },
    { status: 'paid', page: 0 },
  ]) {
    const err = await rejects(Payments.getByStatus(params), iamport);
    httpError(err, 400, JSON.stringify(params));
  }
});

await check('batch: getByImpUids -> 200 all found; 207 with failed ids; 404 none found', async () => {
  const all = await Payments.getByImpUids({ imp_uid: listed }).request(iamport);
  eq(all.status, 200, 'HTTP status');
  eq(all.data.response.map((p) => p.imp_uid), listed, 'all found');
  const some = await Payments.getByImpUids({ imp_uid: [listed[1], 'imp_000000000000'] }).request(iamport);
  eq(some.status, 207, 'HTTP status');
  eq(some.data.response.map((p) => p.imp_uid), [listed[1]], 'the found one');
  eq(some.data.failed, ['imp_000000000000'], 'failed ids, as the library works them out');
  const err = await rejects(Payments.getByImpUids({ imp_uid: ['imp_000000000000'] }), iamport);
  httpError(err, 404, 'none found');
});

// ---- virtual accounts -----------------------------------------------------------------
// The client offers Vbanks.post (issue), Vbanks.delete (revoke), Vbanks.put (change amount or
// due) and Vbanks.getHolder (an account's holder), and Payments.cancel with refund_holder,
// refund_bank and refund_account. Its bank codes (SettleVbankCodeEnum) are KFTC codes, the
// format of Settlebank (`pg: 'settle'`), so the accounts here are issued there. Vbanks.put and
// Vbanks.getHolder are not checked: the sandbox does not serve them (the service uses neither).

const DUE = nowSeconds() + 3 * 86400;
const VBANK_MID = `${RUN}-vbank`;
let vbankUid;

async function deposit(impUidToPay, amount) {
  const r = await fetch(`${BASE}/_sandbox/vbanks/${impUidToPay}/deposit`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ amount }),
  });
  return { status: r.status, body: await r.json() };
}

const issue = (merchant_uid, amount) => Vbanks.post({
  merchant_uid,
  amount,
  vbank_code: Enum.SettleVbankCodeEnum.KB,
  vbank_due: DUE,
  vbank_holder: '에스크로상점',
  name: '책상',
  buyer_name: '홍길동',
  pg: 'settle',
  notice_url: [`${BASE}/no-receiver`],
});

await check('vbank: Vbanks.post -> ready, the account in the answer (dates as Dates)', async () => {
  const p = (await issue(VBANK_MID, 32000).request(iamport)).data.response;
  eq([p.status, p.pay_method, p.amount, p.pg_provider], ['ready', 'vbank', 32000, 'settle'], 'issued');
  eq([p.vbank_code, p.vbank_name, p.vbank_holder], ['004', 'KB국민은행', '에스크로상점'], 'account');
  assert(p.vbank_date instanceof Date && p.vbank_date.getTime() === DUE * 1000, `vbank_date ${p.vbank_date}`);
  assert(p.vbank_issued_at instanceof Date && p.vbank_num, 'vbank_issued_at, vbank_num');
  eq(p.paid_at, 0, 'not paid yet');
  vbankUid = p.imp_uid;
});

await check('vbank: Vbanks.post refused without vbank_code / holder (settle) / with a past due -> HTTP 400', async () => {
  let err = await rejects(Vbanks.post({ merchant_uid: `${RUN}-vbank-bad`, amount: 1000, vbank_due: DUE, pg: 'settle' }), iamport);
  httpError(err, 400, 'no vbank_code');
  err = await rejects(Vbanks.post({
    merchant_uid: `${RUN}-vbank-bad`, amount: 1000, vbank_code: '004', vbank_due: DUE, pg: 'settle',
  }), iamport);
  httpError(err, 400, 'no vbank_holder at Settlebank');
  err = await rejects(Vbanks.post({
    merchant_uid: `${RUN}-vbank-bad`, amount: 1000, vbank_code: '004', vbank_due: nowSeconds() - 60, vbank_holder: 'x', pg: 'settle',
  }), iamport);
  httpError(err, 400, 'due in the past');
});

await check('vbank: deposit (control) -> getByImpUid paid; Vbanks.delete refused once paid', async () => {
  eq((await deposit(vbankUid, 31000)).status, 409, 'another amount refused');
  const done = await deposit(vbankUid, 32000);
  eq([done.status, done.body.status], [200, 'paid'], 'deposit');
  const p = (await Payments.getByImpUid({ imp_uid: vbankUid }).request(iamport)).data.response;
  eq([p.status, p.pay_method, p.amount], ['paid', 'vbank', 32000], 'found paid');
  assert(p.paid_at instanceof Date, 'paid_at is a Date');
  const byMid = await Payments.getByMerchantUid({ merchant_uid: VBANK_MID, status: 'paid' }).request(iamport);
  eq(byMid.data.response.imp_uid, vbankUid, 'by merchant_uid, paid');
  const err = await rejects(Vbanks.delete({ imp_uid: vbankUid }), iamport);
  httpError(err, 400, 'revoke a paid account');
});

await check('vbank: cancel without a refund account -> HTTP 200 code 1, nothing done', async () => {
  const err = await rejects(Payments.cancel({ imp_uid: vbankUid, reason: 'no account' }), iamport);
  eq(refusedWith200(err, 'no refund account').code, 1, 'code');
  const p = (await Payments.getByImpUid({ imp_uid: vbankUid }).request(iamport)).data.response;
  eq(p.cancel_amount, 0, 'nothing done');
});

await check('vbank: cancel with refund_holder/bank/account, partial then the rest', async () => {
  const refund = { refund_holder: '홍길동', refund_bank: Enum.SettleVbankCodeEnum.SHINHAN, refund_account: '110-123-456789' };
  let p = (await Payments.cancel({ imp_uid: vbankUid, amount: 12000, reason: 'partial refund', ...refund })
    .request(iamport)).data.response;
  eq([p.status, p.cancel_amount], ['paid', 12000], 'partial');
  p = (await Payments.cancel({ merchant_uid: VBANK_MID, reason: 'the rest', ...refund }).request(iamport)).data.response;
  eq([p.status, p.cancel_amount], ['cancelled', 32000], 'full');
  eq(p.cancel_history.map((h) => h.amount), [12000, 20000], 'history');
});

await check('vbank: Vbanks.delete revokes an unpaid account; then 409 / 400 / 404', async () => {
  const unpaid = (await issue(`${RUN}-vbank-unpaid`, 9000).request(iamport)).data.response.imp_uid;
  const r = (await Vbanks.delete({ imp_uid: unpaid }).request(iamport)).data.response;
  eq([r.imp_uid, r.status], [unpaid, 'cancelled'], 'revoked');
  assert(r.cancelled_at instanceof Date, 'cancelled_at is a Date');
  const p = (await Payments.getByImpUid({ imp_uid: unpaid }).request(iamport)).data.response;
  eq(p.status, 'cancelled', 're-read');
  eq((await deposit(unpaid, 9000)).status, 409, 'a transfer into a revoked account');
  httpError(await rejects(Vbanks.delete({ imp_uid: unpaid }), iamport), 400, 'revoked twice');
  httpError(await rejects(Vbanks.delete({ imp_uid: 'imp_000000000000' }), iamport), 404, 'unknown imp_uid');
});

// ---- the cached token going stale ---------------------------------------------------

await check('token: a token the gateway no longer accepts -> HTTP 401; a new client goes on', async () => {
  await control('/_sandbox/tokens/expire');
  const err = await rejects(Payments.getByImpUid({ imp_uid: impUid }), iamport);
  httpError(err, 401, 'cached token after expiry');
  const fresh = new Iamport({ apiKey: KEY, apiSecret: SECRET, baseUrl: BASE });
  const res = await Payments.getByImpUid({ imp_uid: impUid }).request(fresh);
  eq(res.data.response.imp_uid, impUid, 'with a new token');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
