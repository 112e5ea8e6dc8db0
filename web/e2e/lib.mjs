// Helpers for the browser scenarios: API shortcuts for setting up data, pages at desktop and
// phone width, screenshots.
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let counter = 0;
export function uniqueEmail(prefix) {
  counter++;
  return `${prefix}-${Date.now().toString(36)}-${counter}@example.com`;
}
export const PASSWORD = 'correct horse battery';

/** A small API client against the service, for setting scenes up quickly. */
export function api(base, token = null) {
  async function call(method, path, body, { idempotent = method === 'POST' } = {}) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotent) headers['Idempotency-Key'] = randomUUID();
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, body: json };
  }
  return {
    call,
    async ok(method, path, body) {
      const r = await call(method, path, body);
      if (r.status >= 400) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
}

/** Signs a member up and logs them in through the API; returns {email, token, user_id, client}. */
export async function member(base, role, name = role === 'seller' ? '김판매' : '이구매') {
  const email = uniqueEmail(role);
  const anon = api(base);
  const signup = await anon.ok('POST', '/auth/signup', { email, password: PASSWORD, name, role, phone: '010-1234-5678' });
  const login = await anon.ok('POST', '/auth/login', { email, password: PASSWORD });
  return { email, name, token: login.token, user_id: signup.user_id, client: api(base, login.token) };
}

/** Logs an existing member (an admin made with createAdmin, say) in through the API; returns {token, client}. */
export async function loginAs(base, email, password = PASSWORD) {
  const login = await api(base).ok('POST', '/auth/login', { email, password });
  return { token: login.token, client: api(base, login.token) };
}

export async function product(seller, fields = {}) {
  const body = { name: `테스트 상품 ${randomUUID().slice(0, 6)}`, description: '에스크로로 안전하게 파는 물건', price: 15000, stock: 10, ...fields };
  const r = await seller.client.ok('POST', '/products', body);
  return { ...body, product_id: r.product_id };
}

export const PHONE = { width: 375, height: 812 };
export const DESKTOP = { width: 1280, height: 860 };

/** A fresh browser context (its own localStorage) and page. `mobile` sends a phone user agent. */
export async function newPage(ctx, { viewport = DESKTOP, mobile = false, token = null } = {}) {
  const context = await ctx.browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    locale: 'ko-KR',
    timezoneId: 'Asia/Seoul',
    ...(mobile ? { isMobile: true, hasTouch: true, userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148' } : {}),
  });
  ctx.defer(() => context.close());
  if (token) await context.addInitScript((t) => localStorage.setItem('escrow.token', t), token);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  // What the pages' Content-Security-Policy refused: the UI and the sandbox must need nothing it forbids.
  const refused = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
  });
  page.cspRefusals = refused;
  page.on('dialog', (d) => d.accept());
  page.jsErrors = errors;
  return page;
}

export function app(ctx, path = '') {
  return `${ctx.appBase}/app/${path.replace(/^\//, '')}`;
}

export async function shot(ctx, page, name) {
  // Settle pending requests, but do not wait long: the gateway window may keep one open.
  await page.waitForLoadState('networkidle', { timeout: 2_000 }).catch(() => {});
  await page.evaluate(() => window.scrollTo(0, 0)); // a sticky header would otherwise land mid-page
  await page.screenshot({ path: join(ctx.shots, `${name}.png`), fullPage: true });
}

/** Logs in through the login page. */
export async function uiLogin(ctx, page, email, password = PASSWORD) {
  await page.goto(app(ctx, 'login'));
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=logout]');
}

/** `escrow admin create` against the same database as the running service. */
export function createAdmin(ctx, email, password = PASSWORD) {
  return new Promise((ok, fail) =>
    execFile(ctx.bin, ['admin', 'create', '--email', email, '--password', password, '--name', '관리자'], { env: ctx.env }, (err, stdout, stderr) =>
      err ? fail(new Error(`admin create failed: ${stderr || err.message}`)) : ok(stdout),
    ),
  );
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * Starts another `escrow serve` beside the one under test, with `extra` settings (e.g.
 * PORTONE_API_VERSION=v2), on a fresh SQLite file; stopped by the scenario's cleanup. Answers
 * a context for it (`apiBase`, `appBase`, `env`).
 */
export async function startService(ctx, extra) {
  const port = await freePort();
  const dbFile = join(tmpdir(), `escrow-e2e-${process.pid}-${port}.db`);
  const env = { ...ctx.env, ...extra, ESCROW_LISTEN: `127.0.0.1:${port}`, ESCROW_DATABASE_URL: `sqlite://${dbFile}` };
  const service = spawn(ctx.bin, ['serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  service.stderr.on('data', (d) => (log += d));
  ctx.defer(async () => {
    service.kill('SIGTERM');
    for (const f of [dbFile, `${dbFile}-shm`, `${dbFile}-wal`]) rmSync(f, { force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (service.exitCode !== null) throw new Error(`the service exited:\n${log}`);
    const ready = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) return { ...ctx, apiBase: base, appBase: base, env };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the service was not ready within 60 s:\n${log}`);
}
