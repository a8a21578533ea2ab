/** The browser's client for Parley: the native API with the session cookie, the login session, the event stream. */

/** The logged-in operator: `{operator: {id, name, email, role}, account_id, csrf_token}`. */
export const session = { operator: null, account_id: null, csrf_token: null };

/** A non-2xx answer: `status` and the RFC 9457 `problem` body (`code`, `detail`, `errors[]`). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

/** Calls the server with the session cookie (and the CSRF token on writes); resolves to JSON, or null for 204. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = response.status === 204 ? '' : await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { detail: text };
  }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/ui/session')) window.dispatchEvent(new Event('parley:logged-out'));
    throw new ApiError(response.status, json);
  }
  return json;
}

/** What went wrong, for a form: each refused field named, or the error's message. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return error.message;
  const fields = (error.problem.errors || []).map((e) => `${e.field}: ${e.message}`);
  return fields.length ? fields.join(' · ') : error.message;
}

/** Builds a query string from the defined, non-empty values of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '' && value !== false) search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The API path of a stored media file's details (keys may contain slashes). */
export function mediaPath(key) {
  return `/api/v1/media/${String(key).split('/').map(encodeURIComponent).join('/')}`;
}

/** The URL of a stored media file's bytes. */
export function mediaUrl(key) {
  return `${mediaPath(key)}/content`;
}

const capabilities = new Map();

const agentNames = new Map();

/** Remembers the account's virtual agents' names (the agent list). */
export function rememberAgents(agents) {
  for (const agent of agents) agentNames.set(agent.id, agent.name);
}

/** A virtual agent's name, once known. */
export function agentName(id) {
  return agentNames.get(id);
}

/** Remembers what each of these channels can do (the channel list's `capabilities`). */
export function rememberChannels(channels) {
  for (const channel of channels) capabilities.set(channel.id, channel.capabilities);
}

/** What a channel can do, once known (see `channelCapabilities`). */
export function knownCapabilities(id) {
  return capabilities.get(id);
}

/** What a channel can do: remembered, or read once from the API. */
export async function channelCapabilities(id) {
  if (!capabilities.has(id)) capabilities.set(id, (await api('GET', `/api/v1/channels/${id}`)).capabilities);
  return capabilities.get(id);
}

/** Restores the session from the cookie; false when not logged in. */
export async function loadSession() {
  try {
    Object.assign(session, await api('GET', '/ui/session'));
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    throw error;
  }
}

/** Logs in; throws ApiError (`invalid_credentials`, `login_locked`) on refusal. */
export async function login(email, password) {
  Object.assign(session, await api('POST', '/ui/session', { email, password }));
}

/** Logs out and forgets the session. */
export async function logout() {
  try {
    await api('DELETE', '/ui/session');
  } finally {
    events.stop();
    Object.assign(session, { operator: null, account_id: null, csrf_token: null });
  }
}

const listeners = new Map();
let source = null;

function attach(type) {
  source.addEventListener(type, (event) => {
    let envelope;
    try {
      envelope = JSON.parse(event.data);
    } catch {
      return;
    }
    for (const fn of listeners.get(type) || []) fn(envelope.data, envelope);
  });
}

/** The server's event stream: `events.on(type, fn)` calls fn with each event's `data` object. */
export const events = {
  /** Subscribes to one event type; returns a function that unsubscribes. */
  on(type, fn) {
    if (!listeners.has(type)) {
      listeners.set(type, new Set());
      if (source) attach(type);
    }
    listeners.get(type).add(fn);
    this.start();
    return () => listeners.get(type)?.delete(fn);
  },
  /** Opens the stream (the browser reconnects by itself, resuming with Last-Event-ID). */
  start() {
    if (source || !session.operator) return;
    source = new EventSource('/api/v1/events', { withCredentials: true });
    for (const type of listeners.keys()) attach(type);
  },
  /** Closes the stream (on logout). */
  stop() {
    source?.close();
    source = null;
  },
};
