import { describe, expect, it } from 'vitest';
import { ApiError, parseProblem, toApiError } from './problem';

describe('parseProblem', () => {
  it('reads the service problem+json with field errors', () => {
    const e = parseProblem(422, {
      type: '/problems/validation_failed', title: 'Unprocessable Entity', status: 422,
      detail: 'the request is not valid', code: 'validation_failed', success: false,
      message: 'the request is not valid',
      errors: [
        { field: 'email', message: 'not an email address' },
        { field: 'password', message: 'must be 8 to 128 characters' },
        { field: 'email', message: 'second message is ignored' },
      ],
    });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(422);
    expect(e.code).toBe('validation_failed');
    expect(e.message).toBe('the request is not valid');
    expect(e.fields).toEqual({ email: 'not an email address', password: 'must be 8 to 128 characters' });
    expect(e.errors).toHaveLength(3);
  });
  it('falls back from message to detail to title', () => {
    expect(parseProblem(409, { code: 'email_taken', detail: 'taken' }).message).toBe('taken');
    expect(parseProblem(500, { title: 'Internal Server Error' }).message).toBe('Internal Server Error');
    expect(parseProblem(500, { title: 'Internal Server Error' }).code).toBe('http_500');
  });
  it('copes with bodies that are not problems', () => {
    expect(parseProblem(502, '<html>Bad gateway</html>').code).toBe('http_502');
    expect(parseProblem(502, '<html>Bad gateway</html>').message).toBe('<html>Bad gateway</html>');
    expect(parseProblem(503, 'x'.repeat(500)).message).toBe('HTTP 503');
    expect(parseProblem(400, null).message).toBe('HTTP 400');
    expect(parseProblem(422, { code: 'validation_failed', errors: 'nope' }).errors).toEqual([]);
  });
  it('tells a missing route from a missing thing', () => {
    expect(parseProblem(404, { code: 'not_found', message: 'there is nothing at this path' }).isMissingRoute).toBe(true);
    expect(parseProblem(404, { code: 'not_found', message: 'no such product' }).isMissingRoute).toBe(false);
    expect(parseProblem(405, {}).isMissingRoute).toBe(true);
  });
});

describe('toApiError', () => {
  it('turns thrown things into network errors', () => {
    const e = toApiError(new TypeError('Failed to fetch'));
    expect(e.code).toBe('network_error');
    expect(e.status).toBe(0);
    expect(e.message).toBe('Failed to fetch');
    const same = new ApiError(403, 'forbidden', 'no');
    expect(toApiError(same)).toBe(same);
  });
});
