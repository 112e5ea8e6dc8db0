import { describe, expect, it } from 'vitest';
import { paySucceeded } from './iamport';

describe('paySucceeded', () => {
  it('reads the PC callback and the mobile redirect flags', () => {
    expect(paySucceeded({ success: true })).toBe(true);
    expect(paySucceeded({ imp_success: true })).toBe(true);
    expect(paySucceeded({ success: false, imp_success: undefined })).toBe(false);
    expect(paySucceeded({})).toBe(false);
  });
});
