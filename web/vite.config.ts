/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// The API lives at the root of the same origin; the SPA lives under /app/.
// In development these paths go to a running `escrow` service.
const backend = process.env.ESCROW_URL ?? 'http://127.0.0.1:8080';
const apiPaths = [
  '/auth', '/products', '/cart', '/orders', '/payments', '/settlements', '/admin',
  '/webhooks', '/sandbox', '/openapi.json', '/docs', '/healthz', '/readyz', '/metrics',
  '/app/config.json',
];

export default defineConfig({
  base: '/app/',
  plugins: [vue()],
  server: {
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: backend, changeOrigin: false }])),
  },
  preview: {
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: backend, changeOrigin: false }])),
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
