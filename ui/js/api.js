/** The browser's client for Parley's native API (minimal stand-in following the UI contract). */

/** The logged-in operator, set by the app shell after login. */
export const session = { operator: null, account_id: null, csrf_token: null };

/** A non-2xx answer: `status` and the RFC 9457 `problem` body. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Calls the API with the session cookie (and CSRF token on writes); resolves to JSON or null for 204. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = response.status === 204 ? '' : await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

let source;

/** The server's event stream: `events.on(type, fn)` calls fn with each event's `data`. */
export const events = {
  on(type, fn) {
    source ??= new EventSource('/api/v1/events');
    source.addEventListener(type, (event) => fn(JSON.parse(event.data).data));
  },
};
