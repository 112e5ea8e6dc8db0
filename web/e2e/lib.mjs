// Helpers for the browser scenarios: API shortcuts for setting up data, route probes that
// turn a missing backend feature into a skip, pages at desktop and phone width, screenshots.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';

/** Thrown to skip a scenario (the service does not offer what it needs yet). */
export class Skip extends Error {}

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

export async function product(seller, fields = {}) {
  const body = { name: `테스트 상품 ${randomUUID().slice(0, 6)}`, description: '에스크로로 안전하게 파는 물건', price: 15000, stock: 10, ...fields };
  const r = await seller.client.ok('POST', '/products', body);
  return { ...body, product_id: r.product_id };
}

/**
 * Skips unless every route exists. A route that exists answers anything but the service's
 * "nothing at this path" 404 (usually 401 without a token, or 422 for an empty body).
 */
export async function needRoutes(base, routes) {
  const missing = [];
  for (const route of routes) {
    const [method, path] = route.split(' ');
    const res = await fetch(base + path.replace(/\{[^}]+\}/g, '1'), {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
    });
    const text = await res.text();
    if (res.status === 405 || (res.status === 404 && /nothing at this path/i.test(text))) missing.push(route);
  }
  if (missing.length) throw new Skip(`the service has no ${missing.join(', ')} yet (404)`);
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

/**
 * TEMPORARY (only for a service that does not serve /app/ yet): serves web/dist under
 * /app/ with the index.html fallback and proxies everything else to the service.
 */
export function startFallbackServer(distDir, apiBase) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/app/') && url.pathname !== '/app/config.json') {
      let file = normalize(join(distDir, url.pathname.slice(5)));
      if (!file.startsWith(distDir) || !existsSync(file) || statSync(file).isDirectory()) file = join(distDir, 'index.html');
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
      createReadStream(file).pipe(res);
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const headers = { ...req.headers };
    delete headers.host;
    try {
      const upstream = await fetch(apiBase + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      res.writeHead(upstream.status, Object.fromEntries([...upstream.headers].filter(([k]) => !['content-encoding', 'content-length', 'transfer-encoding'].includes(k))));
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } catch (e) {
      res.writeHead(502).end(String(e));
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() })));
}
