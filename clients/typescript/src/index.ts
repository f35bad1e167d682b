// @portcullis/client: the generated request functions and types, plus the
// session layer (src/session.ts) a browser app needs on top of them.
export * from './generated/index.js';
export { createClient, createConfig, type Client } from './generated/client/index.js';
export * from './session.js';
export * from './storage.js';
export * from './pkce.js';
