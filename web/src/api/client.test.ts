import { afterEach, describe, expect, it, vi } from 'vitest';
import { request, http } from './client';
import { ApiError } from '../lib/problem';

function respond(status: number, body: unknown, type = 'application/json') {
  return vi.fn(async () => new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'Content-Type': type } }));
}

afterEach(() => vi.unstubAllGlobals());

describe('request', () => {
  it('sends JSON and an Idempotency-Key on commands', async () => {
    const fetch = respond(201, { success: true, product_id: 7 });
    vi.stubGlobal('fetch', fetch);
    const res = await http.post<{ product_id: number }>('/products', { name: 'x' });
    expect(res.product_id).toBe(7);
    const [path, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    const headers = init.headers as Record<string, string>;
    expect(path).toBe('/products');
    expect(init.method).toBe('POST');
    expect(headers['Content-Type']).toBe('application/json');
    expect(headers['Idempotency-Key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(init.body).toBe('{"name":"x"}');
  });
  it('reuses a given key for a retry, and sends none on reads', async () => {
    const fetch = respond(200, {});
    vi.stubGlobal('fetch', fetch);
    await http.post('/orders', {}, 'key-1');
    await http.get('/products');
    const h = (i: number) => (fetch.mock.calls[i] as unknown as [string, RequestInit])[1].headers as Record<string, string>;
    expect(h(0)['Idempotency-Key']).toBe('key-1');
    expect(h(1)['Idempotency-Key']).toBeUndefined();
  });
  it('turns problem+json into ApiError', async () => {
    vi.stubGlobal('fetch', respond(409, { code: 'email_taken', message: 'that email is taken' }, 'application/problem+json'));
    await expect(request('POST', '/auth/signup', { body: {} })).rejects.toMatchObject({ status: 409, code: 'email_taken', message: 'that email is taken' });
  });
  it('turns network failures into network_error', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    const err = (await request('GET', '/products').catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('network_error');
  });
  it('refuses a 200 that is not JSON (e.g. an HTML page)', async () => {
    vi.stubGlobal('fetch', respond(200, '<!doctype html>', 'text/html'));
    await expect(request('GET', '/cart')).rejects.toMatchObject({ code: 'bad_response' });
  });
});
