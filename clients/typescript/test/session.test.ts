// Unit tests of the session layer with a fake Portcullis (fetch), fake
// storage, fake Web Locks and a fake BroadcastChannel. Compiled by
// `npm run build:test`, run by `node --test dist-test/test/`.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  PortcullisSession,
  SignedOutError,
  verifyFactor,
  codeChallengeS256,
  createCodeVerifier,
  listSessions,
  memoryStorage,
  webStorage,
  type ChannelLike,
  type LockManagerLike,
  type SessionEvent,
  type SessionOptions,
  type WebStorageLike,
} from '../src/index.js';

const BASE = 'https://auth.test';

/** A fake Portcullis: rotating refresh tokens, reuse revokes the session. */
class FakeServer {
  calls: { method: string; path: string; body: unknown; authorization: string | null }[] = [];
  refreshPresented: string[] = [];
  revoked = false;
  expiresIn = 900;
  /** Answer every bearer call with 401 (a token the server no longer takes). */
  rejectAllAccess = false;
  /** The next sign-in answers 202 mfa_required. */
  mfa = false;
  refreshStatus: number | null = null;
  delayMs = 0;
  /** Extra time before a refresh's answer, after the server processed it. */
  refreshLatencyMs = 0;
  sessionId = 'session-1';
  /** Extra time before answering a path. */
  pathDelayMs: Record<string, number> = {};
  /** The next step-up or factor verify answers 403 (a wrong code). */
  wrongCode = false;
  private n = 0;
  current = { access: '', refresh: '' };
  private rotated = new Set<string>();
  private validAccess = new Set<string>();

  private issue(): Record<string, unknown> {
    this.n += 1;
    if (this.current.refresh) this.rotated.add(this.current.refresh);
    this.current = { access: `access-${this.n}`, refresh: `refresh-${this.n}` };
    this.validAccess.add(this.current.access);
    return {
      access_token: this.current.access,
      refresh_token: this.current.refresh,
      expires_in: this.expiresIn,
      token_type: 'Bearer',
      mfa_enrolment_required: false,
      session: { id: this.sessionId },
      user: { id: 'user-1', email: 'ada@example.com' },
    };
  }

  /** The access token stops working (as after a key problem or expiry). */
  expireAccess(): void {
    this.validAccess.clear();
  }

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const text = await request.text();
    const body = text ? JSON.parse(text) : undefined;
    const authorization = request.headers.get('authorization');
    this.calls.push({ method: request.method, path: url.pathname, body, authorization });
    if (this.delayMs) await new Promise((ok) => setTimeout(ok, this.delayMs));
    const extra = this.pathDelayMs[url.pathname];
    if (extra) await new Promise((ok) => setTimeout(ok, extra));
    const json = (status: number, value: unknown, type = 'application/json') =>
      new Response(JSON.stringify(value), { status, headers: { 'content-type': type } });
    const problem = (status: number, type: string) =>
      json(status, { type: `urn:portcullis:problem:${type}`, title: type, status }, 'application/problem+json');
    const key = `${request.method} ${url.pathname}`;
    switch (key) {
      case 'POST /v1/sessions':
        if (this.mfa) {
          return json(202, { mfa_required: true, mfa_token: 'mfa-1', expires_in: 300, factors: [{ id: 'f1', type: 'totp' }] });
        }
        return json(201, this.issue());
      case 'POST /v1/sessions/mfa':
        return body?.code === '123456' ? json(201, this.issue()) : problem(401, 'invalid-credentials');
      case 'POST /v1/oauth/token':
        return body?.code && body?.code_verifier ? json(201, this.issue()) : problem(400, 'invalid-request');
      case 'POST /v1/sessions/refresh': {
        const token = body?.refresh_token as string;
        this.refreshPresented.push(token);
        if (this.refreshStatus) return problem(this.refreshStatus, 'unavailable');
        if (this.revoked) return problem(401, 'invalid-refresh-token');
        if (this.rotated.has(token)) {
          this.revoked = true; // reuse: the whole session ends
          return problem(401, 'invalid-refresh-token');
        }
        if (token !== this.current.refresh) return problem(401, 'invalid-refresh-token');
        const answer = json(200, this.issue());
        if (this.refreshLatencyMs) await new Promise((ok) => setTimeout(ok, this.refreshLatencyMs));
        return answer;
      }
      default: {
        const token = authorization?.replace(/^Bearer /, '') ?? '';
        if (this.revoked || this.rejectAllAccess || !this.validAccess.has(token)) {
          return new Response(JSON.stringify({ type: 'urn:portcullis:problem:unauthorized', title: 'Unauthorized', status: 401 }), {
            status: 401,
            headers: { 'content-type': 'application/problem+json', 'www-authenticate': 'Bearer' },
          });
        }
        if (key === 'DELETE /v1/sessions/current') {
          this.revoked = true;
          return new Response(null, { status: 204 });
        }
        if (key === 'PUT /v1/users/me/password' && body?.step_up) {
          return new Response('{}', {
            status: 401,
            headers: {
              'content-type': 'application/problem+json',
              'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="aal2"',
            },
          });
        }
        // Step-up and factor activation replace the pair: the earlier
        // refresh token is retired (presenting it later counts as reuse).
        if (key === 'POST /v1/sessions/current/step-up' || key === 'POST /v1/users/me/factors/f1/verify') {
          if (this.wrongCode) return problem(403, 'invalid-code');
          const pair = this.issue();
          return json(200, key.endsWith('verify') ? { factor: { id: 'f1' }, recovery_codes: ['r1'], tokens: pair } : pair);
        }
        if (key === 'GET /v1/sessions') return json(200, { sessions: [{ id: 'session-1', current: true }] });
        return json(200, { ok: true, path: url.pathname });
      }
    }
  };

  count(method: string, path: string): number {
    return this.calls.filter((c) => c.method === method && c.path === path).length;
  }
}

/** Web Locks for several tabs: one holder per name, the others wait in
 *  order; `ifAvailable` gets null when the name is held (as in a browser).
 *  `grantDelayMs` makes a grant arrive as a later task. */
function fakeLocks(grantDelayMs = 0): LockManagerLike & { grants: number } {
  const tails = new Map<string, Promise<unknown>>();
  const held = new Map<string, number>();
  const locks = {
    grants: 0,
    request<T>(
      name: string,
      options: { mode: 'exclusive'; ifAvailable?: boolean },
      callback: (lock: unknown) => Promise<T>,
    ): Promise<T> {
      if (options.ifAvailable && (held.get(name) ?? 0) > 0) return callback(null);
      held.set(name, (held.get(name) ?? 0) + 1);
      const before = tails.get(name) ?? Promise.resolve();
      const run = before
        .then(() => (grantDelayMs ? new Promise((ok) => setTimeout(ok, grantDelayMs)) : undefined))
        .then(() => {
          locks.grants += 1;
          return callback({ name });
        })
        .finally(() => held.set(name, (held.get(name) ?? 1) - 1));
      tails.set(name, run.catch(() => undefined));
      return run;
    },
  };
  return locks;
}

/** A channel that records what this tab posts, for nobody. */
function spyChannel(): ChannelLike & { sent: unknown[] } {
  const sent: unknown[] = [];
  return { sent, postMessage: (m) => void sent.push(structuredClone(m)), addEventListener() {}, close() {} };
}

/** A BroadcastChannel hub: a message reaches every other member, later
 *  (after `delayMs`, in the order posted). */
function fakeChannels(delayMs = 0) {
  const members = new Set<{ listeners: ((e: { data: unknown }) => void)[] }>();
  return {
    open(): ChannelLike {
      const me = { listeners: [] as ((e: { data: unknown }) => void)[] };
      members.add(me);
      return {
        postMessage(message: unknown) {
          const data = structuredClone(message);
          for (const other of members) {
            if (other === me) continue;
            setTimeout(() => other.listeners.forEach((l) => l({ data })), delayMs);
          }
        },
        addEventListener(_type: 'message', listener: (e: { data: unknown }) => void) {
          me.listeners.push(listener);
        },
        close() {
          members.delete(me);
        },
      };
    },
  };
}

function fakeWebStorage(): WebStorageLike & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

/** localStorage as two renderer processes see it: a write is visible in
 *  the writer's view at once and in the other views `lagMs` later. */
function laggingWebStorage(lagMs: number) {
  const views: Map<string, string>[] = [];
  return {
    view(): WebStorageLike {
      const mine = new Map<string, string>();
      views.push(mine);
      const everywhere = (apply: (m: Map<string, string>) => void) => {
        apply(mine);
        for (const other of views) if (other !== mine) setTimeout(() => apply(other), lagMs);
      };
      return {
        getItem: (k) => mine.get(k) ?? null,
        setItem: (k, v) => everywhere((m) => void m.set(k, v)),
        removeItem: (k) => everywhere((m) => void m.delete(k)),
      };
    },
  };
}

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

function tab(server: FakeServer, extra: Partial<SessionOptions> = {}) {
  return new PortcullisSession({
    baseUrl: BASE,
    fetch: server.fetch,
    locks: null,
    channel: null,
    autoRefresh: false,
    pkceStorage: fakeWebStorage(),
    ...extra,
  });
}

const flush = () => new Promise((ok) => setTimeout(ok, 5));

describe('session layer', () => {
  test('signs in, keeps the pair with an absolute expiry, sends the bearer token', async () => {
    const server = new FakeServer();
    const c = clock();
    const session = tab(server, { now: c.now, refreshMarginSeconds: 60 });
    const result = await session.signIn({ email: 'ada@example.com', password: 'pw' });
    assert.equal(result.status, 'signed-in');
    const tokens = session.tokens!;
    assert.equal(tokens.access_token, 'access-1');
    assert.equal(tokens.expires_at, c.t + 900_000);
    assert.equal(tokens.refresh_at, c.t + 900_000 - 60_000);
    const { data } = await listSessions({ client: session.client });
    assert.deepEqual(data, { sessions: [{ id: 'session-1', current: true }] });
    assert.equal(server.calls.at(-1)!.authorization, 'Bearer access-1');
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 0);
  });

  test('refreshes shortly before expiry, before the call that needs it', async () => {
    const server = new FakeServer();
    const c = clock();
    const session = tab(server, { now: c.now, refreshMarginSeconds: 60 });
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    c.t += 839_000; // 61 s before expiry: not yet
    await session.fetch(`${BASE}/v1/users/me`);
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 0);
    c.t += 2_000; // 59 s before expiry: due
    const response = await session.fetch(`${BASE}/v1/users/me`);
    assert.equal(response.status, 200);
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 1);
    assert.equal(server.calls.at(-1)!.authorization, 'Bearer access-2');
    assert.equal(session.tokens!.refresh_token, 'refresh-2');
  });

  test('the margin is at most a quarter of a short lifetime', async () => {
    const server = new FakeServer();
    server.expiresIn = 20;
    const c = clock();
    const session = tab(server, { now: c.now, refreshMarginSeconds: 60 });
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    assert.equal(session.tokens!.refresh_at, c.t + 15_000);
  });

  test('refreshes on a timer set to fire shortly before expiry', async () => {
    const server = new FakeServer();
    const c = clock();
    const timers: { fn: () => void; ms: number }[] = [];
    const session = tab(server, {
      now: c.now,
      autoRefresh: true,
      setTimeout: (fn, ms) => (timers.push({ fn, ms }), timers.length),
      clearTimeout: () => {},
    });
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    const timer = timers.at(-1)!;
    assert.equal(timer.ms, 840_000);
    c.t += timer.ms;
    timer.fn();
    await flush();
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 1);
    assert.equal(session.tokens!.access_token, 'access-2');
    assert.equal(timers.at(-1)!.ms, 840_000, 'the next refresh is scheduled');
    session.dispose();
  });

  test('a 401 refreshes once and retries once, not twice', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.rejectAllAccess = true;
    const response = await session.fetch(`${BASE}/v1/users/me`);
    assert.equal(response.status, 401);
    assert.equal(server.count('GET', '/v1/users/me'), 2, 'one call, one retry');
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 1, 'one refresh');
    assert.ok(session.signedIn, 'a refused call is not a refused refresh token');
  });

  test('a 401 on an expired access token: refresh, retry with the new token, success', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.expireAccess();
    const response = await session.fetch(`${BASE}/v1/users/me/password`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ current_password: 'a', new_password: 'b' }),
    });
    assert.equal(response.status, 200);
    const puts = server.calls.filter((c) => c.method === 'PUT');
    assert.deepEqual(puts.map((c) => c.authorization), ['Bearer access-1', 'Bearer access-2']);
    assert.deepEqual(puts[1]!.body, { current_password: 'a', new_password: 'b' }, 'the body is sent again');
  });

  test('a step-up 401 is handed back without a refresh', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    const response = await session.fetch(`${BASE}/v1/users/me/password`, {
      method: 'PUT',
      body: JSON.stringify({ step_up: true }),
    });
    assert.equal(response.status, 401);
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 0);
    assert.equal(server.count('PUT', '/v1/users/me/password'), 1);
  });

  test('a refused refresh token signs out here and in the other tabs', async () => {
    const server = new FakeServer();
    const channels = fakeChannels();
    const shared = fakeWebStorage();
    const a = tab(server, { channel: channels.open(), storage: webStorage(shared, { shared: true }) });
    const b = tab(server, { channel: channels.open(), storage: webStorage(shared, { shared: true }) });
    const seenByB: SessionEvent[] = [];
    b.subscribe((e) => seenByB.push(e));
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    server.revoked = true;
    await assert.rejects(a.refresh(), SignedOutError);
    assert.equal(a.tokens, null);
    assert.equal(shared.map.size, 0, 'nothing left in storage');
    await flush();
    assert.equal(b.tokens, null);
    assert.ok(seenByB.some((e) => e.type === 'signed-out'), 'the other tab was told');
    // A call after that goes out without a token and is not retried.
    const response = await a.fetch(`${BASE}/v1/users/me`);
    assert.equal(response.status, 401);
    assert.equal(server.calls.at(-1)!.authorization, null);
  });

  test('a 503 on refresh keeps the pair', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.refreshStatus = 503;
    await assert.rejects(session.refresh(), (e: Error) => e.name === 'PortcullisError');
    assert.equal(session.tokens!.refresh_token, 'refresh-1');
  });

  test('concurrent refreshes in one tab share one request', async () => {
    const server = new FakeServer();
    server.delayMs = 20;
    const c = clock();
    const session = tab(server, { now: c.now });
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    c.t += 899_000;
    const results = await Promise.all([
      session.refresh(),
      session.refresh(),
      session.fetch(`${BASE}/v1/users/me`),
      session.fetch(`${BASE}/v1/sessions`),
    ]);
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 1);
    assert.deepEqual(server.refreshPresented, ['refresh-1']);
    assert.equal((results[2] as Response).status, 200);
    assert.equal((results[3] as Response).status, 200);
    assert.equal(server.revoked, false);
  });

  test('two tabs sharing localStorage refresh at once: the refresh token is sent once', async () => {
    const server = new FakeServer();
    server.delayMs = 20;
    const locks = fakeLocks();
    const channels = fakeChannels();
    const shared = fakeWebStorage();
    const open = () =>
      tab(server, { locks, channel: channels.open(), storage: webStorage(shared, { shared: true }) });
    const a = open();
    const b = open();
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    assert.equal(b.tokens!.refresh_token, 'refresh-1', 'b reads the shared pair');
    const [fromA, fromB] = await Promise.all([a.refresh(), b.refresh()]);
    assert.deepEqual(server.refreshPresented, ['refresh-1'], 'one request, one token');
    assert.equal(locks.grants, 2, 'both tabs took the lock');
    assert.equal(fromA.refresh_token, 'refresh-2');
    assert.equal(fromB.refresh_token, 'refresh-2');
    assert.equal(server.revoked, false);
    // And again: each round rotates once.
    await Promise.all([a.refresh(), b.refresh(), a.refresh()]);
    assert.deepEqual(server.refreshPresented, ['refresh-1', 'refresh-2']);
    assert.equal(server.revoked, false);
  });

  test('a rotation whose localStorage write and broadcast trail the lock hand-over is still taken', async () => {
    // Seen in Chromium: the second tab got the lock before the first tab's
    // write reached its renderer, and presented the rotated token again.
    const server = new FakeServer();
    server.delayMs = 5;
    const locks = fakeLocks();
    const channels = fakeChannels(15);
    const shared = laggingWebStorage(40);
    const open = () => tab(server, { locks, channel: channels.open(), storage: webStorage(shared.view(), { shared: true }) });
    const a = open();
    const b = open();
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    await new Promise((ok) => setTimeout(ok, 50)); // b sees the pair
    assert.equal(b.tokens!.refresh_token, 'refresh-1');
    for (let round = 1; round <= 3; round += 1) {
      const [fromA, fromB] = await Promise.all([a.refresh(), b.refresh()]);
      assert.equal(fromA.refresh_token, `refresh-${round + 1}`);
      assert.equal(fromB.refresh_token, `refresh-${round + 1}`);
      await new Promise((ok) => setTimeout(ok, 50));
    }
    assert.deepEqual(server.refreshPresented, ['refresh-1', 'refresh-2', 'refresh-3'], 'one request per round');
    assert.equal(server.revoked, false);
  });

  test('without the lock both tabs would present the same token (the fake server catches reuse)', async () => {
    const server = new FakeServer();
    server.delayMs = 20;
    const shared = fakeWebStorage();
    const a = tab(server, { storage: webStorage(shared, { shared: true }) });
    const b = tab(server, { storage: webStorage(shared, { shared: true }) });
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    await Promise.allSettled([a.refresh(), b.refresh()]);
    assert.deepEqual(server.refreshPresented, ['refresh-1', 'refresh-1']);
    assert.equal(server.revoked, true, 'this is the failure the lock prevents');
  });

  test('per-tab storage holding one pair (a duplicated tab): the broadcast rotation is adopted', async () => {
    const server = new FakeServer();
    const locks = fakeLocks();
    const channels = fakeChannels();
    const a = tab(server, { locks, channel: channels.open(), storage: webStorage(fakeWebStorage()) });
    const bStorage = webStorage(fakeWebStorage());
    const b = tab(server, { locks, channel: channels.open(), storage: bStorage });
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    bStorage.set(a.tokens!); // sessionStorage is copied when a tab is duplicated
    await a.refresh();
    await flush(); // the broadcast arrives
    assert.equal(b.tokens!.refresh_token, 'refresh-2');
    await b.refresh();
    assert.deepEqual(server.refreshPresented, ['refresh-1', 'refresh-2']);
    assert.equal(server.revoked, false);
  });

  test('a duplicated tab that presents its copy while the other rotates it takes the announced pair', async () => {
    const server = new FakeServer();
    server.delayMs = 20;
    const locks = fakeLocks(10);
    const channels = fakeChannels();
    const a = tab(server, { locks, channel: channels.open(), storage: webStorage(fakeWebStorage()) });
    const bStorage = webStorage(fakeWebStorage());
    const b = tab(server, { locks, channel: channels.open(), storage: bStorage });
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    bStorage.set(a.tokens!);
    // Both want to rotate refresh-1; b waits for the lock, and a's broadcast
    // arrives before b's grant.
    const [fromA, fromB] = await Promise.all([a.refresh(), b.refresh()]);
    assert.deepEqual(server.refreshPresented, ['refresh-1']);
    assert.equal(fromA.refresh_token, 'refresh-2');
    assert.equal(fromB.refresh_token, 'refresh-2');
    assert.equal(server.revoked, false);
  });

  test('a refresh answered after sign-out does not bring the pair back', async () => {
    const server = new FakeServer();
    const shared = fakeWebStorage();
    const session = tab(server, { storage: webStorage(shared, { shared: true }) });
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.refreshLatencyMs = 40; // rotated on the server, the answer still on its way
    const refreshing = session.refresh();
    await new Promise((ok) => setTimeout(ok, 5));
    await session.signOut();
    await assert.rejects(refreshing, SignedOutError);
    assert.equal(session.tokens, null);
    assert.equal(session.signedIn, false);
    assert.equal(shared.map.size, 0, 'nothing written back to storage');
  });

  test('a refresh answered after a new sign-in does not replace the new session', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.refreshLatencyMs = 40;
    const refreshing = session.refresh();
    await new Promise((ok) => setTimeout(ok, 5));
    server.refreshLatencyMs = 0;
    server.sessionId = 'session-2';
    await session.signIn({ email: 'grace@example.com', password: 'pw' });
    const kept = session.tokens!;
    await refreshing;
    assert.equal(session.tokens!.session_id, 'session-2');
    assert.equal(session.tokens!.refresh_token, kept.refresh_token);
  });

  test('factor activation adopts the new aal2 pair (the old refresh token is retired)', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    const activated = await session.verifyFactor('f1', { code: '123456' });
    assert.deepEqual(activated.recovery_codes, ['r1']);
    assert.equal(server.calls.at(-1)!.authorization, 'Bearer access-1');
    assert.equal(session.tokens!.access_token, 'access-2');
    await session.refresh();
    assert.deepEqual(server.refreshPresented, ['refresh-2']);
    assert.equal(server.revoked, false);
  });

  test('control: the generated verifyFactor through session.client leaves the retired token in the session', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    await verifyFactor({ client: session.client, path: { id: 'f1' }, body: { code: '123456' } });
    await assert.rejects(session.refresh(), SignedOutError);
    assert.equal(server.revoked, true, 'this is what session.verifyFactor prevents');
  });

  for (const locked of [true, false]) test(`step-up adopts the new pair; a refresh asked for meanwhile waits and takes it (${locked ? 'Web Lock' : 'no Web Locks'})`, async () => {
    const server = new FakeServer();
    server.delayMs = 20;
    const session = tab(server, { locks: locked ? fakeLocks() : null });
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    const raising = session.stepUp({ code: '123456' });
    await new Promise((ok) => setTimeout(ok, 5)); // the step-up is out
    const [raised, refreshed] = await Promise.all([raising, session.refresh()]);
    assert.equal(raised.access_token, 'access-2');
    assert.equal(refreshed.access_token, 'access-2');
    assert.deepEqual(server.refreshPresented, [], 'the retired token was never presented');
    await session.refresh();
    assert.deepEqual(server.refreshPresented, ['refresh-2']);
    assert.equal(server.revoked, false);
  });

  test('a refused step-up keeps the pair, and a refresh waiting for it still happens', async () => {
    const server = new FakeServer();
    server.wrongCode = true;
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.delayMs = 20;
    const raising = session.stepUp({ code: '000000' });
    await new Promise((ok) => setTimeout(ok, 5));
    const [raised, refreshed] = await Promise.allSettled([raising, session.refresh()]);
    assert.equal(raised.status, 'rejected');
    assert.equal((raised as PromiseRejectedResult).reason.status, 403);
    assert.equal(refreshed.status, 'fulfilled');
    assert.deepEqual(server.refreshPresented, ['refresh-1']);
    assert.equal(session.tokens!.refresh_token, 'refresh-2');
  });

  test('memory storage puts no token on the channel; web storage only in a rotation', async () => {
    const server = new FakeServer();
    const memoryChannel = spyChannel();
    const memory = tab(server, { channel: memoryChannel });
    await memory.signIn({ email: 'ada@example.com', password: 'pw' });
    await memory.refresh();
    await memory.signOut();
    assert.deepEqual(memoryChannel.sent.map((m) => (m as { type: string }).type), ['signed-in', 'signed-out']);
    const text = JSON.stringify(memoryChannel.sent);
    for (const t of ['access-1', 'refresh-1', 'access-2', 'refresh-2']) assert.ok(!text.includes(t), `${t} not broadcast`);

    const perTab = spyChannel();
    const other = tab(new FakeServer(), { channel: perTab, storage: webStorage(fakeWebStorage()) });
    await other.signIn({ email: 'ada@example.com', password: 'pw' });
    await other.refresh();
    assert.deepEqual(perTab.sent.map((m) => (m as { type: string }).type), ['signed-in', 'rotated']);
    assert.ok(!JSON.stringify(perTab.sent[0]).includes('access-1'), 'signed-in carries no token');
  });

  test('another session signing out leaves this tab signed in', async () => {
    const channels = fakeChannels();
    const serverA = new FakeServer();
    const serverB = new FakeServer();
    serverB.sessionId = 'session-2';
    const a = tab(serverA, { channel: channels.open() });
    const b = tab(serverB, { channel: channels.open() });
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    await b.signIn({ email: 'ada@example.com', password: 'pw' });
    await a.signOut();
    await flush();
    assert.equal(a.tokens, null);
    assert.equal(b.tokens!.session_id, 'session-2');
  });

  test('a refresh refused with 400 signs out too', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.refreshStatus = 400;
    await assert.rejects(session.refresh(), SignedOutError);
    assert.equal(session.tokens, null);
  });

  test('a refresh that fails for a while: calls keep the still-valid access token', async () => {
    const server = new FakeServer();
    const c = clock();
    const session = tab(server, { now: c.now });
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.refreshStatus = 503;
    c.t += 850_000; // due, not expired
    const response = await session.fetch(`${BASE}/v1/users/me`);
    assert.equal(response.status, 200);
    assert.equal(server.calls.at(-1)!.authorization, 'Bearer access-1');
    assert.ok(session.signedIn);
  });

  test('a 401 after another call already refreshed retries with that pair, no second refresh', async () => {
    const server = new FakeServer();
    const session = tab(server);
    await session.signIn({ email: 'ada@example.com', password: 'pw' });
    server.expireAccess();
    server.pathDelayMs['/v1/users/me'] = 30;
    // The GET goes out with access-1; the refresh overtakes its answer.
    const [response] = await Promise.all([session.fetch(`${BASE}/v1/users/me`), session.refresh()]);
    assert.equal(response.status, 200);
    assert.equal(server.count('POST', '/v1/sessions/refresh'), 1);
    assert.deepEqual(server.calls.filter((x) => x.path === '/v1/users/me').map((x) => x.authorization), ['Bearer access-1', 'Bearer access-2']);
  });

  test('a timer due for a pair another tab already rotated does not refresh again', async () => {
    const server = new FakeServer();
    const shared = fakeWebStorage();
    const c = clock();
    const timers: { fn: () => void; ms: number }[] = [];
    const b = tab(server, {
      now: c.now,
      autoRefresh: true,
      storage: webStorage(shared, { shared: true }),
      setTimeout: (fn, ms) => (timers.push({ fn, ms }), timers.length),
      clearTimeout: () => {},
    });
    const a = tab(server, { now: c.now, storage: webStorage(shared, { shared: true }) });
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    await a.refresh(); // refresh-2, refresh_at moved on (no channel: b was not told)
    b.refresh().catch(() => {}); // b adopts via its re-read and schedules
    await flush();
    const presented = server.refreshPresented.length;
    c.t += 100_000;
    await a.refresh(); // a rotates again behind b's back: b's timer is now early
    timers.at(-1)!.fn.call(null);
    await flush();
    assert.equal(server.refreshPresented.length, presented + 1, 'only a refreshed');
    assert.ok(timers.at(-1)!.ms > 0, 'b rescheduled for the moved refresh_at');
    b.dispose();
  });

  test('social sign-in: a provider error is thrown and leaves the address bar with the state', async () => {
    const server = new FakeServer();
    const pkce = fakeWebStorage();
    const session = tab(server, { pkceStorage: pkce });
    await session.socialSignInUrl('oidc', 'https://app.test/done');
    const replaced: (string | URL | null | undefined)[] = [];
    const history = { state: null, replaceState: (_d: unknown, _u: string, to?: string | URL | null) => void replaced.push(to) };
    await assert.rejects(
      session.completeSocialSignIn({ url: 'https://app.test/done?error=access_denied&error_description=no&state=s&tab=2', history }),
      /access_denied/,
    );
    assert.deepEqual(replaced, ['/done?tab=2']);
    assert.equal(pkce.getItem('portcullis.pkce'), null, 'the verifier is gone');
    assert.equal(server.count('POST', '/v1/oauth/token'), 0);
  });

  test('a 202 mfa_required is handed to the caller, who completes it', async () => {
    const server = new FakeServer();
    server.mfa = true;
    const session = tab(server);
    const first = await session.signIn({ email: 'ada@example.com', password: 'pw' });
    assert.deepEqual(first, { status: 'mfa-required', mfaToken: 'mfa-1', factors: [{ id: 'f1', type: 'totp' }], expiresIn: 300 });
    assert.equal(session.tokens, null, 'no pair yet');
    const second = await session.completeMfa({ mfa_token: 'mfa-1', code: '123456' });
    assert.equal(second.status, 'signed-in');
    assert.deepEqual(server.calls.at(-1)!.body, { mfa_token: 'mfa-1', code: '123456' });
    assert.equal(session.tokens!.access_token, 'access-1');
  });

  test('sign-out calls the service and forgets the pair in every tab', async () => {
    const server = new FakeServer();
    const channels = fakeChannels();
    const shared = fakeWebStorage();
    const a = tab(server, { channel: channels.open(), storage: webStorage(shared, { shared: true }) });
    const b = tab(server, { channel: channels.open(), storage: webStorage(shared, { shared: true }) });
    const events: SessionEvent[] = [];
    b.subscribe((e) => events.push(e));
    await a.signIn({ email: 'ada@example.com', password: 'pw' });
    await a.signOut();
    assert.equal(server.count('DELETE', '/v1/sessions/current'), 1);
    assert.equal(a.tokens, null);
    await flush();
    assert.equal(b.tokens, null);
    assert.deepEqual(events.map((e) => e.type), ['signed-in', 'signed-out']);
  });

  test('PKCE: a 43-character verifier and its S256 challenge', async () => {
    const verifier = createCodeVerifier();
    assert.match(verifier, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(createCodeVerifier(), verifier);
    const expected = createHash('sha256').update(verifier).digest('base64url');
    assert.equal(await codeChallengeS256(verifier), expected);
    // RFC 7636 appendix B
    assert.equal(
      await codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  test('social sign-in: authorize URL with S256, then the code leaves the address bar', async () => {
    const server = new FakeServer();
    const pkce = fakeWebStorage();
    const session = tab(server, { pkceStorage: pkce });
    const url = new URL(await session.socialSignInUrl('oidc', 'https://app.test/done'));
    assert.equal(url.origin + url.pathname, `${BASE}/v1/oauth/oidc/authorize`);
    assert.equal(url.searchParams.get('redirect_to'), 'https://app.test/done');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    const saved = JSON.parse(pkce.getItem('portcullis.pkce')!);
    assert.equal(
      url.searchParams.get('code_challenge'),
      createHash('sha256').update(saved.verifier).digest('base64url'),
    );
    assert.ok(!url.href.includes(saved.verifier), 'the verifier never leaves the tab');

    const replaced: (string | URL | null | undefined)[] = [];
    const history = { state: null, replaceState: (_d: unknown, _u: string, to?: string | URL | null) => void replaced.push(to) };
    const result = await session.completeSocialSignIn({ url: 'https://app.test/done?code=one-time&tab=2#top', history });
    assert.deepEqual(replaced, ['/done?tab=2#top']);
    assert.equal(result?.status, 'signed-in');
    const exchange = server.calls.find((c) => c.path === '/v1/oauth/token')!;
    assert.deepEqual(exchange.body, { code: 'one-time', code_verifier: saved.verifier });
    assert.equal(pkce.getItem('portcullis.pkce'), null, 'the verifier is used once');
    assert.equal(session.tokens!.access_token, 'access-1');

    // Without a code in the URL nothing happens.
    assert.equal(await session.completeSocialSignIn({ url: 'https://app.test/done', history }), null);
    // A code without a started flow is refused, and still leaves the address bar.
    await assert.rejects(session.completeSocialSignIn({ url: 'https://app.test/done?code=x', history }));
    assert.deepEqual(replaced.at(-1), '/done');
  });

  test('storage: memory forgets, sessionStorage and localStorage keep the pair', async () => {
    const server = new FakeServer();
    const area = fakeWebStorage();
    const first = tab(server, { storage: webStorage(area, { key: 'k' }) });
    await first.signIn({ email: 'ada@example.com', password: 'pw' });
    const reloaded = tab(server, { storage: webStorage(area, { key: 'k' }) });
    assert.equal(reloaded.tokens!.access_token, 'access-1');
    const memory = tab(server);
    await memory.signIn({ email: 'ada@example.com', password: 'pw' });
    assert.equal(tab(server).tokens, null, 'a new page with memory storage starts signed out');
    area.setItem('k', '{"not":"tokens"}');
    assert.equal(webStorage(area, { key: 'k' }).get(), null, 'garbage is ignored');
  });
});
