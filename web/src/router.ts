import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import { session, restoreSession } from './lib/session';
import type { Role } from './api/contract';

declare module 'vue-router' {
  interface RouteMeta {
    /** Signed-in members only; with roles, only those roles. */
    auth?: boolean;
    roles?: Role[];
  }
}

const routes: RouteRecordRaw[] = [
  { path: '/', name: 'home', component: () => import('./pages/ProductsPage.vue') },
  { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue') },
  { path: '/signup', name: 'signup', component: () => import('./pages/SignupPage.vue') },
  { path: '/products/:id', name: 'product', component: () => import('./pages/ProductPage.vue'), props: true },
  { path: '/cart', name: 'cart', component: () => import('./pages/CartPage.vue'), meta: { auth: true } },
  { path: '/checkout', name: 'checkout', component: () => import('./pages/CheckoutPage.vue'), meta: { auth: true } },
  { path: '/payments/:id/return', name: 'payment-return', component: () => import('./pages/PaymentReturnPage.vue'), props: true, meta: { auth: true } },
  { path: '/orders', name: 'orders', component: () => import('./pages/OrdersPage.vue'), props: { role: 'buyer' }, meta: { auth: true } },
  { path: '/orders/:id', name: 'order', component: () => import('./pages/OrderPage.vue'), props: true, meta: { auth: true } },
  { path: '/seller/products', name: 'seller-products', component: () => import('./pages/SellerProductsPage.vue'), meta: { auth: true, roles: ['seller'] } },
  { path: '/seller/products/new', name: 'product-new', component: () => import('./pages/ProductFormPage.vue'), meta: { auth: true, roles: ['seller'] } },
  { path: '/seller/products/:id/edit', name: 'product-edit', component: () => import('./pages/ProductFormPage.vue'), props: true, meta: { auth: true, roles: ['seller'] } },
  { path: '/seller/orders', name: 'seller-orders', component: () => import('./pages/OrdersPage.vue'), props: { role: 'seller' }, meta: { auth: true, roles: ['seller'] } },
  { path: '/seller/settlements', name: 'settlements', component: () => import('./pages/SettlementsPage.vue'), meta: { auth: true, roles: ['seller'] } },
  { path: '/admin', name: 'admin', component: () => import('./pages/AdminPage.vue'), meta: { auth: true, roles: ['admin'] } },
  { path: '/:rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue') },
];

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes,
  scrollBehavior: () => ({ top: 0 }),
});

router.beforeEach(async (to) => {
  if (!session.ready) await restoreSession();
  if (to.meta.auth && !session.me) return { name: 'login', query: { next: to.fullPath } };
  if (to.meta.roles && session.me && !to.meta.roles.includes(session.me.role as Role)) return { name: 'home' };
  return true;
});
