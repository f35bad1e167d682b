// The hand-written session layer on top of the generated client: keeps the
// token pair, refreshes it shortly before expiry and once after a 401,
// coordinates refresh across the tabs of one origin, signs out everywhere
// when the refresh token is refused, and runs the social sign-in's PKCE.
//
// The central rule: Portcullis rotates refresh tokens and treats a rotated
// token presented again (outside a short grace window) as theft, revoking
// the whole session. So one refresh token is sent at most once: one request
// per tab (concurrent callers share it), one tab at a time (a Web Lock),
// and a tab that got the lock re-reads the pair first to see whether another
// tab already rotated it.

import { createClient, createConfig, type Client } from './generated/client/index.js';
import {
  completeMfaSignIn,
  confirmCode,
  exchangeSocialCode,
  passkeySignIn,
  refreshSession,
  signIn,
  signUp,
  stepUp,
  verifyFactor,
} from './generated/sdk.gen.js';
import type {
  AuthenticationVerifyRequest,
  ConfirmRequest,
  FactorActivated,
  FactorRef,
  MfaRequest,
  Problem,
  SignInRequest,
  SignUpRequest,
  StepUpRequest,
  TokenResponse,
  UserView,
  VerifyFactorRequest,
} from './generated/types.gen.js';
import { codeChallengeS256, createCodeVerifier } from './pkce.js';
import { memoryStorage, storageFor, type StorageChoice, type StoredTokens, type TokenStorage, type WebStorageLike } from './storage.js';

/** A problem+json answer (RFC 9457), thrown by the flows. */
export class PortcullisError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;
  constructor(status: number, problem?: Problem, message?: string) {
    super(message ?? problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.name = 'PortcullisError';
    this.status = status;
    this.problem = problem;
  }
}

/** The refresh token was refused: the pair is gone, in every tab. */
export class SignedOutError extends PortcullisError {
  constructor(status = 401, problem?: Problem) {
    super(status, problem, 'signed out');
    this.name = 'SignedOutError';
  }
}

/** What a sign-in path answers: signed in, or a second factor is needed
 *  (`202 {mfa_required, mfa_token, factors}`); complete the latter with
 *  `completeMfa({ mfa_token, code })`. */
export type SignInResult =
  | { status: 'signed-in'; user: UserView; sessionId: string; mfaEnrolmentRequired: boolean }
  | { status: 'mfa-required'; mfaToken: string; factors: FactorRef[]; expiresIn: number };

export type SessionEvent =
  | { type: 'signed-in'; sessionId: string }
  | { type: 'refreshed'; sessionId: string }
  | { type: 'signed-out'; reason: 'sign-out' | 'refused' | 'other-tab' };

/** The part of the Web Locks API used here (`navigator.locks`). */
export interface LockManagerLike {
  request<T>(
    name: string,
    options: { mode: 'exclusive'; ifAvailable?: boolean },
    callback: (lock: unknown) => Promise<T>,
  ): Promise<T>;
}

/** The part of BroadcastChannel used here. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  close(): void;
}

export interface HistoryLike {
  replaceState(data: unknown, unused: string, url?: string | URL | null): void;
  readonly state?: unknown;
}

// Only `rotated` carries a pair, and never from memory storage: a memory tab
// puts no token on the channel, where every page of the origin could read it.
type Message =
  | { type: 'rotated'; from: string; tokens: StoredTokens }
  | { type: 'released' }
  | { type: 'signed-in'; session_id: string }
  | { type: 'signed-out'; session_id: string };

export interface SessionOptions {
  /** Portcullis's base URL, e.g. `https://auth.example.com` (no trailing slash). */
  baseUrl: string;
  /** Where the pair lives: `'memory'` (default), `'sessionStorage'`,
   *  `'localStorage'`, or your own {@link TokenStorage}. */
  storage?: StorageChoice | TokenStorage;
  /** Names the lock, the channel and the storage keys (several apps on one origin). */
  name?: string;
  /** Refresh this long before the access token expires (at most a quarter of
   *  its lifetime). Default 60 s. */
  refreshMarginSeconds?: number;
  /** Refresh on a timer before expiry (default true); without it the pair is
   *  refreshed lazily, before the next call that needs it. */
  autoRefresh?: boolean;
  /** Injected for tests; default the globals. `null` switches one off. */
  fetch?: typeof fetch;
  locks?: LockManagerLike | null;
  channel?: ChannelLike | null;
  now?: () => number;
  /** Where the PKCE verifier waits during the provider round trip (default sessionStorage). */
  pkceStorage?: WebStorageLike;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

const REFUSED = new Set([400, 401]);

export class PortcullisSession {
  /** The generated client for calls that need the bearer token: pass it as
   *  `client` to any generated function (`listSessions({ client: session.client })`). */
  readonly client: Client;
  /** The generated client without the token (public endpoints). */
  readonly publicClient: Client;

  private readonly baseUrl: string;
  private readonly storage: TokenStorage;
  private readonly name: string;
  private readonly marginMs: number;
  private readonly autoRefresh: boolean;
  private readonly rawFetch: typeof fetch;
  private readonly locks: LockManagerLike | null;
  private readonly channel: ChannelLike | null;
  private readonly now: () => number;
  private readonly pkceStorage: WebStorageLike | undefined;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  /** Rotations announced by other tabs: old refresh token → its successor. */
  private readonly rotations = new Map<string, StoredTokens>();
  private refreshing: Promise<StoredTokens> | null = null;
  /** Lock releases other tabs announced, and who waits for the next one. */
  private releases = 0;
  private readonly onRelease = new Set<() => void>();
  private timer: unknown = null;
  private disposed = false;

  constructor(options: SessionOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.name = options.name ?? 'portcullis';
    const storage = options.storage ?? 'memory';
    this.storage = typeof storage === 'string' ? storageFor(storage, `${this.name}.tokens`) : storage;
    this.marginMs = (options.refreshMarginSeconds ?? 60) * 1000;
    this.autoRefresh = options.autoRefresh ?? true;
    const f = options.fetch ?? globalThis.fetch;
    this.rawFetch = (input, init) => f(input, init);
    const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
    this.locks = options.locks === undefined ? (nav?.locks ?? null) : options.locks;
    this.channel =
      options.channel === undefined
        ? typeof BroadcastChannel === 'function'
          ? (new BroadcastChannel(`${this.name}.session`) as unknown as ChannelLike)
          : null
        : options.channel;
    this.now = options.now ?? Date.now;
    this.pkceStorage = options.pkceStorage ?? (globalThis as { sessionStorage?: WebStorageLike }).sessionStorage;
    this.setTimer = options.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearTimer = options.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));

    this.publicClient = createClient(createConfig({ baseUrl: this.baseUrl, fetch: this.rawFetch }));
    this.client = createClient(
      createConfig({ baseUrl: this.baseUrl, fetch: (input, init) => this.fetch(input, init) }),
    );
    this.channel?.addEventListener('message', (event) => this.onMessage(event.data as Message));
    this.schedule();
  }

  // ---- state ---------------------------------------------------------------

  /** The current pair, or null when signed out. */
  get tokens(): StoredTokens | null {
    return this.storage.get();
  }

  get signedIn(): boolean {
    return this.storage.get() !== null;
  }

  get storageKind(): string {
    return this.storage.kind;
  }

  /** Subscribe to sign-in, refresh and sign-out (also those of other tabs). */
  subscribe(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stop the timer and leave the channel. */
  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.channel?.close();
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // a listener's failure is not the session's
      }
    }
  }

  private post(message: Message): void {
    try {
      this.channel?.postMessage(message);
    } catch {
      // a closed channel: the other tabs will find out at their next refresh
    }
  }

  private toStored(answer: TokenResponse): StoredTokens {
    const now = this.now();
    const lifetime = answer.expires_in * 1000;
    return {
      access_token: answer.access_token,
      refresh_token: answer.refresh_token,
      expires_at: now + lifetime,
      refresh_at: now + lifetime - Math.min(this.marginMs, lifetime / 4),
      session_id: answer.session.id,
    };
  }

  private adopt(answer: TokenResponse): StoredTokens {
    const tokens = this.toStored(answer);
    this.storage.set(tokens);
    this.post({ type: 'signed-in', session_id: tokens.session_id });
    this.schedule();
    this.emit({ type: 'signed-in', sessionId: tokens.session_id });
    return tokens;
  }

  private forget(reason: 'sign-out' | 'refused' | 'other-tab', tell = true): void {
    const current = this.storage.get();
    this.storage.clear();
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    if (!current) return;
    if (tell) this.post({ type: 'signed-out', session_id: current.session_id });
    this.emit({ type: 'signed-out', reason });
  }

  private onMessage(message: Message): void {
    if (!message || typeof message !== 'object') return;
    const current = this.storage.get();
    switch (message.type) {
      case 'released':
        this.releases += 1;
        for (const wake of this.onRelease) wake();
        break;
      case 'rotated':
        // A pair in this page's memory is never another tab's.
        if (this.storage.confined) break;
        // Remembered even when this tab holds another token: it may be the
        // one that this tab is about to present (a message that arrives
        // while this tab waits for the lock).
        this.rotations.set(message.from, message.tokens);
        if (this.rotations.size > 16) this.rotations.delete(this.rotations.keys().next().value!);
        if (current && current.refresh_token === message.from) {
          this.storage.set(message.tokens);
          this.schedule();
          this.emit({ type: 'refreshed', sessionId: message.tokens.session_id });
        }
        break;
      case 'signed-in':
        // Shared storage already has it; per-tab storage keeps its own session.
        if (this.storage.shared) {
          this.schedule();
          this.emit({ type: 'signed-in', sessionId: message.session_id });
        }
        break;
      case 'signed-out':
        if (!current || current.session_id === message.session_id) {
          if (current) this.storage.clear();
          if (this.timer !== null) this.clearTimer(this.timer);
          this.timer = null;
          this.emit({ type: 'signed-out', reason: 'other-tab' });
        }
        break;
    }
  }

  private schedule(): void {
    if (!this.autoRefresh || this.disposed) return;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const tokens = this.storage.get();
    if (!tokens) return;
    const delay = Math.max(0, tokens.refresh_at - this.now());
    this.timer = this.setTimer(() => {
      this.timer = null;
      const due = this.storage.get();
      if (!due) return;
      if (due.refresh_at > this.now()) return this.schedule();
      this.refresh().catch(() => {
        // refused: already signed out; transient: the next call retries
      });
    }, delay);
  }

  // ---- refresh -------------------------------------------------------------

  /** Rotates the pair now (or joins the rotation already under way in this
   *  tab, or takes the one another tab just made). Resolves with the new
   *  pair; rejects with {@link SignedOutError} when the refresh token was
   *  refused (the pair is then gone in every tab). */
  refresh(): Promise<StoredTokens> {
    const presented = this.storage.get();
    if (!presented) return Promise.reject(new SignedOutError());
    return this.refreshFrom(presented.refresh_token);
  }

  /** One refresh per tab at a time: concurrent callers share the request. */
  private refreshFrom(stale: string): Promise<StoredTokens> {
    // Join the rotation under way (a reissue that failed leaves the pair
    // as it was: then refresh after all).
    if (this.refreshing) {
      return this.refreshing.then((tokens) => (tokens.refresh_token === stale ? this.refreshFrom(stale) : tokens));
    }
    this.refreshing = this.withLock((waited) => this.refreshLocked(stale, waited)).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** Runs `body` under the refresh lock of every tab of the origin. When
   *  another tab held the lock first (it may have rotated the pair this tab
   *  is about to present), `body` gets the count of release messages seen
   *  before this tab asked; otherwise null. A holder announces its release
   *  on the channel before letting go, after its `rotated` message. */
  private async withLock<T>(body: (waitedSince: number | null) => Promise<T>): Promise<T> {
    const locks = this.locks;
    if (!locks) return body(null);
    const name = `${this.name}.refresh`;
    const announce = !this.storage.confined && this.channel !== null;
    const holding = async (waitedSince: number | null): Promise<T> => {
      try {
        return await body(announce ? waitedSince : null);
      } finally {
        if (announce) this.post({ type: 'released' });
      }
    };
    const asked = this.releases;
    const first = await locks.request<{ value: T } | null>(name, { mode: 'exclusive', ifAvailable: true }, async (lock) =>
      lock === null ? null : { value: await holding(null) },
    );
    if (first) return first.value;
    return locks.request(name, { mode: 'exclusive' }, () => holding(asked));
  }

  /** Resolves once a release message beyond `seen` arrived, or after `ms`. */
  private releaseAfter(seen: number, ms: number): Promise<void> {
    return new Promise((done) => {
      const finish = () => {
        this.onRelease.delete(check);
        globalThis.clearTimeout(timeout);
        done();
      };
      const check = () => {
        if (this.releases > seen) finish();
      };
      const timeout = globalThis.setTimeout(finish, ms);
      this.onRelease.add(check);
      check();
    });
  }

  /** Inside the lock: re-read, then refresh only if nobody else has. */
  private async refreshLocked(stale: string, waitedSince: number | null): Promise<StoredTokens> {
    if (waitedSince !== null && this.storage.get()?.refresh_token === stale && !this.rotations.has(stale)) {
      // The tab that held the lock before may have rotated this token, and
      // its localStorage write or broadcast can trail the lock's hand-over
      // (Chromium shares localStorage between renderer processes
      // asynchronously): wait for its release message, posted after its
      // rotation (one sender's messages arrive in order), for at most a
      // second (a tab closed while holding the lock never sends it).
      // Should both still miss, the server's reuse window answers the same
      // successor.
      await this.releaseAfter(waitedSince, 1000);
    }
    let current = this.storage.get();
    const announced = this.rotations.get(stale);
    if (current && current.refresh_token === stale && announced) {
      // Another tab rotated our token and told us before we got the lock.
      this.storage.set(announced);
      current = announced;
    }
    if (!current) throw new SignedOutError();
    if (current.refresh_token !== stale) {
      // Rotated meanwhile (another tab, or an earlier call in this one).
      this.schedule();
      return current;
    }
    const result = await refreshSession({
      client: this.publicClient,
      body: { refresh_token: current.refresh_token },
    });
    const response = result.response as Response | undefined;
    if (response && response.status === 200 && result.data) {
      return this.rotated(stale, this.toStored(result.data));
    }
    if (response && REFUSED.has(response.status)) {
      // Refused (used, expired, revoked): this pair is dead everywhere.
      if (this.storage.get()?.refresh_token === stale) this.forget('refused');
      throw new SignedOutError(response.status, result.error as Problem);
    }
    // 429, 5xx, network: keep the pair, the caller may try again.
    throw new PortcullisError(response?.status ?? 0, result.error as Problem, 'refresh failed');
  }

  /** Stores the successor of the pair whose refresh token was `stale`, but
   *  only if that pair is still the one kept: a sign-out, a new sign-in or a
   *  reissue (step-up) while the request was out must not be undone by its
   *  late answer. */
  private rotated(stale: string, tokens: StoredTokens): StoredTokens {
    const now = this.storage.get();
    if (!now) throw new SignedOutError();
    if (now.refresh_token !== stale) return now;
    this.storage.set(tokens);
    if (!this.storage.confined) this.post({ type: 'rotated', from: stale, tokens });
    this.schedule();
    this.emit({ type: 'refreshed', sessionId: tokens.session_id });
    return tokens;
  }

  /** Calls an endpoint that replaces the session's pair (step-up, factor
   *  activation): Portcullis retires every earlier refresh token of the
   *  session there, so presenting the kept one afterwards would count as
   *  reuse and end the session. Runs under the refresh lock (no refresh of
   *  the old token may overtake it, in this tab or another) and adopts the
   *  new pair. */
  private async reissue<T>(
    call: (headers: { authorization: string }) => Promise<{ data?: T; error?: unknown; response?: Response }>,
    expected: number,
    pairOf: (data: T) => TokenResponse,
  ): Promise<{ data: T; tokens: StoredTokens }> {
    // Refresh first when due: not inside the lock, which is not re-entrant.
    if (!(await this.accessToken())) throw new SignedOutError();
    const run = async (): Promise<{ data: T; tokens: StoredTokens }> => {
      const before = this.storage.get();
      if (!before) throw new SignedOutError();
      const result = await call({ authorization: `Bearer ${before.access_token}` });
      const status = result.response?.status ?? 0;
      if (status !== expected || !result.data) throw new PortcullisError(status, result.error as Problem);
      const tokens = this.rotated(before.refresh_token, this.toStored(pairOf(result.data)));
      return { data: result.data, tokens };
    };
    while (this.refreshing) await this.refreshing.catch(() => undefined);
    const done = this.withLock(run);
    // Refreshes started in this tab meanwhile wait for it and take its pair.
    const gate: Promise<StoredTokens> = done
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        if (this.refreshing === gate) this.refreshing = null;
        const tokens = this.storage.get();
        if (!tokens) throw new SignedOutError();
        return tokens;
      });
    gate.catch(() => undefined);
    this.refreshing = gate;
    return done;
  }

  /** `POST /v1/sessions/current/step-up` (after a step-up 401): raises the
   *  session with a second factor and adopts the new pair it answers. */
  async stepUp(body: StepUpRequest): Promise<StoredTokens> {
    const { tokens } = await this.reissue(
      (headers) => stepUp({ client: this.publicClient, body, headers }),
      200,
      (data) => data,
    );
    return tokens;
  }

  /** `POST /v1/users/me/factors/{id}/verify`: activates an authenticator
   *  app, adopts the session's new `aal2` pair, and resolves with the factor
   *  and (with the first factor) the recovery codes, shown only here. */
  async verifyFactor(factorId: string, body: VerifyFactorRequest): Promise<FactorActivated> {
    const { data } = await this.reissue(
      (headers) => verifyFactor({ client: this.publicClient, path: { id: factorId }, body, headers }),
      200,
      (answer) => answer.tokens,
    );
    return data;
  }

  /** The access token, refreshed first when due; null when signed out. */
  async accessToken(): Promise<string | null> {
    const tokens = this.storage.get();
    if (!tokens) return null;
    if (this.now() < tokens.refresh_at) return tokens.access_token;
    try {
      return (await this.refreshFrom(tokens.refresh_token)).access_token;
    } catch (error) {
      if (error instanceof SignedOutError) return null;
      // Transient: the current token may still be valid until expires_at.
      if (this.now() < tokens.expires_at) return tokens.access_token;
      throw error;
    }
  }

  /** `fetch` with the bearer token: refreshes first when due; after a 401
   *  refreshes once and retries once. A step-up 401 (RFC 9470
   *  `insufficient_user_authentication`) is returned as it is. */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    const send = (token: string | null) => {
      const attempt = request.clone();
      const headers = new Headers(attempt.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      return this.rawFetch(new Request(attempt, { headers }));
    };
    const token = await this.accessToken();
    const first = await send(token);
    if (first.status !== 401 || token === null) return first;
    if (/insufficient_user_authentication/.test(first.headers.get('www-authenticate') ?? '')) return first;
    const current = this.storage.get();
    if (!current) return first;
    let next: StoredTokens;
    try {
      next =
        current.access_token !== token
          ? current // someone refreshed while this request was out
          : await this.refreshFrom(current.refresh_token);
    } catch {
      return first;
    }
    return send(next.access_token);
  }

  // ---- sign-in paths ---------------------------------------------------------

  private signInResult(result: { data?: unknown; error?: unknown; response?: Response }): SignInResult {
    const status = result.response?.status ?? 0;
    if (status === 201) {
      const answer = result.data as TokenResponse;
      const tokens = this.adopt(answer);
      return {
        status: 'signed-in',
        user: answer.user,
        sessionId: tokens.session_id,
        mfaEnrolmentRequired: answer.mfa_enrolment_required,
      };
    }
    if (status === 202) {
      const mfa = result.data as { mfa_token: string; factors: FactorRef[]; expires_in: number };
      return { status: 'mfa-required', mfaToken: mfa.mfa_token, factors: mfa.factors, expiresIn: mfa.expires_in };
    }
    throw new PortcullisError(status, result.error as Problem);
  }

  /** `POST /v1/users`: 202 whatever the address (the code is mailed). */
  async signUp(body: SignUpRequest): Promise<void> {
    const result = await signUp({ client: this.publicClient, body });
    if (result.response?.status !== 202) throw new PortcullisError(result.response?.status ?? 0, result.error as Problem);
  }

  /** `POST /v1/email-verification-codes/confirm` for `verify_email` or
   *  `sign_in`: signs in (or asks for the second factor). */
  async confirm(body: ConfirmRequest): Promise<SignInResult> {
    return this.signInResult(await confirmCode({ client: this.publicClient, body }));
  }

  /** `POST /v1/sessions`: password (or emailed code) sign-in. */
  async signIn(body: SignInRequest): Promise<SignInResult> {
    return this.signInResult(await signIn({ client: this.publicClient, body }));
  }

  /** `POST /v1/passkeys/authentication/verify`: passwordless sign-in with a passkey. */
  async signInWithPasskey(body: AuthenticationVerifyRequest): Promise<SignInResult> {
    return this.signInResult(await passkeySignIn({ client: this.publicClient, body }));
  }

  /** `POST /v1/sessions/mfa`: the second step after a 202. */
  async completeMfa(body: MfaRequest): Promise<SignInResult> {
    return this.signInResult(await completeMfaSignIn({ client: this.publicClient, body }));
  }

  /** `DELETE /v1/sessions/current`, then the pair is forgotten in every tab
   *  (also when the call fails: signing out locally always works). */
  async signOut(): Promise<void> {
    if (!this.storage.get()) return;
    try {
      await this.fetch(`${this.baseUrl}/v1/sessions/current`, { method: 'DELETE' });
    } finally {
      this.forget('sign-out');
    }
  }

  /** Forget the pair here and in every tab, without calling the service
   *  (e.g. after revoking the current session by id). */
  forgetLocally(): void {
    this.forget('sign-out');
  }

  // ---- social sign-in --------------------------------------------------------

  private get pkceKey(): string {
    return `${this.name}.pkce`;
  }

  /** The authorize URL for a social sign-in, with a fresh PKCE pair whose
   *  verifier waits in sessionStorage for the round trip. Send the browser
   *  there: `location.assign(await session.socialSignInUrl('google', returnUrl))`. */
  async socialSignInUrl(provider: string, redirectTo: string): Promise<string> {
    if (!this.pkceStorage) throw new Error('no sessionStorage for the PKCE verifier');
    const verifier = createCodeVerifier();
    const challenge = await codeChallengeS256(verifier);
    this.pkceStorage.setItem(this.pkceKey, JSON.stringify({ verifier, provider, redirect_to: redirectTo }));
    const query = new URLSearchParams({
      redirect_to: redirectTo,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    return `${this.baseUrl}/v1/oauth/${encodeURIComponent(provider)}/authorize?${query}`;
  }

  /** On the page the provider flow returns to: takes `code` (or `error`)
   *  out of the address bar (history.replaceState), then exchanges the code
   *  with the stored verifier at `POST /v1/oauth/token`. Resolves with null
   *  when the URL carries no code. */
  async completeSocialSignIn(
    options: { url?: string; history?: HistoryLike } = {},
  ): Promise<SignInResult | null> {
    const g = globalThis as { location?: { href: string }; history?: HistoryLike };
    const href = options.url ?? g.location?.href;
    const history = options.history ?? g.history;
    if (!href) return null;
    const url = new URL(href);
    const code = url.searchParams.get('code');
    const error = url.searchParams.get('error');
    if (!code && !error) return null;
    for (const key of ['code', 'error', 'error_description', 'state']) url.searchParams.delete(key);
    history?.replaceState(history.state ?? null, '', url.pathname + url.search + url.hash);

    const saved = this.pkceStorage?.getItem(this.pkceKey);
    this.pkceStorage?.removeItem(this.pkceKey);
    if (error) throw new PortcullisError(400, undefined, `the provider answered ${error}`);
    if (!saved) throw new PortcullisError(400, undefined, 'no sign-in was started in this tab');
    const { verifier } = JSON.parse(saved) as { verifier: string };
    return this.signInResult(
      await exchangeSocialCode({ client: this.publicClient, body: { code: code!, code_verifier: verifier } }),
    );
  }
}

/** A session with memory storage unless told otherwise. */
export function createSession(options: SessionOptions): PortcullisSession {
  return new PortcullisSession({ storage: memoryStorage(), ...options });
}
