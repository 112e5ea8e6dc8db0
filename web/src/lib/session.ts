/** The signed-in member: the token in localStorage, the member from GET /auth/me. */
import { reactive } from 'vue';
import { auth } from '../api';
import { setUnauthorizedHandler, tokenStore } from '../api/client';
import type { Member } from '../api/contract';

export const session = reactive({
  me: null as Member | null,
  /** True once we know whether the stored token is good. */
  ready: false,
});

export async function restoreSession(): Promise<void> {
  if (!tokenStore.get()) {
    session.ready = true;
    return;
  }
  try {
    session.me = await auth.me();
  } catch {
    tokenStore.set(null);
    session.me = null;
  } finally {
    session.ready = true;
  }
}

export async function login(email: string, password: string): Promise<Member> {
  const res = await auth.login({ email, password });
  tokenStore.set(res.token);
  const me = await auth.me();
  session.me = me;
  return me;
}

export function logout(): void {
  tokenStore.set(null);
  session.me = null;
}

/** Signs out at the service too, so the token stops working wherever it was copied. */
export async function signOut(): Promise<void> {
  if (tokenStore.get()) {
    try {
      await auth.logout();
    } catch {
      // Already refused (expired, revoked): forgetting it here is all that is left.
    }
  }
  logout();
}

setUnauthorizedHandler(() => logout());

