import { ref, shallowRef, type Ref, type ShallowRef } from 'vue';
import { ApiError, toApiError } from './problem';

export interface Async<T, A extends unknown[]> {
  data: ShallowRef<T | null>;
  loading: Ref<boolean>;
  error: ShallowRef<ApiError | null>;
  run: (...args: A) => Promise<T | null>;
}

/** Loading/error/data state around one async call; a newer run wins over an older one. */
export function useAsync<T, A extends unknown[] = []>(fn: (...args: A) => Promise<T>): Async<T, A> {
  const data = shallowRef<T | null>(null);
  const loading = ref(false);
  const error = shallowRef<ApiError | null>(null);
  let generation = 0;
  async function run(...args: A): Promise<T | null> {
    const mine = ++generation;
    loading.value = true;
    error.value = null;
    try {
      const result = await fn(...args);
      if (mine === generation) data.value = result;
      return result;
    } catch (err) {
      if (mine === generation) error.value = toApiError(err);
      return null;
    } finally {
      if (mine === generation) loading.value = false;
    }
  }
  return { data, loading, error, run };
}
