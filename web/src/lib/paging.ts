/**
 * Cursor paging helpers. Lists answer `{items, next_cursor}`; the cursor is opaque, so
 * going back means remembering the cursors we came through.
 */

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** Previous/next navigation over an opaque cursor: a stack of the cursors of the pages seen. */
export class CursorStack {
  /** cursors[i] is the cursor that loads page i; page 0 has none. */
  private cursors: (string | null)[] = [null];
  private next: string | null = null;

  get page(): number {
    return this.cursors.length - 1;
  }
  get current(): string | null {
    return this.cursors[this.cursors.length - 1];
  }
  get hasPrev(): boolean {
    return this.cursors.length > 1;
  }
  get hasNext(): boolean {
    return this.next !== null;
  }
  /** Record the answer for the current page. */
  loaded(nextCursor: string | null): void {
    this.next = nextCursor;
  }
  /** Move forward; returns the cursor to load, or null when there is no next page. */
  forward(): string | null {
    if (this.next === null) return null;
    this.cursors.push(this.next);
    this.next = null;
    return this.current;
  }
  /** Move back; returns the cursor to load (null for the first page). */
  back(): string | null {
    if (this.cursors.length > 1) this.cursors.pop();
    this.next = null;
    return this.current;
  }
  reset(): void {
    this.cursors = [null];
    this.next = null;
  }
}

/**
 * One page of `size` items from a list that may answer short pages before its last (a
 * search reads a bounded part of the catalogue per call): asks again from each next
 * cursor for what is still missing, at most `calls` times in all.
 */
export async function fillPage<T>(
  fetchPage: (cursor: string | null, limit: number) => Promise<Page<T>>,
  cursor: string | null,
  size: number,
  calls = 5,
): Promise<Page<T>> {
  let items: T[] = [];
  let next = cursor;
  for (let call = 0; call < calls; call++) {
    const page = await fetchPage(next, size - items.length);
    items = items.concat(page.items);
    next = page.next_cursor ?? null;
    if (next === null || items.length >= size) break;
  }
  return { items, next_cursor: next };
}

/** "Load more" accumulation: appends a page, skipping items already present (by key). */
export function appendPage<T>(items: T[], page: Page<T>, key: (item: T) => unknown): T[] {
  const seen = new Set(items.map(key));
  return items.concat(page.items.filter((i) => !seen.has(key(i))));
}

/** Query string for a list call; empty values are left out. */
export function listQuery(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
