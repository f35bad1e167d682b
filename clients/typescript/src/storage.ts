// Where the token pair lives. See README.md ("Storage") for the risk of each.

/** The token pair as the session layer keeps it. */
export interface StoredTokens {
  access_token: string;
  refresh_token: string;
  /** Absolute expiry of the access token, ms since the epoch. */
  expires_at: number;
  /** When to refresh: a little before `expires_at`, ms since the epoch. */
  refresh_at: number;
  /** The Portcullis session these tokens belong to. */
  session_id: string;
}

/** A place for the pair. `shared` says whether other tabs read the same
 *  place synchronously (localStorage): then a tab re-reads it inside the
 *  refresh lock and sees another tab's rotation at once. */
export interface TokenStorage {
  readonly kind: string;
  readonly shared: boolean;
  /** True when the pair lives only in this page (memory): no other tab can
   *  hold it, so no token is ever put on the BroadcastChannel. Otherwise
   *  (web storage, default) a rotation is broadcast with the new pair, for a
   *  tab whose copy is behind (a duplicated tab's sessionStorage, or a
   *  localStorage write not yet visible in another renderer process). */
  readonly confined?: boolean;
  get(): StoredTokens | null;
  set(tokens: StoredTokens): void;
  clear(): void;
}

/** The subset of the Web Storage API used here. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Memory only: nothing survives a reload, nothing is left for another
 *  script to read after navigation. The default. */
export function memoryStorage(): TokenStorage {
  let tokens: StoredTokens | null = null;
  return {
    kind: 'memory',
    shared: false,
    confined: true,
    get: () => tokens,
    set: (t) => {
      tokens = t;
    },
    clear: () => {
      tokens = null;
    },
  };
}

function isStoredTokens(value: unknown): value is StoredTokens {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.access_token === 'string' &&
    typeof v.refresh_token === 'string' &&
    typeof v.expires_at === 'number' &&
    typeof v.refresh_at === 'number' &&
    typeof v.session_id === 'string'
  );
}

/** A Web Storage area under one key: `sessionStorage` (this tab, survives a
 *  reload) or `localStorage` (every tab of the origin, survives restarts). */
export function webStorage(
  area: WebStorageLike,
  options: { key?: string; kind?: string; shared?: boolean } = {},
): TokenStorage {
  const key = options.key ?? 'portcullis.tokens';
  return {
    kind: options.kind ?? 'web',
    shared: options.shared ?? false,
    confined: false,
    get() {
      const text = area.getItem(key);
      if (!text) return null;
      try {
        const value: unknown = JSON.parse(text);
        return isStoredTokens(value) ? value : null;
      } catch {
        return null;
      }
    },
    set(tokens) {
      area.setItem(key, JSON.stringify(tokens));
    },
    clear() {
      area.removeItem(key);
    },
  };
}

export type StorageChoice = 'memory' | 'sessionStorage' | 'localStorage';

/** The storage for a choice, with the browser's own areas. */
export function storageFor(choice: StorageChoice, key = 'portcullis.tokens'): TokenStorage {
  switch (choice) {
    case 'memory':
      return memoryStorage();
    case 'sessionStorage':
      return webStorage(globalThis.sessionStorage, { key, kind: 'sessionStorage', shared: false });
    case 'localStorage':
      return webStorage(globalThis.localStorage, { key, kind: 'localStorage', shared: true });
    default:
      throw new Error(`unknown storage choice: ${String(choice)}`);
  }
}
