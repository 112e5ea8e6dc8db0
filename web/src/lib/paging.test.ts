import { describe, expect, it } from 'vitest';
import { appendPage, CursorStack, fillPage, listQuery } from './paging';

describe('CursorStack', () => {
  it('walks forward and back through opaque cursors', () => {
    const s = new CursorStack();
    expect(s.page).toBe(0);
    expect(s.current).toBeNull();
    expect(s.hasPrev).toBe(false);
    expect(s.hasNext).toBe(false);
    expect(s.forward()).toBeNull(); // nothing loaded yet

    s.loaded('c1');
    expect(s.hasNext).toBe(true);
    expect(s.forward()).toBe('c1');
    expect(s.page).toBe(1);
    expect(s.hasNext).toBe(false); // unknown until page 1 answers

    s.loaded('c2');
    expect(s.forward()).toBe('c2');
    s.loaded(null); // last page
    expect(s.hasNext).toBe(false);
    expect(s.hasPrev).toBe(true);

    expect(s.back()).toBe('c1');
    expect(s.page).toBe(1);
    expect(s.back()).toBeNull();
    expect(s.page).toBe(0);
    expect(s.back()).toBeNull(); // stays on the first page
  });
  it('resets for a new search', () => {
    const s = new CursorStack();
    s.loaded('c1');
    s.forward();
    s.reset();
    expect(s.page).toBe(0);
    expect(s.hasNext).toBe(false);
  });
});

describe('appendPage', () => {
  it('appends without duplicates', () => {
    const items = [{ id: 1 }, { id: 2 }];
    expect(appendPage(items, { items: [{ id: 2 }, { id: 3 }], next_cursor: null }, (i) => i.id).map((i) => i.id))
      .toEqual([1, 2, 3]);
  });
});

describe('listQuery', () => {
  it('leaves out empty values and encodes the rest', () => {
    expect(listQuery({ limit: 20, cursor: null, q: '' })).toBe('?limit=20');
    expect(listQuery({ q: '사과 & 배', cursor: 'a+b/c=' })).toBe('?q=%EC%82%AC%EA%B3%BC+%26+%EB%B0%B0&cursor=a%2Bb%2Fc%3D');
    expect(listQuery({})).toBe('');
  });
});

describe('fillPage', () => {
  // A list of ids 1..9 answered newest first, each call reading at most 3 ids below its cursor.
  const windowed = (calls: [string | null, number][]) => async (cursor: string | null, limit: number) => {
    calls.push([cursor, limit]);
    const below = cursor === null ? 10 : Number(cursor);
    const floor = Math.max(below - 3, 1);
    const items = [] as number[];
    for (let id = below - 1; id >= floor && items.length < limit; id--) if (id % 4 === 0) items.push(id);
    const last = items.length === limit ? items[items.length - 1] : floor;
    return { items, next_cursor: last > 1 ? String(last) : null };
  };

  it('asks again for what a short page lacks, from its cursor', async () => {
    const calls: [string | null, number][] = [];
    const page = await fillPage(windowed(calls), null, 2);
    expect(page.items).toEqual([8, 4]);
    expect(page.next_cursor).toBe('4');
    expect(calls).toEqual([[null, 2], ['7', 1]]);
  });

  it('stops at the last page and after its calls', async () => {
    expect(await fillPage(windowed([]), '4', 5)).toEqual({ items: [], next_cursor: null });
    const calls: [string | null, number][] = [];
    const page = await fillPage(windowed(calls), null, 5, 2);
    expect(page.items).toEqual([8, 4]);
    expect(calls.length).toBe(2);
    expect(page.next_cursor).toBe('4');
  });
});
