/**
 * A thin fetch wrapper: same-origin API at the root, bearer token, JSON in and out,
 * problem+json errors turned into `ApiError`, an `Idempotency-Key` on commands.
 */
import { ApiError, parseProblem, toApiError } from '../lib/problem';
import { uuid } from '../lib/uuid';

const TOKEN_KEY = 'escrow.token';

export const tokenStore = {
  get(): string | null {
    try {
      return localStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  },
  set(token: string | null): void {
    try {
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      /* storage unavailable: the session lasts for this page */
    }
  },
};

/** Called when the server says the token is no longer good (401 on an authorised call). */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export interface RequestOptions {
  body?: unknown;
  /** Send an Idempotency-Key: `true` for a fresh one, or a key to reuse when retrying. */
  idempotencyKey?: string | boolean;
  signal?: AbortSignal;
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
  const token = tokenStore.get();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey === true ? uuid() : opts.idempotencyKey;

  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (err) {
    throw toApiError(err);
  }

  const text = await res.text();
  let body: unknown = text;
  if (text && /json/.test(res.headers.get('Content-Type') ?? '')) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!res.ok) {
    const err = parseProblem(res.status, body);
    if (res.status === 401 && token && onUnauthorized) onUnauthorized();
    throw err;
  }
  if (typeof body === 'string' && body !== '') {
    throw new ApiError(res.status, 'bad_response', 'The server answered something that is not JSON.');
  }
  return (body === '' ? {} : body) as T;
}

export const http = {
  get: <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, { signal }),
  /** A command: always with a fresh Idempotency-Key unless one is given (retries reuse theirs). */
  post: <T>(path: string, body: unknown = {}, idempotencyKey: string | boolean = true) =>
    request<T>('POST', path, { body, idempotencyKey }),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, { body }),
  del: <T>(path: string) => request<T>('DELETE', path),
};
