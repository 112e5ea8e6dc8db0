/**
 * The service's errors are RFC 9457 problem+json:
 * `{type, title, status, detail, code, success: false, message, errors: [{field, message}]}`.
 * Everything the UI shows about a failed call goes through `ApiError`.
 */

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** First message per field, for showing next to the inputs. */
  readonly fields: Record<string, string>;
  readonly errors: FieldError[];

  constructor(status: number, code: string, message: string, errors: FieldError[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.errors = errors;
    this.fields = {};
    for (const e of errors) {
      if (e.field && !(e.field in this.fields)) this.fields[e.field] = e.message;
    }
  }

  /**
   * True when the endpoint itself is not there (yet): the service answers unknown paths
   * with 404 "there is nothing at this path", and known paths with the wrong method with 405.
   */
  get isMissingRoute(): boolean {
    return this.status === 405 || (this.status === 404 && /nothing at this path/i.test(this.message));
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Builds an ApiError from an HTTP status and whatever body came back (parsed JSON or text). */
export function parseProblem(status: number, body: unknown): ApiError {
  if (isRecord(body)) {
    const code = typeof body.code === 'string' && body.code ? body.code : `http_${status}`;
    const message =
      (typeof body.message === 'string' && body.message) ||
      (typeof body.detail === 'string' && body.detail) ||
      (typeof body.title === 'string' && body.title) ||
      `HTTP ${status}`;
    const errors: FieldError[] = Array.isArray(body.errors)
      ? body.errors
          .filter(isRecord)
          .map((e) => ({
            field: typeof e.field === 'string' ? e.field : '',
            message: typeof e.message === 'string' ? e.message : String(e.message ?? ''),
          }))
      : [];
    return new ApiError(status, code, message, errors);
  }
  const text = typeof body === 'string' ? body.trim() : '';
  return new ApiError(status, `http_${status}`, text && text.length < 200 ? text : `HTTP ${status}`);
}

/** Any thrown thing → ApiError (network failures become code `network_error`, status 0). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(0, 'network_error', message);
}
