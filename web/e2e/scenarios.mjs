// The browser scenarios, in order. Each gets a context with `browser`, `apiBase`, `appBase`,
// `shots`, `defer(fn)` for cleanup.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import {
  app, assert, createAdmin, loginAs, member, newPage, PASSWORD, PHONE, product, shot, startService, uiLogin, uniqueEmail,
} from './lib.mjs';

/** Buy one unit of a product through the UI: product page → checkout → sandbox window. */
async function buyThroughUi(ctx, page, productId, { decline = false, shotName = null } = {}) {
  await page.goto(app(ctx, `products/${productId}`));
  await page.click('[data-testid=buy-now]');
  await page.waitForSelector('[data-testid=place-order]');
  await page.fill('#address', '서울특별시 중구 세종대로 110');
  await page.fill('#postcode', '04524');
  if (shotName) await shot(ctx, page, `${shotName}-form`);
  await page.click('[data-testid=place-order]');
  const frame = page.frameLocator('#portone-sandbox-checkout');
  await frame.locator('#pay-button').waitFor();
  if (shotName) await shot(ctx, page, `${shotName}-sandbox-window`);
  await frame.locator(decline ? '#decline-button' : '#pay-button').click();
  await page.waitForSelector(decline ? '[data-testid=pay-failure]' : '[data-testid=pay-success]', { timeout: 20_000 });
  const href = await page.getAttribute('[data-testid=view-order]', 'href');
  const orderId = href.split('/').pop();
  return orderId;
}

async function expectStatus(page, status) {
  await page.waitForSelector(`[data-testid=order-status][data-status=${status}]`, { timeout: 15_000 });
}

/** Opens an action on the order page, fills it, submits and waits for the done note. */
async function act(page, action, fill = async () => {}) {
  await page.click(`[data-testid=action-${action}]`);
  await fill();
  await page.click('[data-testid=action-submit]');
  await page.waitForSelector('[data-testid=action-done]');
}

/** Opens a return action on the order page, fills it, submits and waits for its done note. */
async function returnAct(page, action, fill = async () => {}) {
  await page.click(`[data-testid=action-${action}]`);
  await fill();
  await page.click('[data-testid=return-submit]');
  await page.waitForSelector('[data-testid=return-done]');
}

async function paymentIdOf(buyer, orderId) {
  const order = await buyer.client.ok('GET', `/orders/${orderId}`);
  assert(order.payment?.payment_id !== undefined, `order ${orderId} has a payment`);
  return order.payment.payment_id;
}

export const scenarios = [
  {
    name: 'seller: sign up, list a product, edit it, find it, delete it',
    async run(ctx) {
      const page = await newPage(ctx);
      const email = uniqueEmail('seller-ui');
      await page.goto(app(ctx, 'signup'));
      await page.check('[data-testid=role-seller]');
      await page.fill('#email', email);
      await page.fill('#password', PASSWORD);
      await page.fill('#name', '김판매');
      await shot(ctx, page, 'signup');
      await page.click('[data-testid=signup-submit]');
      await page.waitForURL(/\/app\/seller\/products$/);
      await page.waitForSelector('text=아직 등록한 상품이 없습니다.');

      const name = `수제 도자기 머그 ${Date.now().toString(36)}`;
      await page.click('[data-testid=new-product]');
      await page.fill('#name', name);
      await page.fill('#description', '손으로 빚은 350ml 머그컵입니다.');
      await page.fill('#price', '150,000');
      await page.fill('#stock', '5');
      await shot(ctx, page, 'product-new');
      await page.click('[data-testid=product-submit]');
      await page.waitForURL(/\/app\/products\/\d+$/);
      assert((await page.textContent('[data-testid=product-price]')).trim() === '150,000원', 'price shown as won');
      const productId = page.url().split('/').pop();

      // Edit: new name and price.
      await page.goto(app(ctx, `seller/products/${productId}/edit`));
      await page.waitForFunction(() => document.querySelector('#name')?.value);
      await page.fill('#name', `${name} (대)`);
      await page.fill('#price', '165000');
      await page.click('[data-testid=product-submit]');
      await page.waitForURL(new RegExp(`/app/products/${productId}$`));
      await page.waitForSelector(`[data-testid=product-name]:has-text("${name} (대)")`);
      assert((await page.textContent('[data-testid=product-price]')).trim() === '165,000원', 'edited price');
      await shot(ctx, page, 'product-page');

      // The list and the search find it; a search for something else does not.
      await page.goto(app(ctx, ''));
      await page.waitForSelector(`[data-testid=product-card]:has-text("${name}")`);
      await shot(ctx, page, 'product-list');
      await page.fill('[data-testid=search]', name);
      await page.press('[data-testid=search]', 'Enter');
      await page.waitForURL(/\?q=/);
      await page.waitForSelector(`[data-testid=product-card]:has-text("${name}")`);
      assert((await page.locator('[data-testid=product-card]').count()) === 1, 'search finds exactly it');
      await page.fill('[data-testid=search]', 'zz-nothing-like-this');
      await page.press('[data-testid=search]', 'Enter');
      await page.waitForSelector('text=맞는 상품이 없습니다');

      // Delete from "my products" (the confirm dialog is accepted).
      await page.goto(app(ctx, 'seller/products'));
      await page.waitForSelector('[data-testid=seller-product-row]');
      await shot(ctx, page, 'seller-products');
      await page.click('[data-testid=delete-product]');
      await page.waitForSelector('text=아직 등록한 상품이 없습니다.');
      const res = await fetch(`${ctx.apiBase}/products/${productId}`);
      assert(res.status === 404, `deleted product answers 404, got ${res.status}`);
      assert(page.jsErrors.length === 0, `no page errors: ${page.jsErrors.join('; ')}`);
    },
  },
  {
    name: 'members: field errors on sign-up, wrong password, log in and out',
    async run(ctx) {
      const page = await newPage(ctx);
      await page.goto(app(ctx, 'signup'));
      await page.fill('#email', 'not-an-email');
      await page.fill('#password', 'short');
      await page.fill('#name', '홍길동');
      await page.click('[data-testid=signup-submit]');
      await page.waitForSelector('[data-testid=field-error]');
      await shot(ctx, page, 'signup-errors');

      const buyer = await member(ctx.apiBase, 'buyer');
      await page.goto(app(ctx, 'login'));
      await page.fill('#email', buyer.email);
      await page.fill('#password', 'wrong password!');
      await page.click('[data-testid=login-submit]');
      await page.waitForSelector('[data-testid=error]');
      await shot(ctx, page, 'login-error');
      await page.fill('#password', PASSWORD);
      await page.click('[data-testid=login-submit]');
      await page.waitForSelector('[data-testid=logout]');
      assert((await page.textContent('[data-testid=who]')).includes(buyer.name), 'shows who is signed in');
      const token = await page.evaluate(() => localStorage.getItem('escrow.token'));
      assert(token, 'the signed-in page keeps its token');
      await page.click('[data-testid=logout]');
      await page.waitForSelector('[data-testid=nav-login]');
      // Logging out revokes the token at the service, not only in this browser.
      const after = await fetch(`${ctx.apiBase}/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
      assert(after.status === 401, `a signed-out token is refused (got ${after.status})`);
      // A page that needs a session sends you to log in, and back afterwards.
      await page.goto(app(ctx, 'orders'));
      await page.waitForURL(/\/app\/login\?next=/);
      await uiLogin(ctx, page, buyer.email);
    },
  },
  {
    name: 'buyer: browse at phone width, open a product, switch language',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '제주 감귤 5kg', price: 32000, description: '산지 직송 감귤입니다.\n당도 12브릭스 이상.' });
      await product(seller, { name: '국산 참기름 350ml', price: 18900 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { viewport: PHONE, token: buyer.token });
      await page.goto(app(ctx, ''));
      await page.waitForSelector(`[data-testid=product-card]:has-text("${p.name}")`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 0, `no horizontal scrolling at 375px (overflow ${overflow}px)`);
      await shot(ctx, page, 'phone-product-list');
      await page.click('.menu-toggle');
      await page.waitForSelector('#main-nav.open');
      await shot(ctx, page, 'phone-menu');
      await page.click('.menu-toggle');
      await page.click(`[data-testid=product-card]:has-text("${p.name}") a`);
      await page.waitForSelector('[data-testid=product-price]:has-text("32,000원")');
      await shot(ctx, page, 'phone-product-page');

      // English, then back to Korean (the default).
      await page.click('.menu-toggle');
      await page.click('[data-testid=lang]');
      await page.waitForSelector('[data-testid=add-to-cart]:has-text("Add to cart")');
      assert((await page.textContent('[data-testid=product-price]')).trim() === '₩32,000', 'won in English');
      await shot(ctx, page, 'phone-product-page-en');
      await page.click('[data-testid=lang]'); // the menu is still open
      await page.waitForSelector('[data-testid=add-to-cart]:has-text("장바구니 담기")');
    },
  },
  {
    name: 'buyer: add to cart, change quantity, see the total, check out the whole cart',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const a = await product(seller, { name: '유기농 현미 4kg', price: 24000 });
      const b = await product(seller, { name: '들기름 180ml', price: 9500 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { token: buyer.token });
      for (const p of [a, b]) {
        await page.goto(app(ctx, `products/${p.product_id}`));
        await page.click('[data-testid=add-to-cart]');
        await page.waitForSelector('[data-testid=notice]');
      }
      await page.goto(app(ctx, 'cart'));
      await page.waitForSelector('[data-testid=cart-line]');
      assert((await page.locator('[data-testid=cart-line]').count()) === 2, 'two lines');
      await page.click(`[data-testid=cart-line]:has-text("${a.name}") button[aria-label="하나 더"]`);
      await page.waitForSelector('[data-testid=cart-total]:has-text("57,500원")');
      await shot(ctx, page, 'cart');

      // Check out the whole cart (one seller: one order), pay, and the cart empties.
      await page.click('[data-testid=to-checkout]');
      await page.waitForSelector('[data-testid=checkout-total]:has-text("57,500원")');
      await page.fill('#address', '대전광역시 유성구 대학로 99');
      await page.fill('#postcode', '34134');
      await page.click('[data-testid=place-order]');
      await page.frameLocator('#portone-sandbox-checkout').locator('#pay-button').click();
      await page.waitForSelector('[data-testid=pay-success]', { timeout: 20_000 });
      assert((await page.locator('[data-testid=pay-result]').count()) === 1, 'one seller, one order');
      await page.goto(app(ctx, 'cart'));
      await page.waitForSelector('text=장바구니가 비어 있습니다.');
    },
  },
  {
    name: 'escrow purchase: sandbox checkout, shipment, delivery, confirm, settlement',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '원목 도마', price: 150000, stock: 3 });
      const buyer = await member(ctx.apiBase, 'buyer');

      const page = await newPage(ctx, { token: buyer.token });
      const orderId = await buyThroughUi(ctx, page, p.product_id, { shotName: 'checkout' });
      await shot(ctx, page, 'checkout-success');
      await page.click('[data-testid=view-order]');
      await expectStatus(page, 'paid');
      await page.waitForSelector('[data-testid=escrow-status][data-status=held]');
      await shot(ctx, page, 'order-paid-buyer');
      await page.goto(app(ctx, 'orders'));
      await page.waitForSelector('[data-testid=order-row][data-status=paid]');
      await shot(ctx, page, 'buyer-orders');

      // The seller ships and marks it delivered.
      const sp = await newPage(ctx, { token: seller.token });
      await sp.goto(app(ctx, 'seller/orders'));
      await sp.waitForSelector('[data-testid=order-row]');
      await shot(ctx, sp, 'seller-orders');
      await sp.goto(app(ctx, `orders/${orderId}`));
      await expectStatus(sp, 'paid');
      await act(sp, 'ship', async () => {
        await sp.selectOption('[data-testid=courier]', 'HANJIN');
        await sp.fill('[data-testid=invoice]', '123456789012');
      });
      await expectStatus(sp, 'shipping');
      await sp.waitForSelector('[data-testid=shipment]:has-text("123456789012")');
      await shot(ctx, sp, 'order-shipping-seller');
      await act(sp, 'delivered');
      await expectStatus(sp, 'delivered');

      // The buyer confirms: the escrow is released.
      await page.goto(app(ctx, `orders/${orderId}`));
      await expectStatus(page, 'delivered');
      await act(page, 'confirm');
      await expectStatus(page, 'confirmed');
      await page.waitForSelector('[data-testid=escrow-status][data-status=released]');
      await page.waitForSelector('[data-testid=timeline] li >> nth=3');
      await shot(ctx, page, 'order-confirmed-buyer');
      await page.setViewportSize(PHONE);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 0, `order page fits 375px (overflow ${overflow}px)`);
      assert(page.cspRefusals.length === 0, `nothing refused by the CSP: ${page.cspRefusals.join('; ')}`);
      await shot(ctx, page, 'phone-order-confirmed');

      // The seller's settlement shows it.
      await sp.goto(app(ctx, 'seller/settlements'));
      await sp.waitForSelector('[data-testid=settlement-row]');
      await shot(ctx, sp, 'settlements');
    },
  },
  {
    name: 'PortOne V2: a purchase through the V2 checkout (PortOne.requestPayment), confirmed at the PG',
    async run(ctx) {
      const v2 = await startService(ctx, { PORTONE_API_VERSION: 'v2' });
      const config = await (await fetch(`${v2.apiBase}/app/config.json`)).json();
      assert(config.api_version === 'v2' && config.browser_sdk.endsWith('/sandbox/portone-v2/browser-sdk.js'), `V2 config: ${JSON.stringify(config)}`);
      const seller = await member(v2.apiBase, 'seller');
      const p = await product(seller, { name: '황동 촛대', price: 87000, stock: 2 });
      const buyer = await member(v2.apiBase, 'buyer');
      const page = await newPage(v2, { token: buyer.token });
      const orderId = await buyThroughUi(v2, page, p.product_id, { shotName: 'v2-checkout' });
      await shot(v2, page, 'v2-checkout-success');
      await page.click('[data-testid=view-order]');
      await expectStatus(page, 'paid');
      await page.waitForSelector('[data-testid=escrow-status][data-status=held]');
      assert(page.cspRefusals.length === 0, `nothing refused by the CSP: ${page.cspRefusals.join('; ')}`);

      // Shipped, delivered and confirmed: the confirmation reaches the PG (/escrow/complete).
      const paymentId = await paymentIdOf(buyer, orderId);
      await seller.client.ok('POST', `/payments/${paymentId}/shipment`, { courier: 'CJGLS', invoice_number: '555566667777' });
      await seller.client.ok('POST', `/payments/${paymentId}/delivered`, {});
      await page.goto(app(v2, `orders/${orderId}`));
      await act(page, 'confirm');
      await expectStatus(page, 'confirmed');
      await shot(v2, page, 'v2-order-confirmed');
      const status = await buyer.client.ok('GET', `/payments/${paymentId}/status`);
      const gw = await fetch(`${v2.apiBase}/sandbox/portone-v2/payments/${status.merchant_uid}`, {
        headers: { Authorization: `PortOne ${v2.env.PORTONE_API_SECRET ?? 'sandbox-v2-secret'}` },
      }).then((r) => r.json());
      assert(gw.escrow?.status === 'CONFIRMED', `the PG's escrow is confirmed: ${JSON.stringify(gw.escrow)}`);
    },
  },
  {
    name: 'declined card: a clear failure, then paying again works',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '가죽 지갑', price: 59000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { token: buyer.token });
      const orderId = await buyThroughUi(ctx, page, p.product_id, { decline: true });
      const text = await page.textContent('[data-testid=pay-failure]');
      assert(text.includes('결제에 실패했습니다'), 'failure is stated');
      await shot(ctx, page, 'checkout-declined');
      await page.click('[data-testid=pay-again]');
      await page.frameLocator('#portone-sandbox-checkout').locator('#pay-button').click();
      await page.waitForSelector('[data-testid=pay-success]', { timeout: 20_000 });
      await page.goto(app(ctx, `orders/${orderId}`));
      await expectStatus(page, 'paid');
    },
  },
  {
    name: 'cancel before shipment: the buyer cancels a paid order, the escrow is returned',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '무선 키보드', price: 45000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { token: buyer.token });
      const orderId = await buyThroughUi(ctx, page, p.product_id);
      await page.goto(app(ctx, `orders/${orderId}`));
      await expectStatus(page, 'paid');
      await act(page, 'cancel', () => page.fill('[data-testid=reason]', '단순 변심'));
      await expectStatus(page, 'cancelled');
      await page.waitForSelector('[data-testid=escrow-status][data-status=returned]');
      await shot(ctx, page, 'order-cancelled');
    },
  },
  {
    name: 'dispute: the buyer disputes after shipment, an admin refunds',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '블루투스 스피커', price: 89000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { token: buyer.token });
      const orderId = await buyThroughUi(ctx, page, p.product_id);
      const paymentId = await paymentIdOf(buyer, orderId);
      await seller.client.ok('POST', `/payments/${paymentId}/shipment`, { courier: 'CJGLS', invoice_number: '987654321' });

      await page.goto(app(ctx, `orders/${orderId}`));
      await expectStatus(page, 'shipping');
      await act(page, 'dispute', () => page.fill('[data-testid=reason]', '상품이 설명과 다릅니다'));
      await expectStatus(page, 'disputed');
      await shot(ctx, page, 'order-disputed-buyer');

      const adminEmail = uniqueEmail('admin');
      await createAdmin(ctx, adminEmail);
      const ap = await newPage(ctx);
      await uiLogin(ctx, ap, adminEmail);
      await ap.goto(app(ctx, 'admin'));
      await ap.fill('[data-testid=admin-order-id]', String(orderId));
      await ap.press('[data-testid=admin-order-id]', 'Enter');
      await expectStatus(ap, 'disputed');
      await act(ap, 'resolve', () => ap.check('[data-testid=outcome-refund]'));
      await expectStatus(ap, 'refunded');
      await shot(ctx, ap, 'order-resolved-admin');
    },
  },
  {
    name: 'phone checkout: the gateway redirects back to /app/payments/{id}/return',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '휴대폰 케이스', price: 12000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { viewport: PHONE, mobile: true, token: buyer.token });
      await page.goto(app(ctx, `products/${p.product_id}`));
      await page.click('[data-testid=buy-now]');
      await page.fill('#address', '부산광역시 해운대구 센텀중앙로 79');
      await page.fill('#postcode', '48058');
      await shot(ctx, page, 'phone-checkout');
      await page.click('[data-testid=place-order]');
      await page.waitForSelector('#pay-button'); // the sandbox page itself (redirect mode)
      await page.click('#pay-button');
      await page.waitForURL(/\/app\/payments\/[^/]+\/return\?/, { timeout: 20_000 });
      await page.waitForSelector('[data-testid=pay-success]', { timeout: 20_000 });
      await shot(ctx, page, 'phone-payment-return');
      assert(page.cspRefusals.length === 0, `nothing refused by the CSP: ${page.cspRefusals.join('; ')}`);
    },
  },
  {
    name: 'sandbox checkout: a javascript: m_redirect_url is not followed, echoed text stays text',
    async run(ctx) {
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { viewport: PHONE, mobile: true, token: buyer.token });
      await page.goto(app(ctx, ''));
      const params = {
        merchant_uid: 'order-x', amount: 1000, name: '<img src=x onerror="window.__pwned=1">',
        m_redirect_url: 'javascript:window.__pwned=2;localStorage.getItem("escrow.token")',
      };
      const q = new URLSearchParams({ mode: 'redirect', imp_code: 'imp00000000', params: JSON.stringify(params) });
      const checkout = `${ctx.appBase}/sandbox/portone/checkout?${q}`;
      await page.goto(checkout);
      await page.click('#pay-button');
      await page.waitForSelector('#result:has-text("not followed")');
      assert(page.url() === checkout, `stayed on the checkout page (at ${page.url()})`);
      assert((await page.evaluate(() => window.__pwned)) === undefined, 'no script of the parameters ran');
      assert((await page.textContent('#product-name')) === params.name, 'the name is shown as text');
      await shot(ctx, page, 'sandbox-refused-redirect');
      assert(page.cspRefusals.length === 0, `nothing refused by the CSP: ${page.cspRefusals.join('; ')}`);
    },
  },
  {
    name: 'admin: disputes, reconciliation and ledger pages',
    async run(ctx) {
      const adminEmail = uniqueEmail('admin');
      await createAdmin(ctx, adminEmail);
      const page = await newPage(ctx);
      await uiLogin(ctx, page, adminEmail);
      await page.waitForURL(/\/app\/admin$/);
      await page.waitForSelector('[data-testid=tab-disputes]');
      await page.waitForFunction(() => !document.querySelector('.loading'));
      await shot(ctx, page, 'admin-disputes');
      await page.click('[data-testid=tab-ledger]');
      await page.waitForFunction(() => !document.querySelector('.loading'));
      await shot(ctx, page, 'admin-ledger');
      await page.click('[data-testid=tab-reconcile]');
      await page.click('[data-testid=run-reconcile]');
      await page.waitForSelector('[data-testid=reconcile-report]');
      await shot(ctx, page, 'admin-reconcile');
      await page.click('[data-testid=tab-ledger]');
      await page.waitForSelector('[data-testid=ledger-balanced]:has-text("✔")');
    },
  },
  {
    name: 'refunds: a seller refunds part of a paid order, both sides see it succeeded',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '캠핑 의자 세트', price: 30000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { token: buyer.token });
      const orderId = await buyThroughUi(ctx, page, p.product_id);
      const paymentId = await paymentIdOf(buyer, orderId);

      const sp = await newPage(ctx, { token: seller.token });
      await sp.goto(app(ctx, `orders/${orderId}`));
      await expectStatus(sp, 'paid');
      await act(sp, 'refund', async () => {
        await sp.fill('[data-testid=reason]', '구성품 하나 누락');
        await sp.fill('#amount', '4,000');
      });

      // The contract's record of it, asked directly so a missing route fails with its name.
      const list = await buyer.client.ok('GET', `/payments/${paymentId}/refunds`);
      assert(Array.isArray(list?.items) && list.items.length === 1, `one refund listed: ${JSON.stringify(list)}`);
      const [refund] = list.items;
      assert(refund.amount === 4000 && refund.status === 'succeeded' && refund.reason === '구성품 하나 누락',
        `the refund as asked, settled: ${JSON.stringify(refund)}`);

      // The action's note shows the answered refund's status; the list below it the row.
      await sp.waitForSelector('[data-testid=refund-answer] [data-status=succeeded]');
      const row = sp.locator('[data-testid=refund-row][data-status=succeeded]');
      await row.waitFor();
      assert((await sp.locator('[data-testid=refund-row]').count()) === 1, 'one refund row');
      assert((await row.locator('[data-testid=refund-amount]').textContent()).trim() === '4,000원', 'amount in won');
      const text = await row.textContent();
      assert(text.includes('환불 완료') && text.includes('구성품 하나 누락'), `status label and reason shown: ${text}`);
      await shot(ctx, sp, 'order-refund-partial-seller');

      // The buyer sees the same row, in English too.
      await page.goto(app(ctx, `orders/${orderId}`));
      await page.waitForSelector('[data-testid=refund-row][data-status=succeeded]');
      await page.click('[data-testid=lang]');
      await page.waitForSelector('[data-testid=refund-row] [data-status=succeeded]:has-text("Refunded")');
      await shot(ctx, page, 'order-refund-partial-buyer-en');
      assert(page.jsErrors.length === 0 && sp.jsErrors.length === 0, `no page errors: ${[...page.jsErrors, ...sp.jsErrors].join('; ')}`);
    },
  },
  {
    name: 'admin: the ledger tab shows the accounts, balanced, and no divergences',
    async run(ctx) {
      // A released payment, so that escrow and a seller's account have moved.
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '스테인리스 텀블러', price: 21000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const bp = await newPage(ctx, { token: buyer.token });
      const orderId = await buyThroughUi(ctx, bp, p.product_id);
      const paymentId = await paymentIdOf(buyer, orderId);
      await seller.client.ok('POST', `/payments/${paymentId}/shipment`, { courier: 'HANJIN', invoice_number: '555666777' });
      await seller.client.ok('POST', `/payments/${paymentId}/delivered`);
      await buyer.client.ok('POST', `/payments/${paymentId}/confirm`);

      const adminEmail = uniqueEmail('admin');
      await createAdmin(ctx, adminEmail);
      const admin = await loginAs(ctx.apiBase, adminEmail);
      const ledger = await admin.client.ok('GET', '/admin/ledger');
      assert(typeof ledger?.accounts?.escrow === 'number', `GET /admin/ledger reports the escrow account: ${JSON.stringify(ledger)}`);
      assert(Array.isArray(ledger.divergences), `GET /admin/ledger lists divergences: ${JSON.stringify(ledger)}`);

      const page = await newPage(ctx);
      await uiLogin(ctx, page, adminEmail);
      await page.goto(app(ctx, 'admin'));
      await page.click('[data-testid=tab-ledger]');
      await page.waitForSelector('[data-testid=ledger-balanced]:has-text("✔")');
      await page.waitForSelector('[data-testid=account-row][data-account=escrow]:has-text("에스크로 보관금")');
      await page.waitForSelector(`[data-testid=account-row][data-account="seller:${seller.user_id}"]:has-text("판매자 #${seller.user_id}")`);
      await page.waitForSelector('[data-testid=no-divergences]:has-text("불일치가 없습니다")');
      assert((await page.locator('[data-testid=divergence-row]').count()) === 0, 'no divergence rows');
      await shot(ctx, page, 'admin-ledger-accounts');
      assert(page.jsErrors.length === 0, `no page errors: ${page.jsErrors.join('; ')}`);
    },
  },
  {
    name: 'admin: webhooks: an endpoint with its secret shown once, a failed delivery resent',
    async run(ctx) {
      // The platform's receiver: the first request fails, later ones succeed.
      const got = [];
      const receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => { body += chunk; });
        req.on('end', () => {
          got.push({ id: req.headers['webhook-id'], signature: req.headers['webhook-signature'], body });
          res.writeHead(got.length === 1 ? 500 : 204).end();
        });
      });
      await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
      ctx.defer(() => new Promise((ok) => receiver.close(ok)));
      const url = `http://127.0.0.1:${receiver.address().port}/hook`;
      const waitForRequests = async (n) => {
        for (let i = 0; i < 200 && got.length < n; i++) await new Promise((ok) => setTimeout(ok, 50));
        assert(got.length >= n, `the receiver got ${got.length} of ${n} webhooks`);
      };

      const adminEmail = uniqueEmail('admin');
      await createAdmin(ctx, adminEmail);
      const page = await newPage(ctx);
      await uiLogin(ctx, page, adminEmail);
      await page.goto(app(ctx, 'admin'));
      await page.click('[data-testid=tab-webhooks]');
      await page.waitForSelector('[data-testid=no-webhooks]');

      await page.fill('#webhook-url', 'not a url');
      await page.click('[data-testid=webhook-create]');
      await page.waitForSelector('#webhook-url-error');

      await page.fill('#webhook-url', url);
      await page.fill('#webhook-types', 'order.created');
      await page.click('[data-testid=webhook-create]');
      const secret = (await page.locator('[data-testid=webhook-secret]').textContent()).trim();
      assert(/^whsec_[A-Za-z0-9+/]+=*$/.test(secret), `a whsec_ secret is shown: ${secret}`);
      await page.waitForSelector(`[data-testid=webhook-row]:has-text("${url}")`);
      await shot(ctx, page, 'admin-webhooks-secret');

      // The contract's list, asked directly so a missing route fails with its name.
      const admin = await loginAs(ctx.apiBase, adminEmail);
      const list = await admin.client.ok('GET', '/admin/webhook-endpoints');
      assert(list.items.length === 1 && list.items[0].url === url, `the endpoint is listed: ${JSON.stringify(list)}`);
      assert(!JSON.stringify(list).includes(secret), 'the secret is never listed');
      await page.click('[data-testid=webhook-secret-close]');
      assert((await page.locator('[data-testid=webhook-secret]').count()) === 0, 'the secret is gone once closed');

      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '웹훅 알림 상품', price: 9000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      await buyer.client.ok('POST', '/orders', {
        items: [{ product_id: p.product_id, quantity: 1 }],
        shipping: { receiver_name: '홍길동', receiver_phone: '010-1234-5678', address: '서울특별시 중구 세종대로 110', postcode: '04524' },
      });
      await waitForRequests(1);

      await page.click('[data-testid=webhook-deliveries]');
      const refreshUntil = async (selector) => {
        for (let i = 0; i < 100; i++) {
          if (await page.locator(selector).count()) return;
          await page.click('[data-testid=deliveries-refresh]');
          await page.waitForTimeout(100);
        }
        throw new Error(`never shown: ${selector}`);
      };
      // The first attempt failed with 500; the next waits for the schedule (30 s by default).
      await refreshUntil('[data-testid=delivery-row][data-status=pending] [data-testid=delivery-code]:has-text("500")');
      await shot(ctx, page, 'admin-webhooks-delivery-failed');
      await page.click('[data-testid=delivery-resend]');
      await waitForRequests(2);
      await refreshUntil('[data-testid=delivery-row][data-status=succeeded]');
      assert(got[0].id && got[0].id === got[1].id, `the resend has the same webhook-id: ${got.map((g) => g.id)}`);
      assert(JSON.parse(got[1].body).type === 'order.created', `the body names the event: ${got[1].body}`);
      assert(got[1].signature?.startsWith('v1,'), `signed: ${got[1].signature}`);
      await page.waitForSelector('[data-testid=delivery-row] [data-status=succeeded]:has-text("전송 완료")');
      await page.click('[data-testid=lang]');
      await page.waitForSelector('[data-testid=delivery-row] [data-status=succeeded]:has-text("Delivered")');
      await shot(ctx, page, 'admin-webhooks-deliveries-en');

      await page.click('[data-testid=webhook-delete]');
      await page.click('[data-testid=webhook-delete-confirm]');
      await page.waitForSelector('[data-testid=no-webhooks]');
      const after = await admin.client.ok('GET', '/admin/webhook-endpoints');
      assert(after.items.length === 0, `deleted: ${JSON.stringify(after)}`);
      assert(page.jsErrors.length === 0, `no page errors: ${page.jsErrors.join('; ')}`);
    },
  },
  {
    name: 'payouts: a seller sees a release available, an admin pays it out, the seller sees it paid out',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '무쇠 주물 팬', price: 43000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const bp = await newPage(ctx, { token: buyer.token });
      const orderId = await buyThroughUi(ctx, bp, p.product_id);
      const paymentId = await paymentIdOf(buyer, orderId);
      await seller.client.ok('POST', `/payments/${paymentId}/shipment`, { courier: 'HANJIN', invoice_number: '777888999' });
      await seller.client.ok('POST', `/payments/${paymentId}/delivered`);
      await buyer.client.ok('POST', `/payments/${paymentId}/confirm`);

      // The seller: the release is available; they give the account to pay it to.
      const sp = await newPage(ctx, { token: seller.token });
      await sp.goto(app(ctx, 'seller/settlements'));
      await sp.waitForSelector('[data-testid=balance-available]:has-text("43,000")');
      await sp.waitForSelector('[data-testid=settlement-row] [data-testid=available-on]');
      await sp.selectOption('[data-testid=bank-code]', '088');
      await sp.fill('[data-testid=bank-number]', '12');
      await sp.fill('[data-testid=bank-holder]', '김판매');
      await sp.click('[data-testid=bank-save]');
      await sp.waitForSelector('[data-testid=field-error]');
      await sp.fill('[data-testid=bank-number]', '110-123-456789');
      await sp.click('[data-testid=bank-save]');
      await sp.waitForSelector('[data-testid=bank-current]:has-text("신한은행")');
      await shot(ctx, sp, 'settlements-available');

      // An admin makes a batch, downloads the transfer file and marks the item paid.
      const adminEmail = uniqueEmail('admin');
      await createAdmin(ctx, adminEmail);
      const page = await newPage(ctx);
      await uiLogin(ctx, page, adminEmail);
      await page.goto(app(ctx, 'admin'));
      await page.click('[data-testid=tab-payouts]');
      await page.fill('[data-testid=payout-min]', '1000');
      await page.click('[data-testid=payout-create]');
      const item = `[data-testid=payout-item][data-seller="${seller.user_id}"]`;
      await page.waitForSelector(`${item}[data-status=created]`);
      const batch = page.locator('[data-testid=payout]', { has: page.locator(item) });
      const [download] = await Promise.all([page.waitForEvent('download'), batch.locator('[data-testid=payout-download]').click()]);
      const file = await readFile(await download.path(), 'utf8');
      assert(file.includes('bank_code,account_number,holder,amount,memo'), `the transfer file has its header: ${file}`);
      assert(file.includes('088,110123456789,김판매,43000,'), `the transfer file pays the seller: ${file}`);
      await shot(ctx, page, 'admin-payout-created');
      await page.click(`${item} [data-testid=item-paid]`);
      await page.waitForSelector(`${item}[data-status=paid]`);
      await shot(ctx, page, 'admin-payout-paid');
      await page.click('[data-testid=tab-overdue]');
      await page.waitForSelector('[data-testid=no-overdue]');

      // The seller sees it paid out.
      await sp.reload();
      await sp.waitForSelector('[data-testid=balance-paid-out]:has-text("43,000")');
      const available = await sp.textContent('[data-testid=balance-available]');
      assert(/^0\D*$/.test(available.trim()), `nothing is left available: ${available}`);
      await shot(ctx, sp, 'settlements-paid-out');
      assert(page.jsErrors.length === 0 && sp.jsErrors.length === 0, `no page errors: ${[...page.jsErrors, ...sp.jsErrors].join('; ')}`);
    },
  },
  {
    name: 'buyer: pay by virtual account through the UI, transfer through the sandbox, see it paid, cancel to an account',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '유기농 현미 10kg', price: 45000 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { token: buyer.token });
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      await page.goto(app(ctx, `products/${p.product_id}`));
      await page.click('[data-testid=buy-now]');
      await page.waitForSelector('[data-testid=place-order]');
      await page.fill('#address', '부산광역시 해운대구 센텀중앙로 79');
      await page.fill('#postcode', '48058');
      await page.check('[data-testid=pay-method-vbank]');
      await page.waitForSelector('[data-testid=place-order]:has-text("가상계좌 발급")');
      await shot(ctx, page, 'vbank-checkout-form');
      await page.click('[data-testid=place-order]');
      const frame = page.frameLocator('#portone-sandbox-checkout');
      await frame.locator('#pay-button:has-text("가상계좌 발급")').waitFor();
      await frame.locator('#pay-button').click();
      await page.waitForSelector('[data-testid=vbank-issued] [data-testid=vbank-number]', { timeout: 20_000 });
      await page.waitForSelector('[data-testid=vbank-remaining]:has-text(":")');
      await shot(ctx, page, 'vbank-account-desktop');

      const orderId = (await page.getAttribute('[data-testid=view-order]', 'href')).split('/').pop();
      const paymentId = await paymentIdOf(buyer, orderId);
      const status = await buyer.client.ok('GET', `/payments/${paymentId}/status`);
      assert(status.status === 'awaiting_deposit', `the payment awaits its deposit: ${JSON.stringify(status)}`);
      const shown = (await page.textContent('[data-testid=vbank-number]')).trim();
      assert(shown === status.vbank.account_number, `the page shows the issued account (${shown})`);
      assert((await page.textContent('[data-testid=vbank-amount]')).trim() === '45,000원', 'the exact amount is shown');
      await page.click('[data-testid=copy-account]');
      await page.waitForSelector('[data-testid=copy-account]:has-text("복사됨")');
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      assert(copied === status.vbank.account_number.replace(/\D/g, ''), `the account number is copied (${copied})`);

      // The order page at phone width, waiting for the transfer.
      const phone = await newPage(ctx, { viewport: PHONE, token: buyer.token });
      await phone.goto(app(ctx, `orders/${orderId}`));
      await phone.waitForSelector('[data-testid=vbank-account] [data-testid=vbank-remaining]:has-text(":")');
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 0, `no horizontal scrolling at 375px (overflow ${overflow}px)`);
      assert((await phone.locator('[data-testid=action-pay]').count()) === 0, 'no second payment while the account waits');
      await shot(ctx, phone, 'vbank-account-phone');

      // Another amount is refused by the bank; the exact one pays, and the open page shows it.
      const deposit = (amount) => fetch(`${ctx.apiBase}/sandbox/portone/_sandbox/vbanks/${status.imp_uid}/deposit`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ amount }),
      });
      assert((await deposit(44000)).status === 409, 'a transfer of another amount is refused');
      assert((await deposit(45000)).status === 200, 'the exact transfer is accepted');
      await expectStatus(phone, 'paid');
      await phone.waitForSelector('[data-testid=escrow-status][data-status=held]');
      assert((await phone.locator('[data-testid=vbank-account]').count()) === 0, 'the account is no longer shown');
      await shot(ctx, phone, 'vbank-paid-phone');

      // Cancelling before shipment asks where the money goes back.
      await phone.click('[data-testid=action-cancel]');
      await phone.waitForSelector('[data-testid=refund-account]');
      await phone.waitForSelector('[data-testid=refund-bank] option[value="088"]', { state: 'attached' });
      await phone.click('[data-testid=action-submit]');
      await phone.waitForSelector('.error-box');
      await phone.selectOption('[data-testid=refund-bank]', '088');
      await phone.fill('[data-testid=refund-number]', '110-123-456789');
      await phone.fill('[data-testid=refund-holder]', '이구매');
      await shot(ctx, phone, 'vbank-refund-account-phone');
      await phone.click('[data-testid=action-submit]');
      await phone.waitForSelector('[data-testid=action-done]');
      await expectStatus(phone, 'cancelled');
      const after = await buyer.client.ok('GET', `/payments/${paymentId}/status`);
      assert(after.status === 'cancelled' && after.refunded_amount === 45000, `refunded in full: ${JSON.stringify(after)}`);
      assert(page.jsErrors.length === 0 && phone.jsErrors.length === 0, `no page errors: ${[...page.jsErrors, ...phone.jsErrors].join('; ')}`);
    },
  },
{
    name: 'returns: a changed-mind return refunded less a fee, and an exchange shipped again and confirmed',
    async run(ctx) {
      const seller = await member(ctx.apiBase, 'seller');
      const p = await product(seller, { name: '린넨 셔츠', price: 48000, stock: 5 });
      const buyer = await member(ctx.apiBase, 'buyer');
      const page = await newPage(ctx, { token: buyer.token });
      const sellerPage = await newPage(ctx, { token: seller.token });
      const delivered = async () => {
        const orderId = await buyThroughUi(ctx, page, p.product_id);
        const paymentId = await paymentIdOf(buyer, orderId);
        await seller.client.ok('POST', `/payments/${paymentId}/shipment`, { courier: 'CJGLS', invoice_number: '123123123' });
        await seller.client.ok('POST', `/payments/${paymentId}/delivered`);
        return { orderId, paymentId };
      };

      // A return: the buyer changed their mind and sends it back; the seller keeps 3,000원.
      const ret = await delivered();
      await page.goto(app(ctx, `orders/${ret.orderId}`));
      await expectStatus(page, 'delivered');
      await page.click('[data-testid=action-return_request]');
      await page.check('[data-testid=return-kind-return]');
      await page.selectOption('[data-testid=return-reason-code]', 'changed_mind');
      await page.fill('[data-testid=return-reason]', '사이즈가 맞지 않아요');
      await shot(ctx, page, 'return-request-form');
      await page.click('[data-testid=return-submit]');
      await page.waitForSelector('[data-testid=return-done]');
      await expectStatus(page, 'return_requested');
      await page.waitForSelector('[data-testid=return-steps] [data-step=shipped] [data-testid=return-deadline]');
      await returnAct(page, 'return_ship', async () => {
        await page.selectOption('[data-testid=return-courier]', 'HANJIN');
        await page.fill('[data-testid=return-invoice]', '555666777');
      });
      await expectStatus(page, 'return_shipping');
      assert((await page.textContent('[data-testid=return-parcel]')).includes('555666777'), 'the return parcel is shown');
      await shot(ctx, page, 'return-shipped-buyer');

      await sellerPage.goto(app(ctx, `orders/${ret.orderId}`));
      await expectStatus(sellerPage, 'return_shipping');
      await returnAct(sellerPage, 'return_received');
      await expectStatus(sellerPage, 'return_received');
      await sellerPage.waitForSelector('[data-testid=return-steps] [data-step=decision] [data-testid=return-deadline]');
      await sellerPage.click('[data-testid=action-return_accept]');
      await sellerPage.fill('[data-testid=return-fee-input]', '9000');
      await sellerPage.click('[data-testid=return-submit]');
      await sellerPage.waitForSelector('.error-box');
      await sellerPage.fill('[data-testid=return-fee-input]', '3,000');
      await shot(ctx, sellerPage, 'return-accept-with-fee-seller');
      await sellerPage.click('[data-testid=return-submit]');
      await sellerPage.waitForSelector('[data-testid=return-done]');
      await expectStatus(sellerPage, 'returned');
      await sellerPage.waitForSelector('[data-testid=return-steps] [data-step=accepted]');
      await shot(ctx, sellerPage, 'return-accepted-seller');
      const returned = await buyer.client.ok('GET', `/payments/${ret.paymentId}/status`);
      assert(returned.refunded_amount === 45000 && returned.released_amount === 3000, `refunded less the fee: ${JSON.stringify(returned)}`);
      await page.goto(app(ctx, `orders/${ret.orderId}`));
      await expectStatus(page, 'returned');
      assert((await page.textContent('[data-testid=return-fee]')).includes('3,000'), 'the buyer sees the fee kept');
      await shot(ctx, page, 'return-refunded-buyer');

      // An exchange: the wrong item goes back, the seller ships another, the buyer confirms.
      const ex = await delivered();
      await page.goto(app(ctx, `orders/${ex.orderId}`));
      await expectStatus(page, 'delivered');
      await returnAct(page, 'return_request', async () => {
        await page.check('[data-testid=return-kind-exchange]');
        await page.selectOption('[data-testid=return-reason-code]', 'wrong_item');
        await page.fill('[data-testid=return-reason]', '다른 색상이 왔습니다');
      });
      await returnAct(page, 'return_ship', () => page.fill('[data-testid=return-invoice]', '888999000'));
      await sellerPage.goto(app(ctx, `orders/${ex.orderId}`));
      await returnAct(sellerPage, 'return_received');
      await returnAct(sellerPage, 'return_accept');
      await expectStatus(sellerPage, 'paid');
      await shot(ctx, sellerPage, 'exchange-accepted-seller');
      await act(sellerPage, 'ship', () => sellerPage.fill('[data-testid=invoice]', '121212121'));
      await expectStatus(sellerPage, 'shipping');
      await act(sellerPage, 'delivered');
      await page.goto(app(ctx, `orders/${ex.orderId}`));
      await expectStatus(page, 'delivered');
      await act(page, 'confirm');
      await expectStatus(page, 'confirmed');
      await shot(ctx, page, 'exchange-confirmed-buyer');
      const confirmed = await buyer.client.ok('GET', `/payments/${ex.paymentId}/status`);
      assert(confirmed.escrow_status === 'released' && confirmed.return?.kind === 'exchange', `exchange released: ${JSON.stringify(confirmed)}`);
      assert(page.jsErrors.length === 0 && sellerPage.jsErrors.length === 0, `no page errors: ${[...page.jsErrors, ...sellerPage.jsErrors].join('; ')}`);
    },
  },
];
