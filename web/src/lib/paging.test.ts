import { describe, expect, it } from 'vitest';
import { appendPage, CursorStack, listQuery } from './paging';

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
