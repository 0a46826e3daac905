/*
 * /scim/v2's own limits, on a Fastify app with the routes and a real store (embedded SQLite in a temp dir):
 * each token's request rate (429 with Retry-After, other tokens unaffected), and a change applying the
 * store's control events at once.
 */
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test/fixtures/tempDirs';
import { openStore } from '../RelayServer';
import { InMemoryRateLimiter } from '../RateLimiter';
import { scimTokenHash } from '../scim/scimTokens';
import type { SqliteRelayStore } from '../storage/sqlite/SqliteRelayStore';
import { registerScimRoutes } from './scimRoutes';

describe('/scim/v2 limits', () => {
  const dir = useTempDirs();
  let store: SqliteRelayStore;
  let changes: number;
  let app: ReturnType<typeof Fastify>;

  beforeEach(async () => {
    store = openStore(dir());
    changes = 0;
    for (const name of ['entra', 'okta']) await store.scim.createToken(name, scimTokenHash(`token-${name}`), Date.now(), []);
    app = Fastify();
    await registerScimRoutes(app, {
      store, now: () => Date.now(), rateLimiter: new InMemoryRateLimiter(), afterChange: () => changes++, address: () => '192.0.2.7', rate: { amount: 3, windowMs: 60_000 },
    });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
  });

  const get = (token: string) => app.inject({ method: 'GET', url: '/scim/v2/Users?count=0', headers: { authorization: `Bearer ${token}` } });

  it('holds each token to its own rate, with a SCIM 429 and Retry-After', async () => {
    for (let i = 0; i < 3; i++) expect((await get('token-entra')).statusCode).toBe(200);
    const limited = await get('token-entra');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.headers['content-type']).toContain('application/scim+json');
    expect(limited.json()).toMatchObject({ status: '429', scimType: 'tooMany' });
    expect((await get('token-okta')).statusCode).toBe(200);
    expect(changes).toBe(0);
  });

  it('applies control events after a change, not after a read', async () => {
    const created = await app.inject({
      method: 'POST', url: '/scim/v2/Users', headers: { authorization: 'Bearer token-okta', 'content-type': 'application/scim+json' },
      payload: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'a@hospital.example', externalId: 'a' }),
    });
    expect(created.statusCode).toBe(201);
    expect(changes).toBe(1);
    expect(created.headers.location).toMatch(/^http:\/\/localhost(:\d+)?\/scim\/v2\/Users\/[0-9a-f-]{36}$/);
  });
});
