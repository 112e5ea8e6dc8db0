#!/usr/bin/env node
// Browser end-to-end tests: starts the `escrow` service on a free port with a fresh SQLite
// file and the built UI (ESCROW_WEB_DIR=web/dist), drives Debian's Chromium (headless) through
// playwright-core, saves screenshots to ${ARTIFACTS_DIR:-../artifacts}/screenshots and prints
// a last line "N passed, N failed". A scenario passes or fails: an endpoint or page the service
// lacks fails it.
//
//   npm run build && npm run e2e
//   ESCROW_BIN=/path/to/escrow E2E_ONLY=checkout npm run e2e
//   E2E_BASE_URL=http://127.0.0.1:8080 npm run e2e   # against a service you run yourself
//     (then `escrow admin create` runs with your environment: set ESCROW_DATABASE_URL to match)
//   PORTONE_API_VERSION=v2 npm run e2e   # every scenario against the service speaking PortOne V2
//     (the V2 checkout scenario starts a V2 service of its own in any case: lib.mjs startService)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort } from './lib.mjs';
import { scenarios } from './scenarios.mjs';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = resolve(webDir, process.env.ESCROW_BIN ?? '../target/debug/escrow');
const distDir = join(webDir, 'dist');
const artifacts = resolve(webDir, process.env.ARTIFACTS_DIR ?? '../artifacts');
const shots = join(artifacts, 'screenshots');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const only = process.env.E2E_ONLY ?? '';

function die(msg) {
  console.error(`e2e: ${msg}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const external = process.env.E2E_BASE_URL?.replace(/\/$/, '') ?? null;
if (!external && !existsSync(bin)) die(`no service binary at ${bin}: build it (cargo build -p escrow) or set ESCROW_BIN`);
if (!existsSync(join(distDir, 'index.html'))) die(`no UI build in ${distDir}: run npm run build first`);
if (!existsSync(chromiumPath)) die(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`);
mkdirSync(shots, { recursive: true });

const port = await freePort();
const dbFile = join(tmpdir(), `escrow-e2e-${process.pid}-${Date.now()}.db`);
const env = {
  ...process.env,
  ESCROW_LISTEN: `127.0.0.1:${port}`,
  ESCROW_DATABASE_URL: `sqlite://${dbFile}`,
  ESCROW_WEB_DIR: distDir,
  ESCROW_LOG: process.env.ESCROW_LOG ?? 'warn',
  // Every scenario signs its members up from this one address.
  ESCROW_SIGNUP_LIMIT: process.env.ESCROW_SIGNUP_LIMIT ?? '1000',
  // Released money is available the same day, so a scenario can pay it out.
  ESCROW_SETTLEMENT_DELAY: process.env.ESCROW_SETTLEMENT_DELAY ?? '0',
};
let serviceLog = '';
let serviceExited = false;
let service = null;
if (!external) {
  service = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  service.stdout.on('data', (d) => (serviceLog += d));
  service.stderr.on('data', (d) => (serviceLog += d));
  service.on('exit', () => (serviceExited = true));
}

const apiBase = external ?? `http://127.0.0.1:${port}`;
let browser = null;

function cleanup() {
  if (service && !serviceExited) service.kill('SIGTERM');
  for (const f of [dbFile, `${dbFile}-shm`, `${dbFile}-wal`]) rmSync(f, { force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

async function waitReady() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (serviceExited) throw new Error(`the service exited:\n${serviceLog}`);
    try {
      const res = await fetch(`${apiBase}/readyz`);
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the service was not ready within 60 s:\n${serviceLog}`);
}

let passed = 0;
let failed = 0;
try {
  await waitReady();
  // The UI under test is the one the service itself serves.
  const appBase = apiBase;
  const probe = await fetch(`${apiBase}/app/`);
  if (probe.status !== 200) throw new Error(`the service does not serve the UI at /app/ (HTTP ${probe.status})`);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  const ctx = { browser, apiBase, appBase, shots, bin, env: external ? process.env : env };

  for (const sc of scenarios) {
    if (only && !sc.name.includes(only)) continue;
    const started = Date.now();
    const cleanups = [];
    try {
      await sc.run({ ...ctx, defer: (fn) => cleanups.push(fn), name: sc.name });
      passed++;
      console.log(`✔ ${sc.name} (${Date.now() - started} ms)`);
    } catch (err) {
      failed++;
      console.log(`✘ ${sc.name}\n  ${String(err?.stack ?? err).split('\n').slice(0, 8).join('\n  ')}`);
    } finally {
      for (const fn of cleanups.reverse()) await fn().catch(() => {});
    }
  }
} catch (err) {
  failed++;
  console.log(`✘ setup\n  ${err?.stack ?? err}`);
} finally {
  await browser?.close().catch(() => {});
  cleanup();
}
if (!passed && !failed) {
  failed++;
  console.log(`✘ no scenario ran${only ? ` (none matches E2E_ONLY=${only})` : ''}`);
}
if (failed) console.log(`--- service log (last 40 lines) ---\n${serviceLog.split('\n').slice(-40).join('\n')}`);
console.log(`screenshots: ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
