/**
 * Compile-time check of hand-written API types against the schemas generated from the
 * service's /openapi.json (schema.d.ts, `npm run gen:api`).
 *
 * Most of the UI now uses the generated types directly (contract.ts). What is still written
 * by hand is listed below with the schema names it corresponds to; when a regenerated
 * snapshot has a schema of one of those names, `npm run build` (vue-tsc) checks it: every
 * field the UI relies on must exist, with a compatible type (string enums are compared as
 * strings, and a field that may be missing or null is accepted, as the service marks optional
 * values that way). This is how the orders/payments hand types were checked when the backend
 * documented them (they agreed, and were then replaced by the generated ones).
 */
import type { components } from './schema';
import type * as C from './contract';
import type { HistoryEntry } from '../lib/states';

type Schemas = components['schemas'];

type Loose<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends readonly (infer U)[]
        ? Loose<U>[]
        : T extends object
          ? { [K in keyof T]?: Loose<T[K]> | null }
          : T;
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];
type MissingKeys<G, H> = Exclude<RequiredKeys<H>, keyof G>;

/** True when no schema is named N, or when it agrees with the hand type H the UI reads. */
export type Agrees<N extends string, H> = N extends keyof Schemas
  ? [MissingKeys<Schemas[N], H>] extends [never]
    ? [Schemas[N]] extends [Loose<H>]
      ? true
      : { schema: N; not_compatible_with: H }
    : { schema: N; missing_fields: MissingKeys<Schemas[N], H> }
  : true;
type Assert<T extends true> = T;

export type ContractChecks = [
  Assert<Agrees<'HistoryBody', HistoryEntry>>,
  Assert<Agrees<'OrderPage' | 'DisputePage', C.OrderPage>>,
  // The checker checks: a real schema, read through a narrower hand type, agrees...
  Assert<Agrees<'ProductPage', { items: { product_id: number; name: string; price: number }[]; next_cursor: string | null }>>,
  // ...and a hand type naming a field the schema lacks does not.
  // @ts-expect-error `no_such_field` is not in ProductBody
  Assert<Agrees<'ProductBody', { no_such_field: string }>>,
];
